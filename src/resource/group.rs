//! `group`: a group (groupadd, groupmod, groupdel; or BusyBox's addgroup and
//! delgroup where the host has no shadow tools, see [`AccountTools`]).
//!
//! A missing group is created with `gid` and `system` when given; an existing
//! group's gid is changed when it differs (`system` only matters at creation;
//! BusyBox has no groupmod, so there a different gid is an error);
//! `state: absent` removes it.

use super::facts::AccountTools;
use super::{Change, Decision, PlanInput, Probed};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, Spanned};
use crate::shell::{TaggedLines, quote};
use serde::Deserialize;

use super::{Holds, Kind, NameRule, Query, QueryInput, ResourceType};

/// `group: app`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Group id.
    #[schemars(with = "Option<u32>")]
    pub gid: Option<Spanned<u32>>,
    /// A system group.
    #[schemars(with = "Option<bool>")]
    pub system: Option<Spanned<bool>>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// The `group` type.
pub struct Group;

impl ResourceType for Group {
    const KEY: &'static str = "group";
    const NAME: Holds = Holds::Name(Kind::Group);
    const NAME_RULE: Option<NameRule> = Some(NameRule {
        valid: super::fields::valid_account_name,
        noun: "group name",
        label: "not a group name",
        help: "group names are lowercase letters, digits, _ and -, starting with a letter or _",
    });
    type Spec = GroupSpec;

    fn removal(spec: &GroupSpec) -> Option<crate::recipe::Location> {
        super::absent_at(&spec.state)
    }

    fn evidence(_: &GroupSpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        input
            .planned
            .names
            .iter()
            .map(|n| super::evidence::Subject::Group(n.clone()))
            .collect()
    }

    fn queries(_: &GroupSpec, input: &QueryInput<'_>) -> Vec<Query> {
        vec![Query::Group { name: input.name() }]
    }

    fn plan(
        spec: &GroupSpec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag> {
        let name = input.name().to_string();
        if !super::fields::valid_account_name(&name) {
            return Err(Diag::at(
                input.planned.place(),
                format!("invalid group name '{name}'"),
            )
            .help(
                "group names are lowercase letters, digits, _ and -, starting with a letter or _",
            ));
        }
        let state = probed.groups.get(&name).cloned().unwrap_or_default();
        let tools = probed.facts.accounts();
        if spec.state.as_ref().map(|s| s.value) == Some(Presence::Absent) {
            if !state.exists {
                return Ok(Decision::Ok);
            }
            probed.groups.insert(name.clone(), GroupState::default());
            return Ok(Decision::Apply {
                changes: vec![Change::Remove {
                    what: "group".into(),
                }],
                snippet: remove_snippet(&name, tools),
            });
        }
        let gid = spec.gid.as_ref().map(|g| g.value);
        let system = spec.system.as_ref().is_some_and(|s| s.value);
        probed.groups.insert(
            name.clone(),
            GroupState {
                exists: true,
                gid: gid.or(state.gid),
            },
        );
        if !state.exists {
            return Ok(Decision::Apply {
                changes: vec![Change::Create {
                    what: if system { "system group" } else { "group" }.into(),
                }],
                snippet: create_snippet(&name, gid, system, tools),
            });
        }
        match gid {
            Some(gid) if state.gid != Some(gid) && tools == AccountTools::Busybox => Err(Diag::at(
                input.planned.place(),
                format!(
                    "group '{name}' has gid {}, not {gid}, and this host has BusyBox's addgroup, which cannot change a gid",
                    state.gid.map_or("?".into(), |g| g.to_string())
                ),
            )
            .help("install the shadow tools (Alpine: `package: shadow` before this resource) for groupmod, or change the gid by hand")),
            Some(gid) if state.gid != Some(gid) => Ok(Decision::Apply {
                changes: vec![Change::Note {
                    text: format!(
                        "gid {} → {gid}",
                        state.gid.map_or("?".into(), |g| g.to_string())
                    ),
                }],
                snippet: gid_snippet(&name, gid),
            }),
            _ => Ok(Decision::Ok),
        }
    }
}

/// What the probe found about a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupState {
    /// The group exists.
    pub exists: bool,
    /// Its id.
    pub gid: Option<u32>,
}

