//! `command`: an arbitrary shell command, with guards that make it idempotent.
//!
//! * `run` (default: the resource's name) runs with `sh -c`, in `cwd`, with
//!   `env` added to the environment, as `user` (through `su`) when given.
//! * `creates: PATH` skips it when PATH exists; `unless: CHECK` skips it when
//!   CHECK succeeds; `only_if: CHECK` runs it only when CHECK succeeds. Checks
//!   run the same way as the command (cwd, env, user) and must not change
//!   anything: they are evaluated in the probe, so that a converge where every
//!   guard holds costs one round trip, and evaluated again in the apply
//!   snippet, just before the command would run.
//! * When a resource planned earlier changes the host, a guard that said
//!   "skip" at probe time may no longer hold: the command then goes to the
//!   apply script anyway, which re-checks and reports `changed` only if it ran.
//! * Without a guard a command runs on every converge, and plan, converge and
//!   the recap say so.
//! * The command's output is kept only when it fails (its last 4000 bytes).
//! * Nothing of a command reaches a command line on the host, where the
//!   process list (`ps`) would show it to every user: the command, its `env`
//!   values and `cwd` are set as variables in the script (which arrives on
//!   stdin), handed to the command's shell in its environment, and that
//!   shell's own command line is always the same ([`RUNNER`]).

use super::{Change, Decision, PlanInput, Probed, Query, QueryInput};
use crate::diagnostic::Diag;
use crate::recipe::Text;
use crate::shell::quote;
use serde::Deserialize;

use super::{Check, Field, Holds, Resource, ResourceType, fields};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// `command: migrate`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// The shell command (default: the resource's name).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub run: Option<Text>,
    /// Skip when this path exists.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub creates: Option<Text>,
    /// Skip when this command succeeds.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub unless: Option<Text>,
    /// Run only when this command succeeds.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub only_if: Option<Text>,
    /// Working directory.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub cwd: Option<Text>,
    /// Run as this user.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub user: Option<Text>,
    /// Environment variables.
    #[serde(default, deserialize_with = "crate::recipe::de::null_as_default")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub env: Map<String, Value>,
}

/// The `command` type.
pub struct Command;

impl ResourceType for Command {
    const KEY: &'static str = "command";
    const NAME: Holds = Holds::Text;
    const NAME_WHAT: &'static str = "the command";
    type Spec = CommandSpec;

