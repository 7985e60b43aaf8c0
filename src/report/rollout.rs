//! Rollouts and `converge --verify` on the terminal: each batch's heading,
//! how the features ended on each host, and at the end which hosts are on
//! the new state and which are not.

use owo_colors::{OwoColorize, Stream};

use crate::workflow::rollout::{HostState, HostVerdict, RolloutReport};

/// How the features ended on the hosts of a batch: a line per host, then a
/// line per failed scenario.
pub fn features_text(verdicts: &[HostVerdict]) -> String {
    let mut out = String::new();
    for verdict in verdicts {
        let host = &verdict.host;
        match verdict.state {
            HostState::Passed => out.push_str(&format!(
                "{host}  {}  {} scenario{} passed\n",
                "features passed".if_supports_color(Stream::Stdout, |w| w.green()),
                verdict.passed,
                if verdict.passed == 1 { "" } else { "s" }
            )),
            HostState::FeaturesFailed => out.push_str(&format!(
                "{host}  {}  {} of {} scenarios failed\n",
                "features FAILED".if_supports_color(Stream::Stdout, |w| w.red()),
                verdict.failed,
                verdict.passed + verdict.failed
            )),
            // Its converge said why already; its features did not run.
            _ => out.push_str(&format!(
                "{host}  {}  its converge did not succeed\n",
                "features not run".if_supports_color(Stream::Stdout, |w| w.dimmed())
            )),
        }
        for failure in &verdict.failures {
            out.push_str(&format!("    {}\n", failure.replace('\n', "\n      ")));
        }
        if verdict.state == HostState::Passed || verdict.state == HostState::FeaturesFailed {
            for note in &verdict.notes {
                out.push_str(&format!("    note: {note}\n"));
            }
        }
    }
    out
}

/// The end of a rollout: whether it went through or where it stopped, and
/// every host by where it ended up.
pub fn summary(report: &RolloutReport) -> String {
    let mut out = String::new();
    let total = report.hosts.len();
    let failed = report.failed();
    let head = if report.gated {
        match &report.stopped {
            Some(why) => {
                let done = report.hosts.iter().filter(|h| h.batch.is_some()).count();
                let batch = report
                    .hosts
                    .iter()
                    .filter_map(|h| h.batch)
                    .max()
                    .unwrap_or(0);
                let after = if batch == 0 && report.canary {
                    "the canary".to_string()
                } else {
                    format!("batch {} of {}", batch + 1, report.batches.len())
                };
                format!(
                    "Rollout STOPPED after {after}: {why}. {done} of {total} hosts were worked on; the rest were not touched."
                )
                .if_supports_color(Stream::Stdout, |t| t.red())
                .to_string()
            }
            None => format!(
                "Rollout done: {} batch{} over {total} host{}, {failed} failed (--max-fail allows {}).",
                report.batches.len(),
                if report.batches.len() == 1 { "" } else { "es" },
                if total == 1 { "" } else { "s" },
                report.allowed_failures
            ),
        }
    } else {
        format!("Features after converge: {failed} of {total} hosts failed.")
    };
    out.push_str(&format!("\n{head}\n"));
    let order = [
        HostState::Passed,
        HostState::FeaturesFailed,
        HostState::ConvergeFailed,
        HostState::Unreachable,
        HostState::Refused,
        HostState::Interrupted,
        HostState::Untouched,
    ];
    let width = order
        .iter()
        .filter(|s| report.hosts.iter().any(|h| h.state == **s))
        .map(|s| s.words().len())
        .max()
        .unwrap_or(0);
    for state in order {
        let hosts: Vec<&str> = report
            .hosts
            .iter()
            .filter(|h| h.state == state)
            .map(|h| h.host.as_str())
            .collect();
        if hosts.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "  {:<width$}  {}\n",
            format!("{}:", state.words()),
            hosts.join(", "),
            width = width + 1
        ));
    }
    out
}
