//! `file`: a regular file with content (inline, templated) or a source from
//! files/. The writing itself is shared with `template` and `line`: content
//! goes to a temporary file beside the target, gets its mode and owner, and is
//! renamed into place, so a dropped connection leaves the old file.

use sha2::{Digest, Sha256};

use super::attrs::Attrs;
use super::{Change, Decision, PathKind, PathState, PlanInput, Probed};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, Spanned, Text};
use crate::shell::{data_block, quote};
use serde::Deserialize;

use super::{
    Check, Field, Holds, PlannedResource, Query, QueryInput, Resource, ResourceType, fields,
};
use crate::recipe::Mode;
use crate::template::Templates;
use serde_json::Value;

/// `file: /etc/motd`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Inline content, rendered with handlebars.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub content: Option<Text>,
    /// A file under files/, copied as is.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub source: Option<Text>,
    /// Owner (name or uid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub owner: Option<Text>,
    /// Group (name or gid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub group: Option<Text>,
    /// Permissions.
    #[schemars(with = "Option<Mode>")]
    pub mode: Option<Spanned<Mode>>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// The `file` type.
pub struct File;

impl ResourceType for File {
    const KEY: &'static str = "file";
    const NAME: Holds = Holds::Path;
    type Spec = FileSpec;

    fn removal(spec: &FileSpec) -> Option<crate::recipe::Location> {
        super::absent_at(&spec.state)
    }

    fn evidence(_: &FileSpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        super::evidence::paths(input)
    }

    fn values<'r>(spec: &'r FileSpec, _: &'r Resource) -> Vec<Field<'r>> {
        fields::owner_and_group(&spec.owner, &spec.group)
    }

    fn sources(spec: &FileSpec) -> Vec<&Text> {
        spec.source.iter().collect()
    }

    fn check(spec: &FileSpec, check: &mut Check<'_>) {
        if let (Some(content), Some(_)) = (&spec.content, &spec.source) {
            let place = check.at(content.referenced);
            check.push(
                Diag::at(place, "a file takes `content` or `source`, not both")
                    .label("content here")
                    .help("use `content` for inline text, `source` for a file under files/"),
            );
        }
        if let Some(content) = &spec.content {
            check.template(content);
        }
    }

    fn render_early(
        spec: &FileSpec,
        planned: &PlannedResource<'_>,
        templates: &Templates,
        context: &Value,
    ) -> Result<(), Diag> {
        match &spec.content {
            Some(content) => templates
                .render_inline(
                    &content.value,
                    context,
                    &planned.source.place(content.referenced),
                )
                .map(drop),
            None => Ok(()),
        }
    }

    fn queries(_: &FileSpec, input: &QueryInput<'_>) -> Vec<Query> {
        vec![Query::Path {
            path: input.name(),
            content_limit: input.content_limit(),
        }]
    }

    fn plan(spec: &FileSpec, input: &PlanInput<'_>, probed: &mut Probed) -> Result<Decision, Diag> {
        let path = input.name().to_string();
        if spec.state.as_ref().map(|s| s.value) == Some(Presence::Absent) {
            return plan_absent(input, &path, probed);
        }
        let content = match (&spec.content, &spec.source) {
            (Some(content), _) => Some(input.render(content)?.into_bytes()),
            (None, Some(source)) => Some(input.read_file(source)?),
            (None, None) => None,
        };
        let attrs = attrs_of(
            input,
            spec.owner.as_ref(),
            spec.group.as_ref(),
            spec.mode.as_ref(),
        )?;
        plan_present(
            input,
            DesiredFile {
                path,
                content,
                attrs,
                guard: None,
            },
            probed,
        )
    }

    fn managed_paths(_: &FileSpec, planned: &PlannedResource<'_>) -> Vec<String> {
        planned.names.clone()
    }
}

/// Mode of files redgreen creates when the recipe does not say.
pub const DEFAULT_FILE_MODE: u32 = 0o644;

/// A file as it must be.
#[derive(Debug, Clone)]
pub struct DesiredFile {
    /// Absolute path.
    pub path: String,
    /// The whole content; None to leave the content alone (an empty file is
    /// created when missing).
    pub content: Option<Vec<u8>>,
    /// Owner, group and mode the recipe asks for.
    pub attrs: Attrs,
    /// Write only if the file still has this sha256 (None: does not exist);
    /// for edits computed from the probed content (`line`).
    pub guard: Option<Option<String>>,
}

