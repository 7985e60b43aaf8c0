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

use serde_json::Value;

use crate::diagnostic::{Diag, Place};
use crate::recipe::{Kind, Location, Resource, Spec, Text};

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

fn field<'r>(what: &'static str, text: &'r Text, holds: Holds) -> Field<'r> {
    Field {
        what: Cow::Borrowed(what),
        text: Cow::Borrowed(&text.value),
        at: text.referenced,
        holds,
    }
}

/// What a resource's name is on the host.
pub fn name_holds(kind: Kind) -> Holds {
    match kind {
        Kind::File | Kind::Template | Kind::Directory | Kind::Link | Kind::Download => Holds::Path,
        Kind::Line | Kind::Cron => Holds::Line,
        Kind::Command => Holds::Text,
        Kind::Package
        | Kind::User
        | Kind::Group
        | Kind::Service
        | Kind::Sysctl
        | Kind::AptRepository => Holds::Name(kind),
    }
}

/// How a resource's name is called in messages.
fn name_what(kind: Kind) -> &'static str {
    match kind {
        Kind::Line => "a `line` resource's text",
        Kind::Cron => "a cron entry's name",
        Kind::Command => "the command",
        _ => "the path",
    }
}

/// Every value of `resource` that reaches a script, but its name (see
/// [`name_holds`]).
pub fn fields(resource: &Resource) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    fn opt<'r>(out: &mut Vec<Field<'r>>, what: &'static str, text: &'r Option<Text>, holds: Holds) {
        if let Some(text) = text {
            out.push(field(what, text, holds));
        }
    }
    match &resource.spec {
        Spec::File(s) => {
            opt(&mut out, "`owner`", &s.owner, Holds::Account);
            opt(&mut out, "`group`", &s.group, Holds::Account);
        }
        Spec::Template(s) => {
            opt(&mut out, "`owner`", &s.owner, Holds::Account);
            opt(&mut out, "`group`", &s.group, Holds::Account);
        }
        Spec::Directory(s) => {
            opt(&mut out, "`owner`", &s.owner, Holds::Account);
            opt(&mut out, "`group`", &s.group, Holds::Account);
        }
        Spec::Download(s) => {
            opt(&mut out, "`url`", &s.url, Holds::Word);
            opt(&mut out, "`sha256`", &s.sha256, Holds::Word);
            opt(&mut out, "`owner`", &s.owner, Holds::Account);
            opt(&mut out, "`group`", &s.group, Holds::Account);
        }
        Spec::Link(s) => opt(&mut out, "`to`", &s.to, Holds::Target),
        Spec::Line(s) => opt(&mut out, "`path`", &s.path, Holds::Path),
        Spec::User(s) => {
            opt(&mut out, "`group`", &s.group, Holds::Account);
            opt(&mut out, "`shell`", &s.shell, Holds::Path);
            opt(&mut out, "`home`", &s.home, Holds::Path);
            out.extend(
                s.groups
                    .iter()
                    .map(|g| field("`groups`", g, Holds::Account)),
            );
            // A key from a `|` block ends with a line break, which is not part of it.
            out.extend(s.authorized_keys.iter().map(|k| Field {
                text: Cow::Borrowed(k.value.trim()),
                ..field("an authorized key", k, Holds::Line)
            }));
        }
        Spec::Service(s) => {
            out.extend(
                s.restart_on
                    .iter()
                    .map(|p| field("`restart_on`", p, Holds::Path)),
            );
        }
        Spec::Command(s) => {
            opt(&mut out, "`run`", &s.run, Holds::Text);
            opt(&mut out, "`unless`", &s.unless, Holds::Text);
            opt(&mut out, "`only_if`", &s.only_if, Holds::Text);
            opt(&mut out, "`creates`", &s.creates, Holds::Path);
            opt(&mut out, "`cwd`", &s.cwd, Holds::Path);
            opt(&mut out, "`user`", &s.user, Holds::Account);
            // `env` values have no place of their own: the resource's is shown.
            for (key, value) in &s.env {
                out.push(Field {
                    what: Cow::Owned(format!("`env` {key}")),
                    text: match value {
                        Value::String(s) => Cow::Borrowed(s.as_str()),
                        other => Cow::Owned(other.to_string()),
                    },
                    at: resource.kind.referenced,
                    holds: Holds::Text,
                });
            }
        }
        Spec::Cron(s) => {
            opt(&mut out, "`user` of a cron entry", &s.user, Holds::Account);
            opt(&mut out, "`schedule`", &s.schedule, Holds::Line);
            opt(&mut out, "`run` of a cron entry", &s.run, Holds::Line);
        }
        Spec::Sysctl(s) => opt(
            &mut out,
            "a kernel parameter's value",
            &s.value,
            Holds::Line,
        ),
        Spec::AptRepository(s) => {
            opt(&mut out, "`uri`", &s.uri, Holds::Word);
            opt(&mut out, "`suite`", &s.suite, Holds::Word);
            out.extend(
                s.components
                    .iter()
                    .map(|c| field("`components`", c, Holds::Word)),
            );
            if let Some(key) = &s.key
                && crate::resource::apt_repository::is_inline_key(&key.value)
            {
                out.push(field("`key`", key, Holds::Text));
            }
        }
        Spec::Package(_) | Spec::Group(_) | Spec::Unknown => {}
    }
    out
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
            let (valid, noun, help): (fn(&str) -> bool, &str, &str) = match kind {
                Kind::Package => (
                    super::package::valid_name,
                    "package name",
                    "package names are lowercase letters, digits, and + - . (like nginx-light or libc6:amd64)",
                ),
                Kind::User | Kind::Group => (
                    super::user::valid_name,
                    if kind == Kind::User { "user name" } else { "group name" },
                    "names are lowercase letters, digits, _ and -, starting with a letter or _",
                ),
                Kind::Service => (
                    super::service::valid_name,
                    "service name",
                    "a systemd unit, like nginx or getty@tty1.service",
                ),
                Kind::Sysctl => (
                    super::sysctl::valid_key,
                    "kernel parameter",
                    "a dotted key, like net.ipv4.ip_forward",
                ),
                Kind::AptRepository => (
                    super::apt_repository::valid_name,
                    "repository name",
                    "the name becomes /etc/apt/sources.list.d/NAME.list: letters, digits, . _ -",
                ),
                _ => return None,
            };
            (!valid(value)).then(|| {
                (
                    format!("invalid {noun} '{value}'"),
                    format!("not a {noun}"),
                    help.to_string(),
                )
            })
        }
    }
}

