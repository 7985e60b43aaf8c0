//! `cron`: one entry in a user's crontab, identified by its name.
//!
//! The entry is two lines: a marker `# redgreen: NAME` and `SCHEDULE RUN`
//! right below it. A changed schedule or command replaces the line under the
//! marker (never a second copy); `state: absent` removes both lines. Lines
//! that redgreen did not write are kept as they are.
//!
//! The probe brings the crontab back (`crontab -u USER -l`); the new crontab
//! is computed here and installed with `crontab -u USER FILE`, only if the
//! crontab still is what the plan expects (else: "run again").

use super::file::sha256_hex;
use super::{Change, Decision, PlanInput, Probed, Query, QueryInput};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, Spanned, Text};
use crate::shell::{TaggedLines, data_block, decode, quote};
use serde::Deserialize;

use super::{Check, Field, Holds, Resource, ResourceType, fields, presence};

/// `cron: nightly-backup`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CronSpec {
    /// Whose crontab (default root).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub user: Option<Text>,
    /// Five cron fields: `"*/5 * * * *"`.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub schedule: Option<Text>,
    /// The command.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub run: Option<Text>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// The `cron` type.
pub struct Cron;

impl ResourceType for Cron {
    const KEY: &'static str = "cron";
    const NAME: Holds = Holds::Line;
    const NAME_WHAT: &'static str = "a cron entry's name";
    type Spec = CronSpec;

    fn removal(spec: &CronSpec) -> Option<crate::recipe::Location> {
        super::absent_at(&spec.state)
    }

    fn evidence(spec: &CronSpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        let user = match &spec.user {
            Some(user) => input.render(user),
            None => Some("root".to_string()),
        };
        let run = spec.run.as_ref().and_then(|run| input.render(run));
        match (user, run) {
            (Some(user), Some(run)) => vec![super::evidence::Subject::Cron { user, run }],
            _ => Vec::new(),
        }
    }

