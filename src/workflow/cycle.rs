//! The red-green cycle of `redgreen test`, on fresh test hosts:
//!
//! 1. **create** the test hosts (in parallel),
//! 2. **verify (red)**: run the features and record which scenarios fail
//!    before anything is converged,
//! 3. **converge**,
//! 4. **verify (green)**: every scenario must pass,
//! 5. **converge again (idempotence)**: nothing may change; every resource
//!    that changes is named, with its diff,
//! 6. **destroy** (unless kept).
//!
//! A scenario that already passed before converge is flagged: it does not
//! test what the recipes do. What the cycle finds is a
//! [`crate::report::cycle::CycleReport`]; how it goes, phase by
//! phase, are [`Event`]s.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt;

use super::{Settings, cache, test_hosts};
use crate::config::Project;
use crate::diagnostic::Diags;
use crate::driver::{Driver, TestHostRecord, TestHostSpec};
use crate::engine::{self, HostOutcome, ResourceReport, RunReport, Status};
use crate::report::cycle::{
    Counts, CycleReport, HostCycle, Phase, PhaseSummary, Problem, ScenarioCycle,
};
use crate::report::{Event, Reporter};
use crate::transport::Target;
use crate::verify::{self, Outcome, ScenarioResult, Suite};

/// Which test hosts outlive the cycle.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    /// Every one (`--keep`).
    pub all: bool,
    /// Those that failed (`--keep-failed`).
    pub failed: bool,
}