/// sha256 in hex.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Owner, group and mode from a resource's fields, rendered.
pub(super) fn attrs_of(
    input: &PlanInput<'_>,
    owner: Option<&crate::recipe::Text>,
    group: Option<&crate::recipe::Text>,
    mode: Option<&crate::recipe::Spanned<crate::recipe::Mode>>,
) -> Result<Attrs, Diag> {
    Ok(Attrs {
        owner: owner.map(|o| input.render(o)).transpose()?,
        group: group.map(|g| input.render(g)).transpose()?,
        mode: mode.map(|m| m.value.0),
    })
}

/// Plan a file that must exist with `desired`.
pub fn plan_present(
    input: &PlanInput<'_>,
    desired: DesiredFile,
    probed: &mut Probed,
) -> Result<Decision, Diag> {
    let state = probed.path(&desired.path);
    if matches!(state.kind, PathKind::Dir | PathKind::Other) {
        return Err(Diag::at(
            input.planned.place(),
            format!(
                "{} is {} on the host, not a regular file",
                desired.path,
                state.kind.describe()
            ),
        )
        .label("this resource")
        .help(
            "remove it first (a directory resource with state: absent), or choose another path",
        ));
    }
    let is_file = state.kind == PathKind::File;
    let new_sha = desired.content.as_deref().map(sha256_hex);
    let write = match &new_sha {
        Some(sha) => !is_file || state.sha256.as_deref() != Some(sha.as_str()),
        None => !is_file,
    };

    let mut changes = Vec::new();
    if !is_file {
        if state.kind == PathKind::Link {
            changes.push(Change::Note {
                text: format!(
                    "replace the symlink to {} with a file",
                    state.target.clone().unwrap_or_default()
                ),
            });
        } else {
            changes.push(Change::Create {
                what: "file".into(),
            });
        }
    }
    if write && let Some(content) = &desired.content {
        changes.push(Change::Content {
            diff: unified_diff(
                &desired.path,
                state.content.as_deref().filter(|_| is_file),
                content,
                is_file,
            ),
            from: state.sha256.clone().filter(|_| is_file),
            to: new_sha.clone().unwrap_or_default(),
        });
    }
    // Attributes not given keep the existing file's; a new file gets 0644 and
    // the login's owner.
    let mut full = desired.attrs.clone();
    if full.mode.is_none() {
        full.mode = Some(if is_file {
            state.mode.unwrap_or(DEFAULT_FILE_MODE)
        } else {
            DEFAULT_FILE_MODE
        });
    }
    if is_file {
        full.owner = full.owner.or_else(|| state.uid.map(|u| u.to_string()));
        full.group = full.group.or_else(|| state.gid.map(|g| g.to_string()));
    }
    let attr_state = if is_file {
        state.clone()
    } else {
        PathState::default()
    };
    changes.extend(desired.attrs.changes(&attr_state));

    let after = PathState {
        kind: PathKind::File,
        sha256: new_sha.clone().or(state.sha256.clone()),
        content: desired.content.clone().or(state.content.clone()),
        size: desired
            .content
            .as_ref()
            .map(|c| c.len() as u64)
            .or(state.size),
        target: None,
        ..full.applied_to(attr_state)
    };
    probed.paths.insert(desired.path.clone(), after);

    if changes.is_empty() {
        return Ok(Decision::Ok);
    }
    // A file written gets every attribute before it is renamed into place:
    // they are checked again only when it is not written.
    let attrs = desired.attrs.snippet(&desired.path);
    let snippet = if write {
        write_snippet(&desired, &full, new_sha.as_deref(), &attrs)
    } else {
        attrs
    };
    Ok(Decision::Apply { changes, snippet })
}

