//! Rollouts: converge a fleet a few hosts at a time, gated by the features.
//!
//! The hosts are split into batches, in the order they were selected: the
//! canary (the first `--canary N` hosts), then batches of `--batch SIZE`
//! hosts or `--batch PCT` of all the hosts (rounded up), or everything left
//! at once without `--batch`. Each batch is converged, then the features
//! that select its hosts run on the hosts that converged, and each host's
//! ledger records how its features ended. A host fails when its converge
//! fails (or it is refused or unreachable) or when a scenario fails on it.
//! The rollout goes on to the next batch only while no canary host failed
//! and the failed hosts of the whole rollout are at most `--max-fail` (a
//! number of hosts, or a percentage of all of them, rounded down; 0 by
//! default). Hosts of the batches after a stop are not touched.
//!
//! `converge --verify` is the same with one batch of every host and no gate.

use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use crate::config::Project;
use crate::engine::{self, Job, Observer, Options, RunReport};
use crate::ledger::{self, FeaturesResult};
use crate::transport::Script;
use crate::transport::Target;
use crate::verify::{self, Outcome, Reporters, ScenarioResult, Suite};

/// A number of hosts, or a percentage of all the hosts of the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    /// So many hosts.
    Hosts(usize),
    /// This percentage of all the hosts.
    Percent(u32),
}

impl Size {
    /// `3` or `25%`.
    pub fn parse(text: &str) -> Result<Size, String> {
        let text = text.trim();
        match text.strip_suffix('%') {
            Some(number) => match number.trim().parse::<u32>() {
                Ok(p) if p <= 100 => Ok(Size::Percent(p)),
                Ok(p) => Err(format!("{p}% is more than all the hosts (at most 100%)")),
                Err(_) => Err(format!(
                    "'{text}' is not a percentage (a whole number then %, like 25%)"
                )),
            },
            None => text.parse::<usize>().map(Size::Hosts).map_err(|_| {
                format!(
                    "'{text}' is neither a number of hosts (like 2) nor a percentage (like 25%)"
                )
            }),
        }
    }

    /// A batch of this size out of `total` hosts: a percentage is rounded up,
    /// and a batch has at least one host.
    pub fn batch_of(self, total: usize) -> usize {
        match self {
            Size::Hosts(n) => n,
            Size::Percent(p) => (total * p as usize).div_ceil(100),
        }
        .max(1)
    }

    /// How many failed hosts this bound allows out of `total`: a percentage
    /// is rounded down (10% of 7 hosts allows none).
    pub fn allowed_of(self, total: usize) -> usize {
        match self {
            Size::Hosts(n) => n,
            Size::Percent(p) => total * p as usize / 100,
        }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Size::Hosts(n) => write!(f, "{n}"),
            Size::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// How a rollout goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// Hosts converged and verified first, alone; any failure among them stops.
    pub canary: usize,
    /// The size of each batch after the canary (None: all the rest at once).
    pub batch: Option<Size>,
    /// How many failed hosts the whole rollout tolerates.
    pub max_fail: Size,
    /// False for `converge --verify`: one batch, nothing to stop.
    pub gated: bool,
}

impl Rollout {
    /// `converge --verify`: every host at once, then the features.
    pub fn verify_only() -> Rollout {
        Rollout {
            canary: 0,
            batch: None,
            max_fail: Size::Hosts(usize::MAX),
            gated: false,
        }
    }

    /// The batches of `total` hosts, as the number of hosts in each.
    pub fn batches(&self, total: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut left = total;
        let canary = self.canary.min(left);
        if canary > 0 {
            out.push(canary);
            left -= canary;
        }
        let size = self.batch.map_or(left, |b| b.batch_of(total)).max(1);
        while left > 0 {
            let n = size.min(left);
            out.push(n);
            left -= n;
        }
        out
    }
}

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
}

/// What the features run with.
pub struct Features<'s> {
    /// The features, loaded and checked.
    pub suite: &'s Suite,
    /// How they run.
    pub options: verify::Options,
}