/// Run the cycle on the test hosts of `specs`.
pub async fn run(
    project: &Project,
    driver: &dyn Driver,
    specs: &[TestHostSpec],
    suite: &Suite,
    settings: &Settings,
    keep: Keep,
    reporter: &dyn Reporter,
) -> Result<CycleReport, Diags> {
    let mut report = CycleReport {
        hosts: specs
            .iter()
            .map(|spec| HostCycle {
                host: spec.name.clone(),
                platform: spec.platform.clone(),
                phases: BTreeMap::new(),
                red: Counts::default(),
                green: Counts::default(),
                converge: None,
                not_idempotent: Vec::new(),
                idempotence_checked: false,
                problems: Vec::new(),
                kept: false,
                layers: Vec::new(),
            })
            .collect(),
        scenarios: Vec::new(),
        phases: BTreeMap::new(),
        unreachable: false,
        interrupted: false,
        green_run: verify::Report::default(),
    };
    let interrupt = &settings.interrupt;

    // Problems with the hosts' resources (bad input) come before any host is made.
    let jobs_for =
        |targets: &[Target]| engine::jobs(project, targets.to_vec(), &settings.overrides);
    let planned: Vec<Target> = specs
        .iter()
        .map(|spec| test_hosts::planned(project, spec))
        .collect();
    let planned_jobs = jobs_for(&planned)?;
    // Removals that wait for features (`after:`) need the three parts of a
    // contract converge, which snapshots of recipes cannot split.
    let layered = settings.snapshots && !planned_jobs.iter().any(super::contract::gated);

    // 1. Create, fresh: a test host left from before is destroyed first.
    // With snapshots, the host to converge is made from the deepest one at
    // the same time (the red phase runs on the fresh one).
    let started = Instant::now();
    start(reporter, Phase::Create, specs.len());
    let planned_jobs = &planned_jobs;
    type Created = (
        String,
        Result<TestHostRecord, String>,
        f64,
        Option<cache::Prepared>,
    );
    let records: Vec<Created> = futures::stream::iter(specs)
        .map(|spec| async move {
            let began = Instant::now();
            // The host from before goes first: it may be one made from a
            // snapshot, whose container has the name of the one made now.
            for name in [spec.name.clone(), cache::twin_name(&spec.name)] {
                if let Some(old) = driver.state().record(&name) {
                    let _ = driver.destroy(&old).await;
                }
            }
            let fresh = async {
                let show = |step: &str| {
                    reporter.event(Event::Creating {
                        host: &spec.name,
                        step,
                    })
                };
                driver.create(spec, &show).await.map_err(|e| e.to_string())
            };
            let from_snapshot = async {
                let job = planned_jobs.iter().find(|j| j.target.name == spec.name)?;
                if !layered {
                    return None;
                }
                let show = |step: &str| {
                    reporter.event(Event::Creating {
                        host: &spec.name,
                        step: &format!("from a snapshot: {step}"),
                    })
                };
                cache::prepare(project, driver, spec, &job.target, &job.resources, &show).await
            };
            let (result, prepared) = futures::join!(fresh, from_snapshot);
            (
                spec.name.clone(),
                result,
                began.elapsed().as_secs_f64(),
                prepared,
            )
        })
        .buffer_unordered(settings.concurrency.clamp(1, 8))
        .collect()
        .await;
    let mut targets = Vec::new();
    let mut prepared = BTreeMap::new();
    for (name, result, seconds, from_snapshot) in records {
        if let Some(from_snapshot) = from_snapshot {
            prepared.insert(name.clone(), from_snapshot);
        }
        let host = host_mut(&mut report, &name);
        host.phases.insert(Phase::Create, seconds);
        match result {
            Ok(record) => targets.push(test_hosts::target_of(
                project,
                driver,
                &record,
                settings.connect_timeout,
            )),
            Err(err) => {
                host.problems.push(Problem::NotCreated(err));
                report.unreachable = true;
            }
        }
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    let summary = PhaseSummary::Created {
        created: targets.len(),
        of: specs.len(),
    };
    finish(&mut report, reporter, Phase::Create, started, &summary);

    // 2. Verify before converge: red expected. A `within N seconds` step is
    // checked once rather than waited out.
    if !targets.is_empty() && !interrupt.is_set() {
        let started = Instant::now();
        start(reporter, Phase::Red, targets.len());
        let red = verify::run_features(suite, &targets, &settings.features(false), None).await;
        record_verify(
            &mut report,
            &red,
            Phase::Red,
            started.elapsed().as_secs_f64(),
        );
        let summary = PhaseSummary::Red {
            scenarios: red.scenarios.len(),
            failed: red.count(Outcome::Failed) + red.count(Outcome::Unreachable),
            passed: red.count(Outcome::Passed),
        };
        finish(&mut report, reporter, Phase::Red, started, &summary);
    }

    // 3. Converge.
    if !targets.is_empty() && !interrupt.is_set() {
        let started = Instant::now();
        start(reporter, Phase::Converge, targets.len());
        let jobs = jobs_for(&targets).unwrap_or_default();
        let options = settings.test_host_converge(project, false, interrupt.clone());
        let first = if layered {
            // From the deepest snapshot, layer by layer (see workflow::cache).
            let options = &options;
            let jobs: Vec<_> = jobs
                .into_iter()
                .map(|job| {
                    let from_snapshot = prepared.remove(&job.target.name);
                    (job, from_snapshot)
                })
                .collect();
            let layered: Vec<cache::Layered> = futures::stream::iter(jobs)
                .map(|(job, from_snapshot)| async move {
                    let spec = specs.iter().find(|s| s.name == job.target.name)?;
                    let applying = cache::Applying {
                        options,
                        connect_timeout: settings.connect_timeout,
                        reporter,
                    };
                    Some(
                        cache::converge(project, driver, spec, (job, from_snapshot), &applying)
                            .await,
                    )
                })
                .buffer_unordered(settings.concurrency.clamp(1, 8))
                .filter_map(futures::future::ready)
                .collect()
                .await;
            let mut hosts = Vec::new();
            for done in layered {
                host_mut(&mut report, &done.target.name).layers = done.layers;
                if let Some(target) = targets.iter_mut().find(|t| t.name == done.target.name) {
                    *target = done.target;
                }
                hosts.push(done.report);
            }
            RunReport {
                mode: engine::Mode::Converge,
                hosts,
            }
        } else {
            super::contract::converge(
                project,
                suite,
                jobs,
                &options,
                &settings.features(true),
                &|e| reporter.engine(e),
            )
            .await
        };
        for host in &first.hosts {
            let cycle = host_mut(&mut report, &host.host);
            cycle.phases.insert(Phase::Converge, host.seconds);
            match &host.outcome {
                HostOutcome::Ok => {}
                HostOutcome::Failed(reason) | HostOutcome::Refused(reason) => {
                    cycle.problems.push(Problem::ConvergeFailed(reason.clone()))
                }
                HostOutcome::Unreachable(reason) => {
                    cycle.problems.push(Problem::Unreachable {
                        phase: Phase::Converge,
                        reason: reason.clone(),
                    });
                    report.unreachable = true;
                }
                HostOutcome::Interrupted(_) => report.interrupted = true,
            }
            host_mut(&mut report, &host.host).converge = Some(host.clone());
        }
        finish(
            &mut report,
            reporter,
            Phase::Converge,
            started,
            &converged(&first),
        );
    }

    // 4. Verify after converge: everything must pass.
    if !targets.is_empty() && !interrupt.is_set() {
        let started = Instant::now();
        start(reporter, Phase::Green, targets.len());
        let green = verify::run_features(suite, &targets, &settings.features(true), None).await;
        record_verify(
            &mut report,
            &green,
            Phase::Green,
            started.elapsed().as_secs_f64(),
        );
        for result in &green.scenarios {
            match result.status {
                Outcome::Failed => {
                    host_mut(&mut report, &result.host)
                        .problems
                        .push(Problem::ScenarioFailed {
                            scenario: result.scenario.clone(),
                            id: result.id(),
                        })
                }
                Outcome::Unreachable => report.unreachable = true,
                // A waiver accepts the failure until its date.
                Outcome::Passed | Outcome::Skipped | Outcome::Waived => {}
            }
        }
        let summary = PhaseSummary::Green {
            scenarios: green.scenarios.len(),
            passed: green.count(Outcome::Passed),
            failed: green.count(Outcome::Failed) + green.count(Outcome::Unreachable),
        };
        report.green_run = green;
        finish(&mut report, reporter, Phase::Green, started, &summary);
    }

    // 5. Converge again: nothing may change.
    if !targets.is_empty() && !interrupt.is_set() {
        let started = Instant::now();
        start(reporter, Phase::Idempotence, targets.len());
        let jobs = jobs_for(&targets).unwrap_or_default();
        let options = settings.test_host_converge(project, true, interrupt.clone());
        let again = super::contract::converge(
            project,
            suite,
            jobs,
            &options,
            &settings.features(true),
            &|e| reporter.engine(e),
        )
        .await;
        for host in &again.hosts {
            let cycle = host_mut(&mut report, &host.host);
            cycle.phases.insert(Phase::Idempotence, host.seconds);
            cycle.idempotence_checked = host.outcome == HostOutcome::Ok;
            let changed: Vec<ResourceReport> = host
                .resources
                .iter()
                .chain(&host.handlers)
                .filter(|r| r.status == Status::Changed)
                .cloned()
                .collect();
            if !changed.is_empty() {
                let titles = changed.iter().map(|r| r.title.clone()).collect();
                cycle.problems.push(Problem::NotIdempotent(titles));
            }
            cycle.not_idempotent = changed;
            if let HostOutcome::Failed(reason) = &host.outcome {
                cycle
                    .problems
                    .push(Problem::SecondConvergeFailed(reason.clone()));
            }
            if let HostOutcome::Unreachable(reason) = &host.outcome {
                cycle.problems.push(Problem::Unreachable {
                    phase: Phase::Idempotence,
                    reason: reason.clone(),
                });
                report.unreachable = true;
            }
        }
        let changed = report.hosts.iter().map(|h| h.not_idempotent.len()).sum();
        let summary = PhaseSummary::Idempotence { changed };
        finish(&mut report, reporter, Phase::Idempotence, started, &summary);
    }
    if interrupt.is_set() {
        report.interrupted = true;
    }

    // 6. Destroy (unless kept).
    let started = Instant::now();
    let to_destroy: Vec<TestHostRecord> = report
        .hosts
        .iter_mut()
        .filter_map(|host| {
            let kept = keep.all || (keep.failed && !host.passed());
            host.kept = kept && driver.state().record(&host.host).is_some();
            if kept {
                None
            } else {
                driver.state().record(&host.host)
            }
        })
        .collect();
    // A host made from a snapshot that never took its place (the run was
    // interrupted, or a host failed before its converge) is never kept.
    let twins: Vec<TestHostRecord> = report
        .hosts
        .iter()
        .filter_map(|host| driver.state().record(&cache::twin_name(&host.host)))
        .collect();
    start(reporter, Phase::Destroy, to_destroy.len());
    let destroyed: Vec<(String, f64)> = futures::stream::iter(&to_destroy)
        .map(|record| async move {
            let began = Instant::now();
            let _ = driver.destroy(record).await;
            (record.name.clone(), began.elapsed().as_secs_f64())
        })
        .buffer_unordered(8)
        .collect()
        .await;
    futures::future::join_all(twins.iter().map(|twin| driver.destroy(twin))).await;
    // What the test hosts shared (a network) goes once they are all gone:
    // part of destroying each of them.
    let cleanup = Instant::now();
    driver.cleanup().await;
    let cleanup = cleanup.elapsed().as_secs_f64();
    for (name, seconds) in destroyed {
        host_mut(&mut report, &name)
            .phases
            .insert(Phase::Destroy, seconds + cleanup);
    }
    let summary = PhaseSummary::Destroyed {
        destroyed: to_destroy.len(),
        kept: report
            .hosts
            .iter()
            .filter(|h| h.kept)
            .map(|h| h.host.clone())
            .collect(),
    };
    finish(&mut report, reporter, Phase::Destroy, started, &summary);
    Ok(report)
}

fn host_mut<'r>(report: &'r mut CycleReport, name: &str) -> &'r mut HostCycle {
    report
        .hosts
        .iter_mut()
        .find(|h| h.host == name)
        .expect("every host of the run has a place in the report")
}