    fn values<'r>(spec: &'r CommandSpec, resource: &'r Resource) -> Vec<Field<'r>> {
        let mut out: Vec<Field<'r>> = [
            fields::optional("`run`", &spec.run, Holds::Text),
            fields::optional("`unless`", &spec.unless, Holds::Text),
            fields::optional("`only_if`", &spec.only_if, Holds::Text),
            fields::optional("`creates`", &spec.creates, Holds::Path),
            fields::optional("`cwd`", &spec.cwd, Holds::Path),
            fields::optional("`user`", &spec.user, Holds::Account),
        ]
        .into_iter()
        .flatten()
        .collect();
        // `env` values have no place of their own: the resource's is shown.
        for (key, value) in &spec.env {
            out.push(Field {
                what: Cow::Owned(format!("`env` {key}")),
                text: match value {
                    serde_json::Value::String(s) => Cow::Borrowed(s.as_str()),
                    other => Cow::Owned(other.to_string()),
                },
                at: resource.kind.referenced,
                holds: Holds::Text,
            });
        }
        out
    }

    fn check(spec: &CommandSpec, check: &mut Check<'_>) {
        for key in spec.env.keys() {
            if !valid_env_name(key) {
                let place = check.at(check.resource.kind.referenced);
                check.push(
                    Diag::at(
                        place,
                        format!("invalid environment variable name '{key}' in `env`"),
                    )
                    .label("in this command's env")
                    .help("names are letters, digits and _, not starting with a digit"),
                );
            }
        }
    }

    fn queries(spec: &CommandSpec, input: &QueryInput<'_>) -> Vec<Query> {
        let mut queries = Vec::new();
        if let Some(path) = spec.creates.as_ref().and_then(|c| input.render(c)) {
            queries.push(Query::Path {
                path,
                content_limit: 0,
            });
        }
        let place = input.planned.place();
        let invocation = (|| {
            let mut env = Vec::new();
            for (key, value) in &spec.env {
                let text = input
                    .templates
                    .render_inline(&env_text(value), input.context, &place)
                    .ok()?;
                env.push((key.clone(), text));
            }
            Some(Invocation {
                cwd: match &spec.cwd {
                    Some(cwd) => Some(input.render(cwd)?),
                    None => None,
                },
                user: match &spec.user {
                    Some(user) => Some(input.render(user)?),
                    None => None,
                },
                env,
            })
        })();
        if let Some(invocation) = invocation {
            for guard in [&spec.unless, &spec.only_if].into_iter().flatten() {
                if let Some(check) = input.render(guard) {
                    queries.push(Query::Guard {
                        check: invocation.wrap(&check),
                        shown: check,
                    });
                }
            }
        }
        queries
    }

    fn plan(
        spec: &CommandSpec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag> {
        let command = render(input, spec)?;
        if command.creates.is_none() && command.unless.is_none() && command.only_if.is_none() {
            return Ok(Decision::Apply {
                changes: vec![Change::Note {
                    text: "run (no creates, unless or only_if guard: it runs on every converge)"
                        .into(),
                }],
                snippet: snippet(&command),
            });
        }
        // What the probe says about each guard: Some(true) = run, Some(false) =
        // skip, None = not known before apply.
        let mut verdicts: Vec<(Option<bool>, String)> = Vec::new();
        if let Some(path) = &command.creates {
            verdicts.push(match probed.paths.get(path) {
                Some(state) => (Some(!state.exists()), format!("{path} exists")),
                None => (None, String::new()),
            });
        }
        let status = |check: &str| probed.guards.get(&command.invocation.wrap(check)).copied();
        if let Some(check) = &command.unless {
            verdicts.push((status(check).map(|s| s != 0), "`unless` succeeds".into()));
        }
        if let Some(check) = &command.only_if {
            verdicts.push((status(check).map(|s| s == 0), "`only_if` fails".into()));
        }
        let skip_because = verdicts
            .iter()
            .find(|(run, _)| *run == Some(false))
            .map(|(_, why)| why.clone());
        let unknown = verdicts.iter().any(|(run, _)| run.is_none());
        let text = match skip_because {
            Some(_) if !probed.changed_earlier => return Ok(Decision::Ok),
            Some(why) => format!(
                "re-check on the host ({why} now, but earlier resources change the host), run if needed"
            ),
            None if unknown => "run unless its guards say otherwise on the host".into(),
            None => "run".into(),
        };
        Ok(Decision::Apply {
            changes: vec![Change::Note { text }],
            snippet: snippet(&command),
        })
    }

    fn notes(spec: &CommandSpec, title: &str) -> Vec<String> {
        unguarded(spec)
            .then(|| {
                format!(
                    "{title} has no guard (creates, unless, only_if): it runs on every converge"
                )
            })
            .into_iter()
            .collect()
    }
}

/// How a command (or one of its guards) runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Invocation {
    /// Working directory.
    pub cwd: Option<String>,
    /// Run as this user.
    pub user: Option<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

/// The command line of the shell that runs a command: the same for every
/// command, so that the process list shows nothing of it. It reads what to
/// do from its environment (set by [`Invocation::wrap`]), takes it out of the
/// environment the command sees, then goes to `RG_CWD`, exports the `env`
/// values and runs the command.
pub const RUNNER: &str = "rg_run=$RG_RUN rg_cwd=$RG_CWD rg_env=$RG_ENV; unset RG_RUN RG_CWD RG_ENV; \
if [ -n \"$rg_cwd\" ]; then cd -- \"$rg_cwd\" || exit; fi; eval \"$rg_env\"; eval \"$rg_run\"";

