//! The words recipes are written in: values that keep their place in the
//! file ([`Spanned`], [`Text`]), variables ([`Vars`]) and the one rule for
//! their names, a resource's name ([`Name`]), the fields every resource
//! takes ([`Common`], [`When`]), and the values many types share
//! ([`Presence`], [`Mode`]).
//!
//! A recipe is a YAML file with optional `vars`, `include`, `resources` and
//! `handlers` ([`crate::config::Recipe`]). A resource is a mapping whose first
//! key is its type and whose value is its name (the thing it manages):
//!
//! ```yaml
//! - file: /etc/motd
//!   content: "Welcome to {{host.name}}\n"
//!   mode: "0644"
//! ```
//!
//! Its shape comes from its type ([`crate::resource`]); every value keeps its
//! place in the file so that later checks can point at it.

pub(crate) mod de;
pub mod schema;
pub mod spec;

pub use serde_saphyr::{Location, Spanned};
pub use spec::*;

use serde::Deserialize;

use crate::diagnostic::{Diag, Place};
use serde_json::{Map, Value};

/// A string with its place in the file.
pub type Text = Spanned<String>;

/// Variables as written: each name with its place, and the values (read
/// through [`std::ops::Deref`] as a map).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars {
    /// Name → value.
    pub values: Map<String, Value>,
    /// Every name with its place, in order.
    pub names: Vec<Text>,
}

impl Vars {
    /// A problem for every name that breaks [the rule for names](var_name_problem),
    /// at its place (`at` turns a location into a place of the file).
    pub fn name_problems(&self, at: &dyn Fn(Location) -> Place) -> Vec<Diag> {
        self.names
            .iter()
            .filter_map(|name| {
                let (message, help) = var_name_problem(&name.value)?;
                Some(
                    Diag::at(at(name.referenced), message)
                        .label("this variable")
                        .help(help),
                )
            })
            .collect()
    }
}

impl std::ops::Deref for Vars {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        &self.values
    }
}

impl<'de> Deserialize<'de> for Vars {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VarsVisitor;
        impl<'de> serde::de::Visitor<'de> for VarsVisitor {
            type Value = Vars;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of variable names to values")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Vars, M::Error> {
                let mut vars = Vars::default();
                while let Some(name) = map.next_key::<Text>()? {
                    let value = map.next_value::<Value>()?;
                    vars.values.insert(name.value.clone(), value);
                    vars.names.push(name);
                }
                Ok(vars)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Vars, E> {
                Ok(Vars::default())
            }
        }
        deserializer.deserialize_map(VarsVisitor)
    }
}

/// Names the template context uses for itself.
pub const RESERVED_VARS: &[&str] = &["host", "facts"];

/// What is wrong with a variable name, if anything: (message, help). The one
/// rule for names in recipes, redgreen.yml and `--var`: letters, digits, `_`
/// and `-`, starting with a letter or `_` (what a template can name as
/// `{{name}}`), and not one of the [`RESERVED_VARS`].
pub fn var_name_problem(name: &str) -> Option<(String, String)> {
    let shown = crate::output::shown(name);
    if name.is_empty() {
        return Some((
            "a variable name is empty".into(),
            "name it with letters, digits, _ and -".into(),
        ));
    }
    if RESERVED_VARS.contains(&name) {
        return Some((
            format!("the variable name '{shown}' is reserved"),
            "templates see `host` and `facts` as objects redgreen fills in; rename the variable"
                .into(),
        ));
    }
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (!valid).then(|| {
        (
            format!("'{shown}' is not a valid variable name"),
            "variable names are letters, digits, _ and -, starting with a letter or _ (a template names them as {{name}}; a dot there means a field of a variable)".into(),
        )
    })
}

/// The value of the type key: one name, or a list (the list form of `package`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// `file: /etc/motd`
    One(String),
    /// `package: [curl, git]`
    List(Vec<String>),
}

impl Name {
    /// The names, one or many.
    pub fn items(&self) -> Vec<&str> {
        match self {
            Name::One(name) => vec![name.as_str()],
            Name::List(names) => names.iter().map(String::as_str).collect(),
        }
    }

    /// The name as shown in output.
    pub fn display(&self) -> String {
        match self {
            Name::One(name) => name.clone(),
            Name::List(names) => names.join(", "),
        }
    }
}

/// Fields allowed on every resource.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// Apply only when this holds.
    pub when: Option<Spanned<When>>,
    /// Handlers to run, once, at the end, if this resource changed.
    pub notify: Vec<Text>,
    /// Labels for `--tags`.
    pub tags: Vec<Text>,
    /// A label for output.
    pub label: Option<Text>,
    /// Why a removal is wanted (required on every removal: `state: absent`).
    pub reason: Option<Text>,
    /// A removal is refused when the thing was used more recently than
    /// this (`7d`, `12h`).
    pub unused_for: Option<Text>,
    /// Features (a feature file, a scenario's name or a `@tag`) that must
    /// pass on the host, after everything else of the converge is applied,
    /// before this removal runs (expand → verify → contract).
    pub after: Vec<Text>,
}

/// The names of the common fields, as the user writes them.
pub const COMMON_FIELDS: &[&str] = &[
    "when",
    "notify",
    "tags",
    "name",
    "reason",
    "unused_for",
    "after",
];

/// A span of time as written in `unused_for`: a whole number and a unit
/// (`s`, `m`, `h`, `d`, `w`): `7d`, `12h`, `2w`. None when it is not one.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    if number == 0 {
        return None;
    }
    Some(std::time::Duration::from_secs(number.checked_mul(seconds)?))
}

/// A condition on a resource.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// Every key (a fact or variable) must equal its value: `when: { os_family: debian }`.
    Match(Map<String, Value>),
    /// A handlebars expression that must render to `true`: `when: "{{#if tls}}true{{/if}}"`.
    Expr(String),
}
