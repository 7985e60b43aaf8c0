//! Rollouts and `converge --verify` on the terminal: each batch's heading,
//! how the features ended on each host, and at the end which hosts are on
//! the new state and which are not; and what a rollout reports.

use owo_colors::{OwoColorize, Stream};

use serde::Serialize;

use crate::engine::RunReport;
use crate::verify::{self, HostSummary, Outcome, Reached, ScenarioResult};

/// Where a host ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Converged, and its features passed: on the new state.
    Passed,
    /// Converged (on the new state), but a scenario failed on it.
    FeaturesFailed,
    /// Its converge failed: partly changed, not on the new state.
    ConvergeFailed,
    /// It could not be reached: not changed.
    Unreachable,
    /// Its plan was refused: not changed.
    Refused,
    /// Ctrl-C came before its changes were applied.
    Interrupted,
    /// The rollout stopped before its batch: not touched.
    Untouched,
}

impl HostState {
    /// True when the host counts against `--max-fail`.
    pub fn failed(self) -> bool {
        matches!(
            self,
            HostState::FeaturesFailed
                | HostState::ConvergeFailed
                | HostState::Unreachable
                | HostState::Refused
        )
    }

    /// In words, for the summary.
    pub fn words(self) -> &'static str {
        match self {
            HostState::Passed => "on the new state, features passed",
            HostState::FeaturesFailed => "on the new state, features FAILED",
            HostState::ConvergeFailed => "converge failed (partly changed)",
            HostState::Unreachable => "unreachable (not changed)",
            HostState::Refused => "refused (not changed)",
            HostState::Interrupted => "interrupted (not changed)",
            HostState::Untouched => "not converged (untouched)",
        }
    }
}

/// How one host of a rollout ended.
#[derive(Debug, Clone, Serialize)]
pub struct HostVerdict {
    /// The host.
    pub host: String,
    /// Its batch (0 is the canary when there is one); None when untouched.
    pub batch: Option<usize>,
    /// Where it ended up.
    pub state: HostState,
    /// Scenarios that passed on it.
    pub passed: usize,
    /// Scenarios that failed on it.
    pub failed: usize,
    /// Each failed scenario: `name (file:line): why`.
    pub failures: Vec<String>,
    /// Why its converge failed, and anything else worth knowing.
    pub notes: Vec<String>,
}

/// Everything a rollout did.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutReport {
    /// Every host that was worked on, as converge reports them.
    pub converge: RunReport,
    /// The hosts of each batch, in order (the canary first, if any).
    pub batches: Vec<Vec<String>>,
    /// Whether the first batch is a canary.
    pub canary: bool,
    /// Whether the rollout could stop (false for `converge --verify`).
    pub gated: bool,
    /// How many failed hosts `--max-fail` allows.
    pub allowed_failures: usize,
    /// Every host, in order.
    pub hosts: Vec<HostVerdict>,
    /// Why the rollout stopped before its last batch.
    pub stopped: Option<String>,
    /// Every (scenario, host) result.
    pub scenarios: Vec<ScenarioResult>,
}

impl RolloutReport {
    /// 130 when interrupted, 3 when a host was unreachable, 1 when a host
    /// failed or the rollout stopped, else 0.
    pub fn exit_code(&self) -> i32 {
        let mut code = self.converge.exit_code();
        for host in &self.hosts {
            code = code.max(match host.state {
                HostState::Passed | HostState::Untouched => crate::exit::OK,
                HostState::Unreachable => crate::exit::UNREACHABLE,
                HostState::Interrupted => crate::exit::INTERRUPTED,
                _ => crate::exit::FAILED,
            });
        }
        if self.stopped.is_some() {
            code = code.max(crate::exit::FAILED);
        }
        code
    }

    /// How many hosts failed.
    pub fn failed(&self) -> usize {
        self.hosts.iter().filter(|h| h.state.failed()).count()
    }

    /// Its features as one verify report: every scenario, and per host how
    /// its scenarios ended.
    pub fn features(&self) -> verify::Report {
        let mut hosts: Vec<HostSummary> = Vec::new();
        for scenario in &self.scenarios {
            let index = match hosts.iter().position(|h| h.host == scenario.host) {
                Some(index) => index,
                None => {
                    hosts.push(HostSummary {
                        host: scenario.host.clone(),
                        outcome: Reached::Ok,
                        passed: 0,
                        failed: 0,
                        skipped: 0,
                        round_trips: 0,
                    });
                    hosts.len() - 1
                }
            };
            let host = &mut hosts[index];
            match scenario.status {
                // A waived failure does not stop a rollout (it is shown as waived).
                Outcome::Passed | Outcome::Waived => host.passed += 1,
                Outcome::Failed => host.failed += 1,
                Outcome::Skipped => host.skipped += 1,
                Outcome::Unreachable => {
                    let reason = scenario
                        .failure
                        .as_ref()
                        .map_or("cannot be reached", |f| f.message.as_str());
                    host.outcome = Reached::Unreachable(reason.to_string());
                }
            }
        }
        verify::Report {
            scenarios: self.scenarios.clone(),
            hosts,
        }
    }
}

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

/// What a rollout writes at its end: for people, each host's resources and
/// features (unless they were shown live), then the recap and the summary;
/// else the JSON.
pub fn end(format: super::Format, report: &RolloutReport, live: bool) -> String {
    if format != super::Format::Pretty {
        return super::format::json(report);
    }
    let mut text = String::new();
    if !live {
        for host in &report.converge.hosts {
            text.push_str(&super::converge::converge_text(host));
        }
        text.push_str(&features_text(&report.hosts));
    }
    text.push_str(&super::converge::recap(&report.converge));
    text.push_str(&summary(report));
    text
}
