//! `line`: one line in a file. The probe brings the file back; the new content
//! is computed here (so `match` is a Rust regular expression everywhere) and
//! written like a `file`, only if the file has not changed since the probe.
//!
//! * present, with `match`: the last line that matches is replaced by the
//!   line; if none matches and the line is not there, it is appended.
//! * present, without `match`: the line is appended unless it is there.
//! * absent: every line equal to the line (or matching `match`) is removed.

use regex::bytes::Regex;

use super::file::{DesiredFile, plan_present};
use super::{Change, Decision, PathKind, PlanInput, Probed};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, Spanned, Text};
use serde::Deserialize;

use super::{
    Check, Field, Holds, PlannedResource, Query, QueryInput, Resource, ResourceType, fields,
};
use crate::resource::query::LINE_LIMIT;

/// `line: "PermitRootLogin no"`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// The file the line is in.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub path: Option<Text>,
    /// A regular expression of the line to replace.
    #[serde(rename = "match")]
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub match_: Option<Text>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
    /// Create the file if it is missing (default true).
    #[schemars(with = "Option<bool>")]
    pub create: Option<Spanned<bool>>,
}

/// The `line` type.
pub struct Line;

impl ResourceType for Line {
    const KEY: &'static str = "line";
    const NAME: Holds = Holds::Line;
    const NAME_WHAT: &'static str = "a `line` resource's text";
    type Spec = LineSpec;

    fn removal(spec: &LineSpec) -> Option<crate::recipe::Location> {
        super::absent_at(&spec.state)
    }

    fn evidence(_: &LineSpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        input
            .planned
            .path
            .iter()
            .map(|p| super::evidence::Subject::Path(p.clone()))
            .collect()
    }

    fn values<'r>(spec: &'r LineSpec, _: &'r Resource) -> Vec<Field<'r>> {
        fields::optional("`path`", &spec.path, Holds::Path)
            .into_iter()
            .collect()
    }

    fn path_field(spec: &LineSpec) -> Option<&Text> {
        spec.path.as_ref()
    }

    fn check(spec: &LineSpec, check: &mut Check<'_>) {
        check.required(&spec.path, "path", "/etc/ssh/sshd_config");
        if let Some(pattern) = &spec.match_
            && let Err(err) = regex::Regex::new(&pattern.value)
        {
            let place = check.at(pattern.referenced);
            check.push(
                Diag::at(
                    place,
                    format!("invalid regular expression: {}", regex_problem(&err)),
                )
                .label("invalid")
                .help(
                    "`match` is a regular expression of the line to replace, like ^PermitRootLogin",
                ),
            );
        }
    }

    fn queries(_: &LineSpec, input: &QueryInput<'_>) -> Vec<Query> {
        vec![Query::Path {
            path: input.planned.path.clone().unwrap_or_default(),
            content_limit: LINE_LIMIT,
        }]
    }

    fn plan(spec: &LineSpec, input: &PlanInput<'_>, probed: &mut Probed) -> Result<Decision, Diag> {
        let line = input.name().to_string();
        let path = input.planned.path.clone().unwrap_or_default();
        let state = probed.path(&path);
        let present = spec.state.as_ref().map(|s| s.value) != Some(Presence::Absent);
        let create = spec.create.as_ref().is_none_or(|c| c.value);
        let pattern =
            match &spec.match_ {
                Some(text) => Some(Regex::new(&input.render(text)?).map_err(|e| {
                    Diag::at(input.planned.place(), format!("invalid `match`: {e}"))
                })?),
                None => None,
            };

        let current: Option<Vec<u8>> = match state.kind {
            PathKind::Absent => None,
            PathKind::File => Some(state.content.clone().ok_or_else(|| {
                Diag::at(
                    input.planned.place(),
                    format!(
                        "{path} is larger than {} MiB; a line resource edits smaller files",
                        super::query::LINE_LIMIT / 1024 / 1024
                    ),
                )
            })?),
            other => {
                return Err(Diag::at(
                    input.planned.place(),
                    format!(
                        "{path} is {} on the host, not a regular file",
                        other.describe()
                    ),
                ));
            }
        };
        let Some(current) = current else {
            if !present {
                return Ok(Decision::Ok);
            }
            if !create {
                return Err(Diag::at(
                    input.planned.place(),
                    format!("{path} does not exist and `create` is false"),
                )
                .help("create the file first, or drop `create: false`"));
            }
            return plan_present(
                input,
                desired(&path, format!("{line}\n").into_bytes(), None),
                probed,
            );
        };
        let new = if present {
            ensure_line(&current, line.as_bytes(), pattern.as_ref())
        } else {
            remove_line(&current, line.as_bytes(), pattern.as_ref())
        };
        if new == current {
            return Ok(Decision::Ok);
        }
        let decision = plan_present(input, desired(&path, new, state.sha256.clone()), probed)?;
        if present {
            return Ok(decision);
        }
        // Taking lines out of a file deletes them: a removal, like a file's.
        Ok(match decision {
            Decision::Apply {
                mut changes,
                snippet,
            } => {
                changes.insert(
                    0,
                    Change::Remove {
                        what: "line".into(),
                    },
                );
                Decision::Apply { changes, snippet }
            }
            other => other,
        })
    }

