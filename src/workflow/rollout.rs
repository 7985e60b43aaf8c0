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

use futures::StreamExt;
use serde::Serialize;

use crate::config::Project;
use crate::diagnostic::Diag;
use crate::engine::ledger::{self, FeaturesEnded, FeaturesResult};
use crate::engine::{self, EngineOptions, Job, RunReport};
use crate::report::rollout::{HostState, HostVerdict, RolloutReport};
use crate::report::{Event, Reporter};
use crate::transport::Target;
use crate::verify::{self, Outcome, ScenarioResult, Suite};

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

/// The flags of `converge` that make a rollout.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--canary N`.
    pub canary: Option<usize>,
    /// `--batch SIZE|PCT`.
    pub batch: Option<String>,
    /// `--max-fail N|PCT`.
    pub max_fail: Option<String>,
    /// `--verify`.
    pub verify: bool,
}

impl Rollout {
    /// `--canary`, `--batch`, `--max-fail` and `--verify` as a rollout, if any.
    pub fn of_flags(flags: &Flags) -> Result<Option<Rollout>, Diag> {
        let size = |flag: &str, text: &str| {
            Size::parse(text).map_err(|e| {
                Diag::plain(format!("{flag} {text}: {e}")).help(format!(
                    "{flag} takes a number of hosts (2) or a percentage of all the hosts (25%)"
                ))
            })
        };
        let batch = flags
            .batch
            .as_deref()
            .map(|b| size("--batch", b))
            .transpose()?;
        if let (Some(Size::Hosts(0) | Size::Percent(0)), Some(text)) = (batch, &flags.batch) {
            return Err(
                Diag::plain(format!("--batch {text}: a batch needs at least one host"))
                    .help("--batch 2 converges two hosts at a time; --batch 25% a quarter of them"),
            );
        }
        if flags.canary == Some(0) {
            return Err(
                Diag::plain("--canary 0: the canary needs at least one host")
                    .help("--canary 1 converges one host, and runs its features, before any other"),
            );
        }
        let max_fail = flags
            .max_fail
            .as_deref()
            .map(|m| size("--max-fail", m))
            .transpose()?;
        if flags.canary.is_none() && batch.is_none() {
            if let Some(text) = &flags.max_fail {
                return Err(Diag::plain(format!(
                    "--max-fail {text} bounds the failures of a rollout, but this converge is not one"
                ))
                .help("add --canary N or --batch SIZE to roll out in batches"));
            }
            return Ok(flags.verify.then(Rollout::verify_only));
        }
        Ok(Some(Rollout {
            canary: flags.canary.unwrap_or(0),
            batch,
            max_fail: max_fail.unwrap_or(Size::Hosts(0)),
            gated: true,
        }))
    }

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

/// What the features run with.
pub struct Features<'s> {
    /// The features, loaded and checked.
    pub suite: &'s Suite,
    /// How they run.
    pub options: verify::VerifyOptions,
}

/// Converge `jobs` batch by batch, running the features after each batch.
pub async fn run(
    project: &Project,
    jobs: Vec<Job<'_>>,
    options: &EngineOptions,
    reporter: &dyn Reporter,
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
            mode: engine::Mode::Converge,
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
            reporter.event(Event::Batch {
                index,
                count,
                canary: report.canary,
                hosts: &report.batches[index],
            });
        }
        let targets: Vec<Target> = batch.iter().map(|j| j.target.clone()).collect();
        let converged = super::contract::converge(
            project,
            features.suite,
            batch,
            options,
            &features.options,
            &|e| reporter.engine(e),
        )
        .await;
        let verdicts = verify_batch(&converged, &targets, options, features, index).await;
        reporter.event(Event::FeaturesDone(&verdicts.0));
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
    options: &EngineOptions,
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
        verify::run_features(features.suite, &ok, &features.options, None).await
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
                        .and_then(|s| s.unreachable().map(str::to_string))
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
                    FeaturesEnded::Passed
                } else {
                    FeaturesEnded::Failed
                },
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
    let written: Vec<(usize, Result<(), String>)> =
        futures::stream::iter(writes)
            .map(|(n, target, ledger)| async move {
                (n, ledger::record(&target, &ledger, timeout).await)
            })
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