    fn values<'r>(spec: &'r CronSpec, _: &'r Resource) -> Vec<Field<'r>> {
        [
            fields::optional("`user` of a cron entry", &spec.user, Holds::Account),
            fields::optional("`schedule`", &spec.schedule, Holds::Line),
            fields::optional("`run` of a cron entry", &spec.run, Holds::Line),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn check(spec: &CronSpec, check: &mut Check<'_>) {
        if presence(&spec.state) == Presence::Present {
            check.required(&spec.schedule, "schedule", "\"*/5 * * * *\"");
            check.required(&spec.run, "run", "/usr/local/bin/backup.sh");
        }
        if let Some(schedule) = &spec.schedule {
            let fields = schedule.value.split_whitespace().count();
            if fields != 5 && !schedule.value.starts_with('@') {
                let place = check.at(schedule.referenced);
                check.push(
                    Diag::at(place, format!("a cron schedule has 5 fields, this has {fields}"))
                        .label("not 5 fields")
                        .help("minute hour day-of-month month day-of-week, like \"*/5 * * * *\", or @daily"),
                );
            }
        }
    }

    fn queries(spec: &CronSpec, input: &QueryInput<'_>) -> Vec<Query> {
        let user = match &spec.user {
            Some(user) => input.render(user),
            None => Some("root".to_string()),
        };
        user.map(|user| vec![Query::Crontab { user }])
            .unwrap_or_default()
    }

    fn plan(spec: &CronSpec, input: &PlanInput<'_>, probed: &mut Probed) -> Result<Decision, Diag> {
        let name = input.name().to_string();
        let user = match &spec.user {
            Some(user) => input.render(user)?,
            None => "root".to_string(),
        };
        let Some(state) = probed.crontabs.get(&user).cloned() else {
            return Err(Diag::at(
                input.planned.place(),
                format!("the probe could not ask for the crontab of '{user}'"),
            )
            .help("`user` of a cron entry cannot use facts: the probe reads the crontab before facts are known"));
        };
        let present = spec.state.as_ref().map(|s| s.value) != Some(Presence::Absent);
        if state.no_user && !probed.changed_earlier && present {
            return Err(Diag::at(
                input.planned.place(),
                format!("there is no user '{user}' on this host"),
            )
            .help("create the user with a `user` resource before this entry"));
        }
        if state.no_cron && !probed.changed_earlier && present {
            return Err(Diag::at(
                input.planned.place(),
                "cron is not installed on this host (no crontab command)",
            )
            .help("install it first: `package: cron` before this resource"));
        }
        let entry = if present {
            let schedule = spec
                .schedule
                .as_ref()
                .map(|s| input.render(s))
                .transpose()?
                .unwrap_or_default();
            let run = spec
                .run
                .as_ref()
                .map(|r| input.render(r))
                .transpose()?
                .unwrap_or_default();
            if run.contains('\n') || schedule.contains('\n') {
                return Err(Diag::at(
                    input.planned.place(),
                    "a cron entry is one line; `schedule` or `run` has several",
                ));
            }
            Some(format!(
                "{} {run}",
                schedule.split_whitespace().collect::<Vec<_>>().join(" ")
            ))
        } else {
            None
        };
        let new = edit(&state.content, &name, entry.as_deref());
        if new == state.content {
            return Ok(Decision::Ok);
        }
        let change = match &entry {
            None => Change::Remove {
                what: "cron entry".into(),
            },
            Some(_) => Change::Content {
                diff: super::file::unified_diff(
                    &format!("crontab of {user}"),
                    Some(&state.content),
                    &new,
                    true,
                ),
                from: Some(sha256_hex(&state.content)),
                to: sha256_hex(&new),
            },
        };
        let snippet = snippet(&user, &state.content, &new);
        probed.crontabs.insert(
            user,
            CrontabState {
                content: new,
                ..CrontabState::default()
            },
        );
        Ok(Decision::Apply {
            changes: vec![change],
            snippet,
        })
    }
}

/// What the probe found about a user's crontab.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrontabState {
    /// The crontab command is missing (cron is not installed).
    pub no_cron: bool,
    /// The user does not exist.
    pub no_user: bool,
    /// The crontab (empty when the user has none).
    pub content: Vec<u8>,
}

impl CrontabState {
    /// Read the answer under `tag`.
    pub fn from_lines(lines: &TaggedLines, tag: &str) -> CrontabState {
        CrontabState {
            no_cron: lines.get(tag, "cron") == Some("missing"),
            no_user: lines.get(tag, "user") == Some("missing"),
            content: lines
                .get(tag, "content")
                .and_then(decode)
                .unwrap_or_default(),
        }
    }
}

/// Shell function of the probe that reads crontabs.
pub const PROBE_FUNCTIONS: &str = r#"rg_crontab() {
  if ! id -u -- "$2" >/dev/null 2>&1; then rg_emit "$1" user missing; return 0; fi
  if ! command -v crontab >/dev/null 2>&1; then rg_emit "$1" cron missing; return 0; fi
  rg_emit "$1" content "$(crontab -u "$2" -l 2>/dev/null | rg_b64)"
}
"#;

/// The marker line above an entry.
pub fn marker(name: &str) -> String {
    format!("# redgreen: {name}")
}