impl GroupState {
    /// Read the answer under `tag` (`NAME:x:GID:MEMBERS` from getent).
    pub fn from_lines(lines: &TaggedLines, tag: &str) -> GroupState {
        match lines.get(tag, "entry") {
            Some(entry) => GroupState {
                exists: true,
                gid: entry.split(':').nth(2).and_then(|g| g.parse().ok()),
            },
            None => GroupState::default(),
        }
    }
}

/// Shell function of the probe that answers group queries.
pub const PROBE_FUNCTIONS: &str = r#"rg_group() {
  rg_l=$(getent group -- "$2") || return 0
  rg_emit "$1" entry "$rg_l"
}
"#;

fn gid_snippet(name: &str, gid: u32) -> String {
    let n = quote(name);
    format!(
        "if [ \"$(getent group -- {n} | cut -d: -f3)\" != {gid} ]; then groupmod -g {gid} -- {n}; rg_emit \"$rg_tag\" changed gid; fi\n"
    )
}

/// Shell that removes the group if it still exists. BusyBox's delgroup takes
/// no options (not even `--`); names never start with `-` (checked above).
fn remove_snippet(name: &str, tools: AccountTools) -> String {
    let n = quote(name);
    let command = match tools {
        AccountTools::Shadow => format!("groupdel -- {n}"),
        AccountTools::Busybox => format!("delgroup {n}"),
    };
    format!(
        "if getent group -- {n} >/dev/null; then {command}; rg_emit \"$rg_tag\" changed removed; fi\n"
    )
}

fn create_snippet(name: &str, gid: Option<u32>, system: bool, tools: AccountTools) -> String {
    let n = quote(name);
    let mut args = String::new();
    if system {
        args.push_str(match tools {
            AccountTools::Shadow => "-r ",
            AccountTools::Busybox => "-S ",
        });
    }
    if let Some(gid) = gid {
        args.push_str(&format!("-g {gid} "));
    }
    let command = match tools {
        AccountTools::Shadow => format!("groupadd {args}-- {n}"),
        AccountTools::Busybox => format!("addgroup {args}{n}"),
    };
    let mut out = format!(
        "if ! getent group -- {n} >/dev/null; then {command}; rg_emit \"$rg_tag\" changed created; fi\n"
    );
    // BusyBox cannot change a gid: what it created has the gid asked for.
    if let (Some(gid), AccountTools::Shadow) = (gid, tools) {
        out.push_str(&gid_snippet(name, gid));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers_parse() {
        let lines = crate::shell::parse_lines("@q0 entry app:x:1200:deploy,web\n");
        assert_eq!(
            GroupState::from_lines(&lines, "q0"),
            GroupState {
                exists: true,
                gid: Some(1200)
            }
        );
        assert!(!GroupState::from_lines(&lines, "q1").exists);
    }

    #[test]
    fn create_snippet_rechecks() {
        insta::assert_snapshot!(create_snippet(
            "app",
            Some(1200),
            true,
            AccountTools::Shadow
        ));
    }

    /// BusyBox: addgroup and delgroup, without `--` (delgroup takes none).
    #[test]
    fn busybox_snippets() {
        insta::assert_snapshot!(format!(
            "{}{}",
            create_snippet("app", Some(1200), true, AccountTools::Busybox),
            remove_snippet("app", AccountTools::Busybox)
        ));
        for snippet in [
            create_snippet("app", None, false, AccountTools::Busybox),
            remove_snippet("app", AccountTools::Shadow),
        ] {
            let status = std::process::Command::new("sh")
                .args(["-n", "-c", &snippet])
                .status()
                .unwrap();
            assert!(status.success(), "{snippet}");
        }
    }
}