/// A phase starts on so many test hosts.
fn start(reporter: &dyn Reporter, phase: Phase, hosts: usize) {
    reporter.event(Event::PhaseStarted { phase, hosts });
}

/// A phase ended: it took as long as its slowest host (the figure the
/// summary shows per host), or its wall time when no host has a time.
fn finish(
    report: &mut CycleReport,
    reporter: &dyn Reporter,
    phase: Phase,
    started: Instant,
    summary: &PhaseSummary,
) {
    let seconds = report
        .hosts
        .iter()
        .filter_map(|h| h.phases.get(&phase).copied())
        .reduce(f64::max)
        .unwrap_or_else(|| started.elapsed().as_secs_f64());
    report.phases.insert(phase, seconds);
    reporter.event(Event::PhaseDone {
        phase,
        seconds,
        summary,
    });
}

/// What a converge of the test hosts did.
fn converged(run: &RunReport) -> PhaseSummary {
    PhaseSummary::Converged {
        changed: run.hosts.iter().map(|h| h.count(Status::Changed)).sum(),
        failed: run.hosts.iter().map(|h| h.count(Status::Failed)).sum(),
        unreachable: run
            .hosts
            .iter()
            .filter(|h| matches!(h.outcome, HostOutcome::Unreachable(_)))
            .count(),
    }
}