/// The crontab with the entry `name` set to `entry` (None: removed).
pub fn edit(content: &[u8], name: &str, entry: Option<&str>) -> Vec<u8> {
    let text = String::from_utf8_lossy(content);
    let marker = marker(name);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match lines.iter().position(|l| l.trim_end() == marker) {
        Some(at) => {
            // The marker and the line under it are the entry.
            let end = (at + 2).min(lines.len());
            match entry {
                Some(entry) => {
                    lines.splice(at..end, [marker, entry.to_string()]);
                }
                None => {
                    lines.drain(at..end);
                }
            }
        }
        None => {
            if let Some(entry) = entry {
                lines.push(marker);
                lines.push(entry.to_string());
            }
        }
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out.into_bytes()
}

/// Shell that installs `new` as the crontab of `user`, if it still is `old`.
fn snippet(user: &str, old: &[u8], new: &[u8]) -> String {
    let u = quote(user);
    let mut out = format!(
        "if ! command -v crontab >/dev/null 2>&1; then echo 'cron is not installed on this host (no crontab command); add `package: cron` before this resource' >&2; exit 1; fi\n\
         rg_t=$(mktemp)\n\
         trap 'rm -f -- \"$rg_t\"' EXIT\n\
         crontab -u {u} -l > \"$rg_t\" 2>/dev/null || : > \"$rg_t\"\n\
         rg_cur=$(sha256sum < \"$rg_t\" | cut -c1-64)\n\
         if [ \"$rg_cur\" != {new_sha} ]; then\n\
         \x20 if [ \"$rg_cur\" != {old_sha} ]; then echo \"the crontab of \"{u}\" changed on the host since it was probed; run again\" >&2; exit 1; fi\n\
         \x20 base64 -d > \"$rg_t\" <<'RG_DATA'\n",
        new_sha = quote(&sha256_hex(new)),
        old_sha = quote(&sha256_hex(old)),
    );
    out.push_str(&data_block(new));
    out.push_str(&format!(
        "  crontab -u {u} -- \"$rg_t\"\n\
         \x20 rg_emit \"$rg_tag\" changed crontab\n\
         fi\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_appended_once_and_replaced_in_place() {
        let start = b"MAILTO=ops\n0 1 * * * /usr/bin/other\n";
        let once = edit(
            start,
            "backup",
            Some("*/5 * * * * /usr/local/bin/backup.sh"),
        );
        assert_eq!(
            String::from_utf8_lossy(&once),
            "MAILTO=ops\n0 1 * * * /usr/bin/other\n# redgreen: backup\n*/5 * * * * /usr/local/bin/backup.sh\n"
        );
        assert_eq!(
            edit(
                &once,
                "backup",
                Some("*/5 * * * * /usr/local/bin/backup.sh")
            ),
            once
        );
        let changed = edit(&once, "backup", Some("0 3 * * * /usr/local/bin/backup.sh"));
        assert_eq!(
            String::from_utf8_lossy(&changed),
            "MAILTO=ops\n0 1 * * * /usr/bin/other\n# redgreen: backup\n0 3 * * * /usr/local/bin/backup.sh\n"
        );
        let removed = edit(&changed, "backup", None);
        assert_eq!(removed, start);
        assert_eq!(edit(b"", "backup", None), b"");
    }

    #[test]
    fn probe_answers_parse() {
        let content = crate::shell::encode(b"# redgreen: x\n* * * * * true\n");
        let lines = crate::shell::parse_lines(&format!(
            "@q0 content {content}\n@q1 cron missing\n@q2 user missing\n@q3 content \n"
        ));
        assert_eq!(
            CrontabState::from_lines(&lines, "q0").content,
            b"# redgreen: x\n* * * * * true\n"
        );
        assert!(CrontabState::from_lines(&lines, "q1").no_cron);
        assert!(CrontabState::from_lines(&lines, "q2").no_user);
        assert!(CrontabState::from_lines(&lines, "q3").content.is_empty());
    }

    #[test]
    fn snippet_installs_only_over_what_was_probed() {
        insta::assert_snapshot!(snippet(
            "deploy",
            b"",
            b"# redgreen: backup\n*/5 * * * * /usr/local/bin/backup.sh\n"
        ));
    }

    use crate::resource::testing;

    #[test]
    fn cron_must_be_installed_unless_an_earlier_resource_may_install_it() {
        let mut probed = testing::debian();
        probed.crontabs.insert(
            "root".into(),
            CrontabState {
                no_cron: true,
                ..Default::default()
            },
        );
        let entry =
            "  - cron: backup\n    schedule: \"0 3 * * *\"\n    run: /usr/local/bin/backup.sh\n";
        let out = testing::plan(&format!("resources:\n{entry}"), &[], &mut probed.clone());
        assert_eq!(
            testing::changes(&out[0]),
            ["error: cron is not installed on this host (no crontab command)"]
        );
        probed.package_cache = crate::resource::package::CacheState::Age(1);
        let out = testing::plan(
            &format!("resources:\n  - package: cron\n{entry}"),
            &[],
            &mut probed,
        );
        assert_eq!(testing::changes(&out[1]), ["content (+2 -0)"]);
    }
}
