//! The two scripts a converge sends to a host, side by side: the probe
//! (round trip 1), which asks every question of every resource at once, and
//! the apply script (round trip 2).
//!
//! The probe: the prelude, the shell functions its questions need, then the
//! facts, the ledger and every question, each answer a line `@TAG KEY VALUE`
//! (see [`crate::resource::query`]).
//!
//! The apply script: every change of a host in one script, each snippet in a
//! subshell of its own with `set -e`, its stdin closed (the script itself
//! arrives on stdin), and its failure stopping the rest (later resources
//! may depend on it). Each snippet says `@TAG started` before it runs and
//! `@TAG done` (or `@TAG failed ...`) when it ends, as it happens: the
//! controller reads them as they come to show progress.
//!
//! What a snippet reports (`rg_emit "$rg_tag" changed ...`) goes to a file of
//! its own in the script's private directory, which the script passes on
//! with the shell's own `read` before `done`: no process per resource. The
//! snippet's stdout goes nowhere and its stderr to a file that comes back
//! only when it fails, so that a daemon a command starts holds neither the
//! connection nor anything the script waits for.
//!
//! Handlers come last, in the same script: a step that notifies handlers
//! raises their flags when it printed `changed`, and each handler runs once,
//! at the end, only if its flag is up.
//!
//! A converge's script runs under the host's converge lock (see
//! [`crate::engine::ledger::locked`]); each snippet runs with the lock's file
//! descriptor closed, so that a daemon a command starts does not hold it.

use crate::resource::facts;
use crate::resource::query::{self, Query};
use crate::shell::PRELUDE;

/// The shell text of the probe: the prelude, the facts, the ledger and
/// every query.
pub fn probe(queries: &[Query]) -> String {
    let mut script = String::from(PRELUDE);
    script.push_str(&query::probe_functions(queries));
    // The script arrives on stdin: nothing in it may read stdin.
    script.push_str("{\n");
    script.push_str(facts::PROBE);
    // Before every other answer: it also chooses how rg_b64 encodes.
    script.push_str(crate::engine::ledger::PROBE);
    script.push_str(&query::probe_lines(queries));
    script.push_str("} </dev/null\necho @end\n");
    script
}

/// One resource's snippet in the apply script.
pub struct Step<'a> {
    /// Its tag (`r3`).
    pub tag: String,
    /// Its shell code.
    pub snippet: &'a str,
    /// The handlers (indices into the handler list) it notifies when it changes something.
    pub notifies: Vec<usize>,
    /// A line for the host's record of removals, appended when it changed
    /// something (see [`crate::engine::ledger::REMOVED`]).
    pub record: Option<String>,
}