/// Converge `jobs` batch by batch, running the features after each batch.
pub async fn run(
    project: &Project,
    jobs: Vec<Job<'_>>,
    options: &Options,
    observer: Arc<dyn Observer>,
    rollout: &Rollout,
    features: &Features<'_>,
) -> RolloutReport {
    let total = jobs.len();
    let names: Vec<String> = jobs.iter().map(|j| j.target.name.clone()).collect();
    let sizes = rollout.batches(total);
    let mut batches: Vec<Vec<Job<'_>>> = Vec::new();
    let mut jobs = jobs.into_iter();
    for size in &sizes {
        batches.push(jobs.by_ref().take(*size).collect());
    }
    let mut report = RolloutReport {
        converge: RunReport {
            mode: "converge",
            hosts: Vec::new(),
        },
        batches: batches
            .iter()
            .map(|b| b.iter().map(|j| j.target.name.clone()).collect())
            .collect(),
        canary: rollout.canary > 0,
        gated: rollout.gated,
        allowed_failures: rollout.max_fail.allowed_of(total),
        hosts: Vec::new(),
        stopped: None,
        scenarios: Vec::new(),
    };
    let count = batches.len();
    for (index, batch) in batches.into_iter().enumerate() {
        if options.interrupt.is_set() {
            report.stopped = Some("interrupted (Ctrl-C)".into());
            break;
        }
        if rollout.gated {
            let hosts: Vec<&str> = batch.iter().map(|j| j.target.name.as_str()).collect();
            observer.batch(&if index == 0 && report.canary {
                format!("Canary: {}", hosts.join(", "))
            } else {
                format!("Batch {} of {count}: {}", index + 1, hosts.join(", "))
            });
        }
        let targets: Vec<Target> = batch.iter().map(|j| j.target.clone()).collect();
        let converged = engine::run(project, batch, options, observer.clone()).await;
        let verdicts = verify_batch(&converged, &targets, options, features, index).await;
        observer.features_done(&verdicts.0);
        report.scenarios.extend(verdicts.1);
        report.hosts.extend(verdicts.0);
        report.converge.hosts.extend(converged.hosts);

        if !rollout.gated || index + 1 == count {
            continue;
        }
        let failed = report.failed();
        let failed_here: Vec<&str> = report
            .hosts
            .iter()
            .filter(|h| h.batch == Some(index) && h.state.failed())
            .map(|h| h.host.as_str())
            .collect();
        if index == 0 && report.canary && !failed_here.is_empty() {
            report.stopped = Some(format!("the canary failed on {}", failed_here.join(", ")));
        } else if failed > report.allowed_failures {
            report.stopped = Some(format!(
                "{failed} host{} failed ({}), more than --max-fail allows ({})",
                if failed == 1 { "" } else { "s" },
                report
                    .hosts
                    .iter()
                    .filter(|h| h.state.failed())
                    .map(|h| h.host.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                report.allowed_failures
            ));
        } else if report
            .hosts
            .iter()
            .any(|h| h.state == HostState::Interrupted)
        {
            report.stopped = Some("interrupted (Ctrl-C)".into());
        }
        if report.stopped.is_some() {
            break;
        }
    }
    for name in names.iter().skip(report.hosts.len()) {
        report.hosts.push(HostVerdict {
            host: name.clone(),
            batch: None,
            state: HostState::Untouched,
            passed: 0,
            failed: 0,
            failures: Vec::new(),
            notes: Vec::new(),
        });
    }
    report
}

/// Run the features on the hosts of a batch that converged, and record the
/// result in their ledgers.
async fn verify_batch(
    converged: &RunReport,
    targets: &[Target],
    options: &Options,
    features: &Features<'_>,
    index: usize,
) -> (Vec<HostVerdict>, Vec<ScenarioResult>) {
    use crate::engine::HostOutcome;
    let ok: Vec<Target> = converged
        .hosts
        .iter()
        .filter(|h| h.outcome == HostOutcome::Ok)
        .filter_map(|h| targets.iter().find(|t| t.name == h.host).cloned())
        .collect();
    let results = if ok.is_empty() {
        verify::Report::default()
    } else {
        verify::run_features(features.suite, &ok, &features.options, Reporters::none()).await
    };
    let mut verdicts: Vec<HostVerdict> = converged
        .hosts
        .iter()
        .map(|h| {
            let mine: Vec<&ScenarioResult> = results
                .scenarios
                .iter()
                .filter(|s| s.host == h.host)
                .collect();
            let failures: Vec<String> = mine
                .iter()
                .filter(|s| matches!(s.status, Outcome::Failed | Outcome::Unreachable))
                .map(|s| {
                    format!(
                        "{} ({}): {}",
                        s.scenario,
                        s.id(),
                        s.failure
                            .as_ref()
                            .map_or("failed".to_string(), |f| f.message.clone())
                    )
                })
                .collect();
            let mut notes = Vec::new();
            let state = match &h.outcome {
                HostOutcome::Ok => {
                    if let Some(reason) = results
                        .hosts
                        .iter()
                        .find(|s| s.host == h.host)
                        .and_then(|s| s.reason.clone())
                    {
                        notes.push(format!("unreachable while its features ran: {reason}"));
                        HostState::FeaturesFailed
                    } else if failures.is_empty() {
                        if mine.is_empty() {
                            notes.push("no scenario selects this host".into());
                        }
                        HostState::Passed
                    } else {
                        HostState::FeaturesFailed
                    }
                }
                HostOutcome::Failed(why) => {
                    notes.push(why.clone());
                    HostState::ConvergeFailed
                }
                HostOutcome::Unreachable(why) => {
                    notes.push(why.lines().next().unwrap_or("").to_string());
                    HostState::Unreachable
                }
                HostOutcome::Refused(why) => {
                    notes.push(why.clone());
                    HostState::Refused
                }
                HostOutcome::Interrupted(why) => {
                    notes.push(why.clone());
                    HostState::Interrupted
                }
            };
            HostVerdict {
                host: h.host.clone(),
                batch: Some(index),
                state,
                passed: mine.iter().filter(|s| s.status == Outcome::Passed).count(),
                failed: failures.len(),
                failures,
                notes,
            }
        })
        .collect();

    // One more round trip per verified host: its ledger gets the features' result.
    let writes: Vec<(usize, Target, ledger::Ledger)> = verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v.state, HostState::Passed | HostState::FeaturesFailed))
        .filter_map(|(n, v)| {
            let host = converged.hosts.iter().find(|h| h.host == v.host)?;
            let mut ledger = host.ledger.clone()?;
            ledger.features = Some(FeaturesResult {
                result: if v.state == HostState::Passed {
                    "passed"
                } else {
                    "failed"
                }
                .into(),
                passed: v.passed,
                failed: v.failed,
                at: ledger::now(),
                commit: options.revision.commit.clone(),
            });
            let target = targets.iter().find(|t| t.name == v.host)?.clone();
            Some((n, target, ledger))
        })
        .collect();
    let timeout = options.command_timeout;
    let written: Vec<(usize, Result<(), String>)> = futures::stream::iter(writes)
        .map(
            |(n, target, ledger)| async move { (n, write_ledger(&target, &ledger, timeout).await) },
        )
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    for (n, result) in written {
        if let Err(why) = result {
            verdicts[n]
                .notes
                .push(format!("the features' result could not be recorded: {why}"));
        }
    }
    (verdicts, results.scenarios)
}