/// Shell that writes the file through a temporary file beside it, after
/// re-checking that it still needs writing, and otherwise runs `unwritten`.
fn write_snippet(
    desired: &DesiredFile,
    full: &Attrs,
    sha: Option<&str>,
    unwritten: &str,
) -> String {
    let p = quote(&desired.path);
    let dir = parent(&desired.path);
    let d = quote(&dir);
    let mut out = String::new();
    out.push_str(&format!("rg_p={p}\n"));
    out.push_str(
        "if [ -d \"$rg_p\" ] && [ ! -L \"$rg_p\" ]; then echo \"$rg_p is a directory\" >&2; exit 1; fi\n",
    );
    out.push_str("rg_cur=\nif [ -f \"$rg_p\" ] && [ ! -L \"$rg_p\" ]; then rg_cur=$(sha256sum < \"$rg_p\" | cut -c1-64); fi\n");
    let needed = match sha {
        Some(sha) => format!("[ \"$rg_cur\" != {} ]", quote(sha)),
        None => "[ ! -f \"$rg_p\" ] || [ -L \"$rg_p\" ]".to_string(),
    };
    out.push_str(&format!("if {needed}; then\n"));
    if let Some(guard) = &desired.guard {
        let expected = guard.clone().unwrap_or_default();
        out.push_str(&format!(
            "  if [ \"$rg_cur\" != {} ]; then echo \"$rg_p changed on the host since it was probed; run again\" >&2; exit 1; fi\n",
            quote(&expected)
        ));
    }
    out.push_str(&format!(
        "  if [ ! -d {d} ]; then echo \"the directory {dir_shown} does not exist; create it with a directory resource first\" >&2; exit 1; fi\n",
        dir_shown = dir.replace(['"', '`', '$', '\\'], "_"),
    ));
    out.push_str(&format!(
        "  rg_tmp=$(mktemp -- {})\n",
        quote(&format!("{}/.rg-XXXXXX", dir.trim_end_matches('/')))
    ));
    out.push_str("  trap 'rm -f -- \"$rg_tmp\"' EXIT HUP INT TERM\n");
    match &desired.content {
        Some(content) if !content.is_empty() => {
            out.push_str("  base64 -d > \"$rg_tmp\" <<'RG_DATA'\n");
            out.push_str(&data_block(content));
        }
        _ => {}
    }
    out.push_str(&full.set_on_tmp());
    out.push_str("  mv -f -- \"$rg_tmp\" \"$rg_p\"\n  trap - EXIT HUP INT TERM\n");
    out.push_str(if desired.content.is_some() {
        "  rg_emit \"$rg_tag\" changed content\n"
    } else {
        "  rg_emit \"$rg_tag\" changed created\n"
    });
    if !unwritten.is_empty() {
        out.push_str("else\n");
        out.push_str(unwritten);
    }
    out.push_str("fi\n");
    out
}

/// Plan a file that must not exist.
pub fn plan_absent(
    input: &PlanInput<'_>,
    path: &str,
    probed: &mut Probed,
) -> Result<Decision, Diag> {
    let state = probed.path(path);
    match state.kind {
        PathKind::Absent => Ok(Decision::Ok),
        PathKind::Dir => Err(Diag::at(
            input.planned.place(),
            format!(
                "{path} is a directory on the host; a file resource does not remove directories"
            ),
        )
        .label("this resource")
        .help("use a directory resource with state: absent")),
        _ => {
            probed.paths.insert(path.to_string(), PathState::default());
            let p = quote(path);
            Ok(Decision::Apply {
                changes: vec![Change::Remove {
                    what: match state.kind {
                        PathKind::Link => "symlink".into(),
                        _ => "file".into(),
                    },
                }],
                snippet: format!(
                    "if [ -d {p} ] && [ ! -L {p} ]; then echo {msg} >&2; exit 1; fi\nif [ -e {p} ] || [ -L {p} ]; then rm -f -- {p}; rg_emit \"$rg_tag\" changed removed; fi\n",
                    msg = quote(&format!("{path} is a directory")),
                ),
            })
        }
    }
}

/// The directory a path is in.
pub fn parent(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((dir, _)) => dir.to_string(),
    }
}

/// A unified diff of old and new content, when both are text. `existed` says
/// whether there was a file at all (a new file diffs against nothing).
pub fn unified_diff(path: &str, old: Option<&[u8]>, new: &[u8], existed: bool) -> Option<String> {
    let old = match (old, existed) {
        (Some(old), _) => std::str::from_utf8(old).ok()?,
        (None, false) => "",
        (None, true) => return None, // content not fetched or too large
    };
    let new = std::str::from_utf8(new).ok()?;
    let diff = similar::TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{path} (on the host)"),
            &format!("{path} (wanted)"),
        )
        .to_string();
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert_eq!(parent("/etc/motd"), "/etc");
        assert_eq!(parent("/motd"), "/");
        assert_eq!(parent("/a/b/c/"), "/a/b");
    }

    #[test]
    fn diffs_are_unified() {
        let diff = unified_diff(
            "/etc/motd",
            Some(b"hello\nworld\n"),
            b"hello\nthere\n",
            true,
        )
        .unwrap();
        insta::assert_snapshot!(diff);
    }

    #[test]
    fn binary_content_has_no_diff() {
        assert_eq!(unified_diff("/x", Some(b"\xff\xfe"), b"text", true), None);
    }

    #[test]
    fn write_snippet_goes_through_a_temporary_file() {
        let desired = DesiredFile {
            path: "/etc/motd".into(),
            content: Some(b"Welcome\n".to_vec()),
            attrs: Attrs {
                mode: Some(0o644),
                ..Attrs::default()
            },
            guard: None,
        };
        let full = Attrs {
            owner: Some("0".into()),
            group: Some("0".into()),
            mode: Some(0o644),
        };
        insta::assert_snapshot!(write_snippet(
            &desired,
            &full,
            Some(&sha256_hex(b"Welcome\n")),
            &desired.attrs.snippet(&desired.path),
        ));
    }
}