fn record_verify(report: &mut CycleReport, run: &verify::Report, phase: Phase, seconds: f64) {
    for result in &run.scenarios {
        record_scenario(report, result, phase);
    }
    for summary in &run.hosts {
        let host = host_mut(report, &summary.host);
        let counts = Counts {
            passed: summary.passed,
            total: summary.passed + summary.failed + summary.skipped,
        };
        match phase {
            Phase::Red => host.red = counts,
            _ => host.green = counts,
        }
        // Scenarios of all hosts run at once: each host's share is the phase.
        host.phases.insert(phase, seconds);
        if let Some(reason) = summary.unreachable() {
            host.problems.push(Problem::Unreachable {
                phase,
                reason: reason.to_string(),
            });
            report.unreachable = true;
        }
    }
}

fn record_scenario(report: &mut CycleReport, result: &ScenarioResult, phase: Phase) {
    let id = result.id();
    let entry = match report
        .scenarios
        .iter_mut()
        .find(|s| s.id == id && s.host == result.host)
    {
        Some(entry) => entry,
        None => {
            report.scenarios.push(ScenarioCycle {
                id: id.clone(),
                feature: result.feature.clone(),
                scenario: result.scenario.clone(),
                host: result.host.clone(),
                red: None,
                green: None,
                failure: None,
                red_failure: None,
            });
            report.scenarios.last_mut().expect("just pushed")
        }
    };
    match phase {
        Phase::Red => {
            entry.red = Some(result.status);
            entry.red_failure = result.failure.clone();
        }
        _ => {
            entry.green = Some(result.status);
            entry.failure = result.failure.clone();
        }
    }
}