impl Invocation {
    /// Shell that runs `command` this way (to be placed in a subshell): the
    /// command, cwd and env go in variables, never on a command line.
    pub fn wrap(&self, command: &str) -> String {
        let exports: String = self
            .env
            .iter()
            .map(|(key, value)| format!("export {}; ", quote(&format!("{key}={value}"))))
            .collect();
        let mut out = format!(
            "RG_RUN={} RG_CWD={} RG_ENV={}; export RG_RUN RG_CWD RG_ENV; ",
            quote(command),
            quote(self.cwd.as_deref().unwrap_or("")),
            quote(&exports),
        );
        match &self.user {
            Some(user) => out.push_str(&format!(
                "exec su -s /bin/sh -c {} -- {}",
                quote(RUNNER),
                quote(user)
            )),
            None => out.push_str(&format!("exec sh -c {}", quote(RUNNER))),
        }
        out
    }
}

/// True for an environment variable name.
pub fn valid_env_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// True when the command has no guard and so runs on every converge.
pub fn unguarded(spec: &CommandSpec) -> bool {
    spec.creates.is_none() && spec.unless.is_none() && spec.only_if.is_none()
}

fn env_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The command as rendered for this host.
struct Rendered {
    run: String,
    invocation: Invocation,
    creates: Option<String>,
    unless: Option<String>,
    only_if: Option<String>,
}

fn render(input: &PlanInput<'_>, spec: &CommandSpec) -> Result<Rendered, Diag> {
    let mut env = Vec::new();
    for (key, value) in &spec.env {
        if !valid_env_name(key) {
            return Err(Diag::at(
                input.planned.place(),
                format!("invalid environment variable name '{key}'"),
            ));
        }
        let text = input.templates.render_inline(
            &env_text(value),
            input.context,
            &input.planned.place(),
        )?;
        env.push((key.clone(), text));
    }
    let opt = |t: &Option<crate::recipe::Text>| t.as_ref().map(|t| input.render(t)).transpose();
    Ok(Rendered {
        run: match &spec.run {
            Some(run) => input.render(run)?,
            None => input.name().to_string(),
        },
        invocation: Invocation {
            cwd: opt(&spec.cwd)?,
            user: opt(&spec.user)?,
            env,
        },
        creates: opt(&spec.creates)?,
        unless: opt(&spec.unless)?,
        only_if: opt(&spec.only_if)?,
    })
}

/// The changes and snippet of a command under `handlers:` when notified: its
/// guards are checked on the host only.
pub fn handler(input: &PlanInput<'_>, spec: &CommandSpec) -> Result<(Vec<Change>, String), Diag> {
    input.check_values()?;
    let command = render(input, spec)?;
    Ok((vec![Change::Note { text: "run".into() }], snippet(&command)))
}

