//! Every value of a resource that reaches a script on the host, and what it
//! may hold: one rule per kind of value, checked in one place.
//!
//! A shell drops NUL bytes (`/tmp/x/vic\0tim` would become `/tmp/x/victim`),
//! a line break splits an apt source or a crontab line, and an owner like
//! `--reference=/some/file` is an option to `chown`. So, before any host is
//! touched:
//!
//! * literal values are checked when the recipes are validated
//!   ([`check_literal`]),
//! * templated values are checked once rendered: with the host's variables
//!   when its resources are expanded (before any connection), and again with
//!   its facts when it is planned ([`check_rendered`]).
//!
//! File contents are not values: they travel as data (base64) and may hold
//! any byte.

use std::borrow::Cow;

use super::{Kind, Resource};
use crate::diagnostic::{Diag, Place};
use crate::recipe::{Location, Text};

/// What a value is on the host, which decides what it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// An absolute path: it starts with `/` (so no command can read it as
    /// an option), and holds any character but NUL (paths may hold spaces,
    /// quotes, line breaks; they reach the host byte for byte).
    Path,
    /// A symlink's target: a path, absolute or relative, any character but
    /// NUL.
    Target,
    /// Shell text (a command, an environment value): any character but NUL.
    Text,
    /// One line (a crontab line, a kernel parameter's value, an authorized
    /// key): no line break, no control character but tab.
    Line,
    /// One word (a URI, an apt suite or component, a sha256): no
    /// whitespace, no control character.
    Word,
    /// A user or group: a name as the `user` and `group` resources take it
    /// (lowercase letters, digits, `_` and `-`, starting with a letter or
    /// `_`), or a numeric id.
    Account,
    /// The name of a resource of this type, by the type's own rule.
    Name(Kind),
}

/// One value of a resource, as written.
#[derive(Debug, Clone)]
pub struct Field<'r> {
    /// How it is called in messages: "`owner`", "an authorized key".
    pub what: Cow<'static, str>,
    /// The text as written (may be a template).
    pub text: Cow<'r, str>,
    /// Where it is written.
    pub at: Location,
    /// What it may hold.
    pub holds: Holds,
}

impl Field<'_> {
    /// True when the text is a template, rendered per host.
    pub fn templated(&self) -> bool {
        self.text.contains("{{")
    }
}

/// A value of a field as written.
pub fn field<'r>(what: &'static str, text: &'r Text, holds: Holds) -> Field<'r> {
    Field {
        what: Cow::Borrowed(what),
        text: Cow::Borrowed(&text.value),
        at: text.referenced,
        holds,
    }
}

/// The value of an optional field, when it is given.
pub fn optional<'r>(what: &'static str, text: &'r Option<Text>, holds: Holds) -> Option<Field<'r>> {
    text.as_ref().map(|text| field(what, text, holds))
}

