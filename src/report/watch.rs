//! `redgreen watch` for people: a line per test host as the watch starts,
//! then a line per round, red or green with the time from the save to the
//! result, and under it each failure.

use owo_colors::{OwoColorize, Stream};

use crate::diagnostic::Diags;
use crate::verify::ScenarioResult;

/// Something the watch does.
#[derive(Debug, Clone, Copy)]
pub enum Watch<'a> {
    /// A test host that is up is used as it is.
    Using {
        /// The test host.
        host: &'a str,
    },
    /// A test host is made.
    Creating {
        /// The test host.
        host: &'a str,
    },
    /// A test host could not be made.
    CannotCreate {
        /// The test host.
        host: &'a str,
        /// Why.
        error: &'a str,
    },
    /// The watch waits for saves, on so many test hosts.
    Watching {
        /// How many test hosts.
        hosts: usize,
    },
    /// A save was seen: a round starts.
    Running {
        /// The files that changed (or `start`).
        what: &'a str,
    },
    /// A round ended.
    Round(&'a Round),
    /// Ctrl-C: the watch is over.
    Stopped,
}

/// One round: what was saved, what converged, what the features said.
#[derive(Debug, Clone)]
pub struct Round {
    /// The time of day it started (`HH:MM:SS`).
    pub time: String,
    /// The files that changed (or `start`).
    pub what: String,
    /// The converge of the test hosts the change affects, if any.
    pub converge: Option<Converged>,
    /// How it ended.
    pub ended: Ended,
}

/// The converge of a round.
#[derive(Debug, Clone)]
pub struct Converged {
    /// Test hosts converged.
    pub hosts: usize,
    /// Resources changed.
    pub changed: usize,
    /// What failed: `HOST: why`, a host or a resource each.
    pub failed: Vec<String>,
}

/// How a round ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// A file has a mistake: nothing (more) ran.
    Mistake(Diags),
    /// The features ran (or no test host was affected).
    Verified {
        /// No test host is affected by the change.
        unaffected: bool,
        /// Scenarios that passed.
        passed: usize,
        /// Scenarios that failed or could not reach their host.
        failed: Vec<ScenarioResult>,
        /// How long it took: from the save, or (the first round) in all.
        took: Took,
    },
}

/// How long a round took.
#[derive(Debug, Clone, Copy)]
pub enum Took {
    /// Seconds from the save to the result.
    FromSave(f64),
    /// Seconds in all (the first round, which follows no save).
    InAll(f64),
}

/// The text of one event: (stdout, stderr).
pub fn text(event: &Watch<'_>) -> (String, String) {
    match event {
        Watch::Using { host } => (format!("using {host} (already up)\n"), String::new()),
        Watch::Creating { host } => (format!("creating {host}...\n"), String::new()),
        Watch::CannotCreate { host, error } => {
            (String::new(), format!("cannot create {host}: {error}\n"))
        }
        Watch::Watching { hosts } => (
            format!(
                "watching recipes/, templates/, files/, features/ and redgreen.yml on {hosts} test host(s); Ctrl-C to stop\n"
            ),
            String::new(),
        ),
        Watch::Running { what } => (
            format!("running… ({})\n", crate::output::shown(what)),
            String::new(),
        ),
        Watch::Round(round) => round_text(round),
        Watch::Stopped => (
            "\nstopped; the test hosts are kept (`redgreen hosts destroy` removes them)\n".into(),
            String::new(),
        ),
    }
}

fn round_text(round: &Round) -> (String, String) {
    let mut line = format!("[{}] {} →", round.time, round.what);
    let mut converge_failed = false;
    if let Some(converge) = &round.converge {
        converge_failed = !converge.failed.is_empty();
        line.push_str(&format!(
            " converge {} host(s): {} changed",
            converge.hosts, converge.changed
        ));
        if converge_failed {
            line.push_str(&format!(
                ", failed:\n    {}\n  ",
                converge.failed.join("\n    ")
            ));
        } else {
            line.push_str(" ·");
        }
    }
    let (unaffected, passed, failed, took) = match &round.ended {
        Ended::Mistake(diags) => {
            return (
                format!("{line} a mistake, nothing ran:\n"),
                super::diagnostics(diags),
            );
        }
        Ended::Verified {
            unaffected,
            passed,
            failed,
            took,
        } => (*unaffected, *passed, failed, *took),
    };
    if unaffected {
        line.push_str(" no test host is affected");
    } else {
        line.push_str(&format!(
            " verify: {passed} passed, {} failed",
            failed.len()
        ));
    }
    let green = failed.is_empty() && !converge_failed;
    let verdict = if green {
        "GREEN"
            .if_supports_color(Stream::Stdout, |v| v.green())
            .to_string()
    } else {
        "RED"
            .if_supports_color(Stream::Stdout, |v| v.red())
            .to_string()
    };
    let took = match took {
        Took::FromSave(seconds) => format!("{seconds:.1}s from save to result"),
        Took::InAll(seconds) => format!("in {seconds:.1}s"),
    };
    let mut out = format!("{line} → {verdict} ({took})\n");
    for scenario in failed {
        out.push_str(&format!(
            "    ✘ {} {} on {}\n",
            scenario.id(),
            scenario.scenario,
            scenario.host
        ));
        match &scenario.failure {
            Some(failure) => {
                out.push_str(&format!("        {}\n", failure.step));
                for line in failure.message.lines().take(6) {
                    out.push_str(&format!("        {line}\n"));
                }
            }
            None => out.push_str("        unreachable\n"),
        }
    }
    (out, String::new())
}