/// Shell that checks the guards on the host, then runs the command.
fn snippet(command: &Rendered) -> String {
    let mut out = String::new();
    let wrap = |check: &str| command.invocation.wrap(check);
    if let Some(path) = &command.creates {
        out.push_str(&format!("if [ -e {} ]; then exit 0; fi\n", quote(path)));
    }
    if let Some(check) = &command.unless {
        out.push_str(&format!(
            "if ( {} ) </dev/null >/dev/null 2>&1; then exit 0; fi\n",
            wrap(check)
        ));
    }
    if let Some(check) = &command.only_if {
        out.push_str(&format!(
            "if ! ( {} ) </dev/null >/dev/null 2>&1; then exit 0; fi\n",
            wrap(check)
        ));
    }
    out.push_str(&format!(
        "rg_o=$(mktemp)\n\
         if ( {} ) </dev/null >\"$rg_o\" 2>&1; then rm -f -- \"$rg_o\"; rg_emit \"$rg_tag\" changed ran\n\
         else rg_s=$?; tail -c 4000 \"$rg_o\" >&2; rm -f -- \"$rg_o\"; echo \"the command exited with status $rg_s\" >&2; exit 1; fi\n",
        wrap(&command.run)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> (i32, String) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    #[test]
    fn the_wrapper_sets_cwd_and_env() {
        let invocation = Invocation {
            cwd: Some("/tmp".into()),
            user: None,
            env: vec![("GREETING".into(), "it's $HOME".into())],
        };
        let (code, out) = sh(&invocation.wrap("pwd; printf '%s\\n' \"$GREETING\""));
        assert_eq!(code, 0);
        assert_eq!(out, "/tmp\nit's $HOME\n");
    }

    #[test]
    fn snippets_check_guards_then_run() {
        let command = Rendered {
            run: "touch /tmp/it && echo done".into(),
            invocation: Invocation {
                cwd: Some("/srv/app".into()),
                user: Some("deploy".into()),
                env: vec![("RAILS_ENV".into(), "production".into())],
            },
            creates: Some("/srv/app/.migrated".into()),
            unless: Some("test -f /srv/app/skip".into()),
            only_if: Some("test -d /srv/app".into()),
        };
        insta::assert_snapshot!(snippet(&command));
    }

    #[test]
    fn a_failing_command_reports_its_output_and_status() {
        let command = Rendered {
            run: "echo visible; echo to-stderr >&2; exit 3".into(),
            invocation: Invocation::default(),
            creates: None,
            unless: None,
            only_if: None,
        };
        let script = crate::engine::script_for_tests(&snippet(&command));
        let (_, out) = sh(&script);
        let lines = crate::shell::parse_lines(&out);
        let err = crate::shell::decode(lines.get("r0", "failed").unwrap()).unwrap();
        let err = String::from_utf8(err).unwrap();
        assert!(err.contains("visible\nto-stderr\n"), "{err}");
        assert!(err.contains("exited with status 3"), "{err}");
    }

    #[test]
    fn guards_skip_on_the_host() {
        let command = Rendered {
            run: "echo ran".into(),
            invocation: Invocation::default(),
            creates: None,
            unless: Some("true".into()),
            only_if: None,
        };
        let (_, out) = sh(&crate::engine::script_for_tests(&snippet(&command)));
        let lines = crate::shell::parse_lines(&out);
        assert!(lines.get("r0", "done").is_some());
        assert_eq!(lines.get("r0", "changed"), None);
    }

    #[test]
    fn env_names() {
        assert!(valid_env_name("RAILS_ENV"));
        assert!(valid_env_name("_x1"));
        assert!(!valid_env_name("1X"));
        assert!(!valid_env_name("A-B"));
        assert!(!valid_env_name(""));
    }

    use crate::resource::testing;

    #[test]
    fn a_command_without_a_guard_always_runs_and_says_so() {
        let out = testing::plan(
            "resources:\n  - command: date\n",
            &[],
            &mut testing::debian(),
        );
        assert_eq!(
            testing::changes(&out[0]),
            ["run (no creates, unless or only_if guard: it runs on every converge)"]
        );
    }

    #[test]
    fn guards_answered_by_the_probe_skip_the_command() {
        let recipe =
            "resources:\n  - command: make install\n    unless: test -x /usr/local/bin/tool\n";
        let mut probed = testing::debian();
        probed
            .guards
            .insert(Invocation::default().wrap("test -x /usr/local/bin/tool"), 0);
        assert_eq!(
            testing::changes(&testing::plan(recipe, &[], &mut probed.clone())[0]),
            ["ok"]
        );
        // After an earlier change the guard is re-checked on the host.
        let recipe_after = format!(
            "resources:\n  - file: /etc/motd\n    content: hi\n{}",
            &recipe[11..]
        );
        assert_eq!(
            testing::changes(&testing::plan(&recipe_after, &[], &mut probed.clone())[1]),
            [
                "re-check on the host (`unless` succeeds now, but earlier resources change the host), run if needed"
            ]
        );
        probed
            .guards
            .insert(Invocation::default().wrap("test -x /usr/local/bin/tool"), 1);
        assert_eq!(
            testing::changes(&testing::plan(recipe, &[], &mut probed)[0]),
            ["run"]
        );
    }
}