/// `owner` and `group` of a path: a user and a group, or ids.
pub fn owner_and_group<'r>(owner: &'r Option<Text>, group: &'r Option<Text>) -> Vec<Field<'r>> {
    [
        optional("`owner`", owner, Holds::Account),
        optional("`group`", group, Holds::Account),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What is wrong with `value` for a value that `holds` this, in words:
/// (message, label, help).
pub fn problem(what: &str, holds: Holds, value: &str) -> Option<(String, String, String)> {
    let nul = || {
        (
            format!("{what} holds a NUL byte"),
            "a NUL byte".to_string(),
            "no path, name or argument on a host can hold one (the shell would drop it, and the value would name something else); remove it".to_string(),
        )
    };
    let control = |c: char| {
        (
            format!(
                "{what} holds the control character {}",
                crate::output::shown(&c.to_string())
            ),
            "a control character".to_string(),
            "it can never be meant here; remove it".to_string(),
        )
    };
    let one_line = || {
        (
            format!("{what} must be one line"),
            "several lines".to_string(),
            "remove the line breaks (in YAML, a `|` block keeps them; use a plain or quoted string)".to_string(),
        )
    };
    if value.contains('\0') {
        return Some(nul());
    }
    match holds {
        Holds::Target | Holds::Text => None,
        Holds::Path => (!value.starts_with('/')).then(|| {
            (
                format!("'{value}' is not an absolute path"),
                "relative path".to_string(),
                "paths on the host start with /".to_string(),
            )
        }),
        Holds::Line => {
            if value.contains(['\n', '\r']) {
                return Some(one_line());
            }
            value.chars().find(|c| c.is_control() && *c != '\t').map(control)
        }
        Holds::Word => {
            if value.contains(['\n', '\r']) {
                return Some(one_line());
            }
            if let Some(c) = value.chars().find(|c| c.is_control()) {
                return Some(control(c));
            }
            value.contains(char::is_whitespace).then(|| {
                (
                    format!("{what} cannot hold spaces: '{value}'"),
                    "a space".to_string(),
                    "write it as one word".to_string(),
                )
            })
        }
        Holds::Account => (!valid_account(value)).then(|| {
            (
                format!("invalid user or group name '{value}' in {what}"),
                "not a user or group".to_string(),
                "names are lowercase letters, digits, _ and -, starting with a letter or _ (as the user and group resources take them), or a numeric id".to_string(),
            )
        }),
        Holds::Name(kind) => {
            let rule = kind.name_rule()?;
            (!(rule.valid)(value)).then(|| {
                (
                    format!("invalid {} '{value}'", rule.noun),
                    rule.label.to_string(),
                    rule.help.to_string(),
                )
            })
        }
    }
}

/// True for a user or group name that useradd accepts everywhere
/// (`[a-z_][a-z0-9_-]*[$]?`, at most 32 characters).
pub fn valid_account_name(name: &str) -> bool {
    let body = name.strip_suffix('$').unwrap_or(name);
    !body.is_empty()
        && name.len() <= 32
        && body.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// True for a user or group as `chown`, `chgrp`, `su` and `crontab` take it
/// without surprise: a name like the user resource's, or a numeric id.
pub fn valid_account(value: &str) -> bool {
    valid_account_name(value)
        || (!value.is_empty() && value.len() <= 10 && value.chars().all(|c| c.is_ascii_digit()))
}

fn diag(place: Place, what: &str, holds: Holds, value: &str) -> Option<Diag> {
    let (message, label, help) = problem(what, holds, value)?;
    Some(Diag::at(place, message).label(label).help(help))
}

/// Problems with the values of `resource` that are written as they are
/// (not templates), its name included, at their places. `at` turns a
/// location into a place of the recipe.
pub fn check_literal(resource: &Resource, at: &dyn Fn(Location) -> Place) -> Vec<Diag> {
    let mut out = Vec::new();
    if let Some(kind) = resource.kind() {
        for name in resource.name.value.items() {
            if !name.contains("{{")
                && let Some(d) = diag(
                    at(resource.name.referenced),
                    kind.name_what(),
                    kind.name_holds(),
                    name,
                )
            {
                out.push(d);
            }
        }
    }
    for field in super::values(resource) {
        if !field.templated()
            && let Some(d) = diag(at(field.at), &field.what, field.holds, &field.text)
        {
            out.push(d);
        }
    }
    out
}

/// The first problem with the templated values of `resource` once
/// rendered by `render`, which gives None for a value it cannot render
/// (that error is reported where the value is used). The message says
/// what the value became.
pub fn check_rendered(
    resource: &Resource,
    at: &dyn Fn(Location) -> Place,
    render: &dyn Fn(&str, Location) -> Option<String>,
) -> Result<(), Diag> {
    for field in super::values(resource).into_iter().filter(Field::templated) {
        let Some(value) = render(&field.text, field.at) else {
            continue;
        };
        if let Some(d) = diag(at(field.at), &field.what, field.holds, &value) {
            return Err(d.also(format!(
                "it is a template; rendered, it is '{}'",
                crate::output::shown(&value)
            )));
        }
    }
    Ok(())
}

/// The problem with a rendered name of a resource of type `kind`.
pub fn check_name(kind: Kind, name: &str, place: Place) -> Result<(), Diag> {
    match diag(place, kind.name_what(), kind.name_holds(), name) {
        Some(d) => Err(d.also(format!(
            "the name is a template; rendered, it is '{}'",
            crate::output::shown(name)
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_in_every_kind_of_value() {
        for holds in [
            Holds::Path,
            Holds::Target,
            Holds::Text,
            Holds::Line,
            Holds::Word,
            Holds::Account,
            Holds::Name(Kind::Package),
        ] {
            assert!(problem("x", holds, "a\0b").is_some(), "{holds:?}");
        }
    }

    #[test]
    fn paths_and_text_take_anything_else() {
        for value in ["/srv/a b", "/tmp/x\ny", "/it's $(x)", "/\t\r\x1b"] {
            assert_eq!(problem("x", Holds::Path, value), None);
            assert_eq!(problem("x", Holds::Target, value), None);
            assert_eq!(problem("x", Holds::Text, value), None);
        }
        assert!(problem("x", Holds::Path, "-rf").is_some());
        assert_eq!(problem("x", Holds::Target, "../releases/v1"), None);
    }

    #[test]
    fn lines_and_words_take_no_line_break() {
        assert_eq!(problem("x", Holds::Line, "0 3 * * *\tbackup"), None);
        assert!(
            problem("x", Holds::Line, "a\nb")
                .unwrap()
                .0
                .contains("one line")
        );
        assert!(
            problem("x", Holds::Line, "a\rb")
                .unwrap()
                .0
                .contains("one line")
        );
        assert!(problem("x", Holds::Line, "a\x1bb").is_some());
        assert_eq!(
            problem("x", Holds::Word, "https://deb.example.org/debian"),
            None
        );
        assert!(problem("x", Holds::Word, "main\ndeb http://evil/ x").is_some());
        assert!(problem("x", Holds::Word, "main contrib").is_some());
    }

    #[test]
    fn accounts_are_names_or_ids() {
        for ok in ["root", "www-data", "_apt", "0", "1000", "nobody$"] {
            assert!(valid_account(ok), "{ok}");
        }
        for bad in [
            "--reference=/etc/shadow",
            "-1",
            "",
            "Root",
            "a b",
            "a:b",
            "1e3",
        ] {
            assert!(!valid_account(bad), "{bad}");
        }
    }
}