    fn managed_paths(_: &LineSpec, planned: &PlannedResource<'_>) -> Vec<String> {
        planned.path.iter().cloned().collect()
    }
}

/// What is wrong with a regular expression: the last line of the regex
/// crate's message (the lines before it quote the pattern).
fn regex_problem(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines().last().unwrap_or(&text).trim().to_string()
}

fn desired(path: &str, content: Vec<u8>, before: Option<String>) -> DesiredFile {
    DesiredFile {
        path: path.to_string(),
        content: Some(content),
        attrs: Default::default(),
        guard: Some(before),
    }
}

fn split_lines(content: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = content.split(|b| *b == b'\n').collect();
    if content.ends_with(b"\n") {
        lines.pop();
    }
    if content.is_empty() {
        lines.clear();
    }
    lines
}

fn join_lines(lines: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

/// The content with `line` present (replacing the last match of `pattern`).
pub fn ensure_line(content: &[u8], line: &[u8], pattern: Option<&Regex>) -> Vec<u8> {
    let mut lines = split_lines(content);
    if let Some(pattern) = pattern
        && let Some(last) = lines.iter().rposition(|l| pattern.is_match(l))
    {
        if lines[last] == line {
            return content.to_vec();
        }
        lines[last] = line;
        return join_lines(&lines);
    }
    if lines.contains(&line) {
        return content.to_vec();
    }
    let mut out = content.to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(line);
    out.push(b'\n');
    out
}

/// The content without `line` (or without every line matching `pattern`).
pub fn remove_line(content: &[u8], line: &[u8], pattern: Option<&Regex>) -> Vec<u8> {
    let lines = split_lines(content);
    let kept: Vec<&[u8]> = lines
        .iter()
        .copied()
        .filter(|l| match pattern {
            Some(pattern) => !pattern.is_match(l),
            None => *l != line,
        })
        .collect();
    if kept.len() == lines.len() {
        return content.to_vec();
    }
    join_lines(&kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> Regex {
        Regex::new(p).unwrap()
    }

    #[test]
    fn appends_a_missing_line() {
        assert_eq!(ensure_line(b"a\nb\n", b"c", None), b"a\nb\nc\n");
        assert_eq!(ensure_line(b"a\nb", b"c", None), b"a\nb\nc\n");
        assert_eq!(ensure_line(b"", b"c", None), b"c\n");
    }

    #[test]
    fn keeps_a_present_line() {
        assert_eq!(ensure_line(b"a\nc\nb", b"c", None), b"a\nc\nb");
    }

    #[test]
    fn replaces_the_last_match() {
        let out = ensure_line(
            b"#PermitRootLogin yes\nPermitRootLogin yes\nX 1\n",
            b"PermitRootLogin no",
            Some(&re("^#?PermitRootLogin")),
        );
        assert_eq!(out, b"#PermitRootLogin yes\nPermitRootLogin no\nX 1\n");
    }

    #[test]
    fn a_replaced_line_stays_put() {
        let once = ensure_line(b"a\nport 1\nb\n", b"port 2", Some(&re("^port ")));
        let twice = ensure_line(&once, b"port 2", Some(&re("^port ")));
        assert_eq!(once, twice);
    }

    #[test]
    fn removes_lines() {
        assert_eq!(remove_line(b"a\nb\na\n", b"a", None), b"b\n");
        assert_eq!(remove_line(b"x=1\ny=2\n", b"", Some(&re("^x="))), b"y=2\n");
        assert_eq!(remove_line(b"keep", b"gone", None), b"keep");
    }
}