/// Shell that runs `steps` in order and reports each as `@TAG started`, then
/// `@TAG done` or `@TAG failed BASE64-STDERR`, then runs the `handlers` (tag, code) whose
/// flags the steps raised, then prints `@end`.
#[cfg(test)]
pub fn apply_script(steps: &[Step<'_>], handlers: &[(String, &str)]) -> String {
    build(steps, handlers, None)
}

/// [`apply_script`] for a converge: it runs under the host's converge lock,
/// its changes taking at most `command_timeout` once the lock is taken (see
/// [`crate::engine::ledger::locked`]; the whole may take
/// [`crate::engine::ledger::locked_timeout`]), and records the ledger at its end:
/// `ledger` is the shell defining `rg_ledger ok|failed` (see
/// [`super::ledger`]), called with `failed` when a snippet fails and `ok`
/// when everything ran.
pub fn apply_script_recording(
    steps: &[Step<'_>],
    handlers: &[(String, &str)],
    ledger: &str,
    command_timeout: std::time::Duration,
) -> String {
    crate::engine::ledger::locked(&build(steps, handlers, Some(ledger)), command_timeout)
}

fn build(steps: &[Step<'_>], handlers: &[(String, &str)], ledger: Option<&str>) -> String {
    let mut script = String::from(PRELUDE);
    if let Some(ledger) = ledger {
        script.push_str(ledger);
    }
    if steps.iter().any(|s| s.record.is_some()) {
        script.push_str(crate::engine::ledger::RECORD_REMOVAL);
    }
    let record_failure = if ledger.is_some() {
        "rg_ledger failed; "
    } else {
        ""
    };
    script.push_str(&format!(
        "rg_d=$(mktemp -d) || exit 1\n\
         trap 'rm -rf -- \"$rg_d\"' EXIT\n\
         rg_err=$rg_d/err\n\
         rg_finish() {{\n\
         \x20 rg_ch=\n\
         \x20 if [ -e \"$rg_d/$rg_tag\" ]; then\n\
         \x20   while IFS= read -r rg_l; do printf '%s\\n' \"$rg_l\"; case $rg_l in \"@$rg_tag changed \"*) rg_ch=1 ;; esac; done < \"$rg_d/$rg_tag\"\n\
         \x20 fi\n\
         \x20 if [ \"$1\" -ne 0 ]; then printf '@%s failed %s\\n' \"$rg_tag\" \"$(tail -c 4000 \"$rg_err\" | rg_b64)\"; {record_failure}echo @end; exit 0; fi\n\
         \x20 rg_emit \"$rg_tag\" done\n\
         }}\n",
    ));
    for step in steps {
        push_snippet(&mut script, &step.tag, step.snippet);
        if !step.notifies.is_empty() {
            let flags: Vec<String> = step
                .notifies
                .iter()
                .map(|h| format!("rg_notify_{h}=1"))
                .collect();
            script.push_str(&format!(
                "if [ -n \"$rg_ch\" ]; then {}; fi\n",
                flags.join("; ")
            ));
        }
        if let Some(record) = &step.record {
            script.push_str(&format!(
                "if [ -n \"$rg_ch\" ]; then rg_record_removal {}; fi\n",
                crate::shell::quote(&crate::shell::encode(format!("{record}\n").as_bytes()))
            ));
        }
    }
    for (index, (tag, snippet)) in handlers.iter().enumerate() {
        script.push_str(&format!("if [ -n \"${{rg_notify_{index}:-}}\" ]; then\n"));
        push_snippet(&mut script, tag, snippet);
        script.push_str("fi\n");
    }
    if ledger.is_some() {
        script.push_str("rg_ledger ok\n");
    }
    script.push_str("echo @end\n");
    script
}

fn push_snippet(script: &mut String, tag: &str, snippet: &str) {
    // `started` goes straight out, so that the controller, reading the
    // output as it comes, can show which resource is running.
    // In the subshell, `rg_emit` appends to the step's own file, which
    // `rg_finish` passes on.
    script.push_str(&format!(
        "rg_tag={tag}\nrg_emit \"$rg_tag\" started\n\
         ( rg_emit() {{ printf '@%s %s %s\\n' \"$1\" \"$2\" \"$3\" >> \"$rg_d/$1\"; }}\nset -e\n"
    ));
    script.push_str(snippet);
    if !snippet.ends_with('\n') {
        script.push('\n');
    }
    script.push_str(") </dev/null >/dev/null 2>\"$rg_err\" 9>&-\nrg_finish $?\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::parse_lines;

    fn every_kind_of_query() -> Vec<Query> {
        vec![
            Query::Path {
                path: "/etc/motd".into(),
                content_limit: query::DIFF_LIMIT,
            },
            Query::Tree {
                path: "/srv/www".into(),
            },
            Query::Package {
                name: "nginx-light".into(),
                candidate: true,
            },
            Query::PackageCache,
            Query::User {
                name: "deploy".into(),
            },
            Query::Group { name: "app".into() },
            Query::Service {
                name: "nginx".into(),
            },
            Query::Guard {
                check: crate::resource::command::Invocation::default()
                    .wrap("test -f /srv/app/.migrated"),
                shown: "test -f /srv/app/.migrated".into(),
            },
            Query::Crontab {
                user: "deploy".into(),
            },
            Query::Sysctl {
                key: "net.ipv4.ip_forward".into(),
            },
        ]
    }

    #[test]
    fn the_probe_asks_every_question_in_one_script() {
        insta::assert_snapshot!(probe(&every_kind_of_query()));
    }

    /// The whole probe runs under the machine's sh and finishes, whatever
    /// this machine lacks (no such user, unit or package here).
    #[test]
    fn the_probe_runs_to_its_end() {
        let queries = every_kind_of_query();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(probe(&queries))
            .output()
            .unwrap();
        let lines = crate::shell::parse_lines(&String::from_utf8_lossy(&out.stdout));
        assert!(lines.complete, "{}", String::from_utf8_lossy(&out.stderr));
        let probed = query::read_answers(&queries, &lines);
        assert!(!probed.facts.arch.is_empty());
        assert!(probed.guards.contains_key(
            &crate::resource::command::Invocation::default().wrap("test -f /srv/app/.migrated")
        ));
    }

    fn run(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    fn step<'a>(tag: &str, snippet: &'a str, notifies: &[usize]) -> Step<'a> {
        Step {
            tag: tag.to_string(),
            snippet,
            notifies: notifies.to_vec(),
            record: None,
        }
    }

    #[test]
    fn a_failure_stops_the_rest_and_says_why() {
        let script = apply_script(
            &[
                step("r0", "rg_emit \"$rg_tag\" changed one\n", &[]),
                step("r1", "false\nrg_emit \"$rg_tag\" changed never\n", &[]),
                step("r2", "rg_emit \"$rg_tag\" changed two\n", &[]),
            ],
            &[],
        );
        let lines = parse_lines(&run(&script));
        assert!(lines.complete);
        assert_eq!(lines.get("r0", "changed"), Some("one"));
        assert!(lines.get("r0", "done").is_some());
        assert!(lines.get("r1", "failed").is_some());
        assert_eq!(lines.get("r1", "changed"), None);
        assert!(lines.tag("r2").is_none());
    }

    #[test]
    fn stderr_of_a_failure_comes_back() {
        let script = apply_script(
            &[step("r0", "echo 'no such user: bob' >&2; exit 4\n", &[])],
            &[],
        );
        let lines = parse_lines(&run(&script));
        let err = crate::shell::decode(lines.get("r0", "failed").unwrap()).unwrap();
        assert_eq!(String::from_utf8(err).unwrap(), "no such user: bob\n");
    }

    #[test]
    fn handlers_run_once_at_the_end_only_when_notified() {
        let script = apply_script(
            &[
                step("r0", "rg_emit \"$rg_tag\" changed one\n", &[0]),
                step("r1", "true\n", &[1]),
                step("r2", "rg_emit \"$rg_tag\" changed two\n", &[0]),
            ],
            &[
                (
                    "h0".into(),
                    "echo h0-ran >&2; rg_emit \"$rg_tag\" changed reloaded\n",
                ),
                ("h1".into(), "rg_emit \"$rg_tag\" changed never\n"),
            ],
        );
        let out = run(&script);
        let lines = parse_lines(&out);
        assert!(lines.complete);
        assert_eq!(lines.all("h0", "changed"), ["reloaded"], "ran once");
        assert!(
            lines.tag("h1").is_none(),
            "not notified: r1 changed nothing"
        );
        let order: Vec<&str> = out
            .lines()
            .map(str::trim_end)
            .filter(|l| l.ends_with(" done"))
            .collect();
        assert_eq!(order, ["@r0 done", "@r1 done", "@r2 done", "@h0 done"]);
    }

    #[test]
    fn each_step_says_when_it_starts_and_ends_in_order() {
        let script = apply_script(
            &[
                step("r0", "rg_emit \"$rg_tag\" changed one\n", &[]),
                step("r1", "echo noise\n", &[]),
            ],
            &[],
        );
        let order: Vec<String> = run(&script)
            .lines()
            .filter(|l| l.starts_with("@r"))
            .map(|l| l.trim_end().to_string())
            .collect();
        assert_eq!(
            order,
            [
                "@r0 started",
                "@r0 changed one",
                "@r0 done",
                "@r1 started",
                "@r1 done"
            ]
        );
    }

    #[test]
    fn a_failure_keeps_the_handlers_from_running() {
        let script = apply_script(
            &[
                step("r0", "rg_emit \"$rg_tag\" changed one\n", &[0]),
                step("r1", "exit 1\n", &[]),
            ],
            &[("h0".into(), "rg_emit \"$rg_tag\" changed reloaded\n")],
        );
        let lines = parse_lines(&run(&script));
        assert!(lines.get("r1", "failed").is_some());
        assert!(lines.tag("h0").is_none());
    }

    #[test]
    fn the_script_shape_is_stable() {
        insta::assert_snapshot!(apply_script(
            &[step("r0", "rg_emit \"$rg_tag\" changed x\n", &[0])],
            &[("h0".into(), "rg_emit \"$rg_tag\" changed reloaded\n")],
        ));
    }
}
