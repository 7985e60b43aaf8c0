//! `directory`: a directory (parents are created as needed), its owner, group
//! and mode; with `recursive: true` also those of everything inside, and
//! removal of the whole tree with `state: absent`.

use super::attrs::Attrs;
use super::file::attrs_of;
use super::{Change, Decision, PathKind, PathState, PlanInput, Probed};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, Spanned, Text};
use crate::shell::quote;
use serde::Deserialize;

use super::{Field, Holds, PlannedResource, Query, QueryInput, Resource, ResourceType, fields};
use crate::recipe::Mode;

/// `directory: /srv/www`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectorySpec {
    /// Owner (name or uid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub owner: Option<Text>,
    /// Group (name or gid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub group: Option<Text>,
    /// Permissions.
    #[schemars(with = "Option<Mode>")]
    pub mode: Option<Spanned<Mode>>,
    /// Apply owner and group to everything inside, mode to every directory
    /// inside; with `state: absent`, remove the directory and its contents.
    #[schemars(with = "Option<bool>")]
    pub recursive: Option<Spanned<bool>>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// The `directory` type.
pub struct Directory;

impl ResourceType for Directory {
    const KEY: &'static str = "directory";
    const NAME: Holds = Holds::Path;
    type Spec = DirectorySpec;

    fn removal(spec: &DirectorySpec) -> Option<crate::recipe::Location> {
        super::absent_at(&spec.state)
    }

    fn evidence(_: &DirectorySpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        super::evidence::paths(input)
    }

    fn values<'r>(spec: &'r DirectorySpec, _: &'r Resource) -> Vec<Field<'r>> {
        fields::owner_and_group(&spec.owner, &spec.group)
    }

    fn queries(spec: &DirectorySpec, input: &QueryInput<'_>) -> Vec<Query> {
        let mut queries = vec![Query::Path {
            path: input.name(),
            content_limit: 0,
        }];
        if spec.recursive.as_ref().is_some_and(|r| r.value) {
            queries.push(Query::Tree { path: input.name() });
        }
        queries
    }

    fn plan(
        spec: &DirectorySpec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag> {
        let path = input.name().to_string();
        let state = probed.path(&path);
        let recursive = spec.recursive.as_ref().is_some_and(|r| r.value);
        let p = quote(&path);
        if spec.state.as_ref().map(|s| s.value) == Some(Presence::Absent) {
            return match state.kind {
                PathKind::Absent => Ok(Decision::Ok),
                PathKind::Dir => {
                    probed.paths.insert(path.clone(), PathState::default());
                    let (what, remove) = if recursive {
                        ("directory and everything in it", format!("rm -rf -- {p}"))
                    } else {
                        (
                            "directory",
                            format!(
                                "if ! rmdir -- {p} 2>/dev/null; then echo {msg} >&2; exit 1; fi",
                                msg = quote(&format!(
                                    "{path} is not empty; add `recursive: true` to remove it with everything in it"
                                ))
                            ),
                        )
                    };
                    Ok(Decision::Apply {
                        changes: vec![Change::Remove { what: what.into() }],
                        snippet: format!(
                            "if [ -d {p} ] && [ ! -L {p} ]; then {remove}; rg_emit \"$rg_tag\" changed removed; fi\n"
                        ),
                    })
                }
                other => Err(not_a_directory(input, &path, other)),
            };
        }

        let attrs = attrs_of(
            input,
            spec.owner.as_ref(),
            spec.group.as_ref(),
            spec.mode.as_ref(),
        )?;
        let mut changes = Vec::new();
        let mut snippet = String::new();
        match state.kind {
            PathKind::Dir => changes.extend(attrs.changes(&state)),
            PathKind::Absent => {
                changes.push(Change::Create {
                    what: "directory".into(),
                });
                changes.extend(attrs.changes(&PathState::default()));
                snippet.push_str(&format!(
                    "if [ ! -d {p} ]; then mkdir -p -- {p}; rg_emit \"$rg_tag\" changed created; fi\n"
                ));
            }
            other => return Err(not_a_directory(input, &path, other)),
        }
        snippet.push_str(&attrs.snippet(&path));
        if recursive && state.kind == PathKind::Dir {
            let tree = probed.trees.get(&path).cloned().unwrap_or_default();
            if !tree.all_owned_by(attrs.owner.as_deref(), attrs.group.as_deref()) {
                changes.push(Change::Note {
                    text: "owner or group of what is inside".into(),
                });
            }
            if let Some(mode) = attrs.mode
                && tree.dir_modes.iter().any(|m| *m != mode)
            {
                changes.push(Change::Note {
                    text: format!("mode of the directories inside → {mode:04o}"),
                });
            }
            snippet.push_str(&recursive_snippet(&path, &attrs));
        }
        probed.paths.insert(
            path.clone(),
            PathState {
                kind: PathKind::Dir,
                ..attrs.applied_to(state)
            },
        );
        if changes.is_empty() {
            return Ok(Decision::Ok);
        }
        Ok(Decision::Apply { changes, snippet })
    }

    fn managed_paths(_: &DirectorySpec, planned: &PlannedResource<'_>) -> Vec<String> {
        planned.names.clone()
    }
}

/// Shell that brings everything inside to the owner, group and directory mode.
fn recursive_snippet(path: &str, attrs: &Attrs) -> String {
    let p = quote(path);
    let mut out = String::new();
    let owner = match (&attrs.owner, &attrs.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    };
    if let Some(owner) = owner {
        let o = quote(&owner);
        out.push_str(&format!(
            "rg_before=$(find -- {p} -exec stat -c '%u:%g' -- {{}} + | sort -u | cksum)\nchown -R -- {o} {p}\n[ \"$rg_before\" = \"$(find -- {p} -exec stat -c '%u:%g' -- {{}} + | sort -u | cksum)\" ] || rg_emit \"$rg_tag\" changed owners-inside\n"
        ));
    }
    if let Some(mode) = attrs.mode {
        let m = quote(&format!("{mode:o}"));
        out.push_str(&format!(
            "if find -- {p} -type d ! -perm {m} | grep -q .; then find -- {p} -type d -exec chmod {mode:04o} -- {{}} +; rg_emit \"$rg_tag\" changed modes-inside; fi\n"
        ));
    }
    out
}

fn not_a_directory(input: &PlanInput<'_>, path: &str, kind: PathKind) -> Diag {
    Diag::at(
        input.planned.place(),
        format!("{path} is {} on the host, not a directory", kind.describe()),
    )
    .label("this directory")
    .help("remove it first (a file resource with state: absent), or choose another path")
}
