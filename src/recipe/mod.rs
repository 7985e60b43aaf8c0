//! The typed model of recipes and resources: pure data, as the user wrote it.
//!
//! A recipe is a YAML file with optional `vars`, `include`, `resources` and
//! `handlers`. A resource is a mapping whose first key is its type and whose
//! value is its name (the thing it manages):
//!
//! ```yaml
//! - file: /etc/motd
//!   content: "Welcome to {{host.name}}\n"
//!   mode: "0644"
//! ```
//!
//! Every value keeps its place in the file ([`Spanned`]) so that later checks
//! can point at it.

mod de;
pub mod schema;
pub mod spec;

pub use serde_saphyr::{Location, Spanned};
pub use spec::*;

use serde::Deserialize;
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

/// A recipe file as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Default values for variables, overridden by group, host and command-line vars.
    #[serde(default, deserialize_with = "de::null_as_default")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub vars: Vars,
    /// Other recipes whose resources come first.
    #[serde(default, deserialize_with = "de::null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub include: Vec<Text>,
    /// What the host must have, in order.
    #[serde(default, deserialize_with = "de::null_as_default")]
    #[schemars(with = "Option<Vec<Resource>>")]
    pub resources: Vec<Spanned<Resource>>,
    /// `command` resources that run only when notified, once, at the end.
    #[serde(default, deserialize_with = "de::null_as_default")]
    #[schemars(with = "Option<Vec<Resource>>")]
    pub handlers: Vec<Spanned<Resource>>,
}

/// One resource: its type, its name, the fields common to every type, and the
/// fields of its type.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The type key as written (`file`, `package`, ...), with its place.
    pub kind: Text,
    /// The resource's name: the thing it manages.
    pub name: Spanned<Name>,
    /// `when`, `notify`, `tags`, `name`.
    pub common: Common,
    /// The type-specific fields; `Unknown` when the type key is not a known type.
    pub spec: Spec,
}

impl Resource {
    /// The resource's type, if it is a known one.
    pub fn kind(&self) -> Option<Kind> {
        self.spec.kind()
    }
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
}

/// The names of the common fields, as the user writes them.
pub const COMMON_FIELDS: &[&str] = &["when", "notify", "tags", "name"];

/// A condition on a resource.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// Every key (a fact or variable) must equal its value: `when: { os_family: debian }`.
    Match(Map<String, Value>),
    /// A handlebars expression that must render to `true`: `when: "{{#if tls}}true{{/if}}"`.
    Expr(String),
}