async fn write_ledger(
    target: &Target,
    ledger: &ledger::Ledger,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let transport = crate::transport::connect(target)
        .await
        .map_err(|e| e.to_string())?;
    let output = transport
        .run(
            &Script::root(ledger::write_script(ledger, timeout))
                .with_timeout(ledger::locked_timeout(timeout)),
        )
        .await;
    transport.close().await;
    let output = output.map_err(|e| e.to_string())?;
    let lines = crate::shell::parse_lines(&output.stdout_text());
    if let Some(failure) = ledger::Lock::of(&lines)
        .refusal()
        .or_else(|| ledger::write_failure(&lines))
    {
        return Err(failure);
    }
    if lines.complete {
        Ok(())
    } else {
        Err(output.stderr_text().trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(canary: usize, batch: Option<&str>) -> Rollout {
        Rollout {
            canary,
            batch: batch.map(|b| Size::parse(b).unwrap()),
            max_fail: Size::Hosts(0),
            gated: true,
        }
    }

    #[test]
    fn a_batch_of_25_percent_of_7_hosts_is_2() {
        assert_eq!(Size::Percent(25).batch_of(7), 2);
        assert_eq!(rollout(1, Some("25%")).batches(7), [1, 2, 2, 2]);
        assert_eq!(rollout(0, Some("25%")).batches(7), [2, 2, 2, 1]);
        assert_eq!(rollout(1, Some("1%")).batches(3), [1, 1, 1]);
    }

    #[test]
    fn batches_of_hosts_and_the_rest_at_once() {
        assert_eq!(rollout(1, Some("2")).batches(6), [1, 2, 2, 1]);
        assert_eq!(rollout(2, None).batches(6), [2, 4]);
        assert_eq!(rollout(10, None).batches(3), [3]);
        assert_eq!(rollout(0, Some("100%")).batches(4), [4]);
        assert_eq!(Rollout::verify_only().batches(5), [5]);
        assert!(rollout(1, None).batches(0).is_empty());
    }

    #[test]
    fn max_fail_rounds_down() {
        assert_eq!(Size::Percent(10).allowed_of(7), 0);
        assert_eq!(Size::Percent(10).allowed_of(20), 2);
        assert_eq!(Size::Percent(20).allowed_of(6), 1);
        assert_eq!(Size::Hosts(2).allowed_of(6), 2);
        assert_eq!(Size::Percent(100).allowed_of(6), 6);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(Size::parse("25%"), Ok(Size::Percent(25)));
        assert_eq!(Size::parse("3"), Ok(Size::Hosts(3)));
        assert_eq!(Size::parse("0"), Ok(Size::Hosts(0)));
        assert!(Size::parse("150%").unwrap_err().contains("at most 100%"));
        assert!(Size::parse("x%").is_err());
        assert!(Size::parse("-1").is_err());
        assert!(Size::parse("many").is_err());
    }
}