/// True for a user or group as `chown`, `chgrp`, `su` and `crontab` take it
/// without surprise: a name like the user resource's, or a numeric id.
pub fn valid_account(value: &str) -> bool {
    super::user::valid_name(value)
        || (!value.is_empty() && value.len() <= 10 && value.chars().all(|c| c.is_ascii_digit()))
}

fn diag(place: Place, what: &str, holds: Holds, value: &str) -> Option<Diag> {
    let (message, label, help) = problem(what, holds, value)?;
    Some(Diag::at(place, message).label(label).help(help))
}

/// Problems with the values of `resource` that are written as they are
/// (not templates), its name included, at their places. `at` turns a
/// location into a place of the recipe. Names of types with a rule of their
/// own (packages, users, ...) are left to the recipe's checks.
pub fn check_literal(resource: &Resource, at: &dyn Fn(Location) -> Place) -> Vec<Diag> {
    let mut out = Vec::new();
    if let Some(kind) = resource.kind() {
        let holds = name_holds(kind);
        if !matches!(holds, Holds::Name(_)) {
            for name in resource.name.value.items() {
                if !name.contains("{{")
                    && let Some(d) =
                        diag(at(resource.name.referenced), name_what(kind), holds, name)
                {
                    out.push(d);
                }
            }
        }
    }
    for field in fields(resource) {
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
    for field in fields(resource).into_iter().filter(Field::templated) {
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
    match diag(place, name_what(kind), name_holds(kind), name) {
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
