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
//! test what the recipes do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use crate::config::{Overrides, Project, test_host_name};
use crate::diagnostic::Diags;
use crate::driver::{Driver, TestHostRecord, TestHostSpec};
use crate::engine::{self, HostOutcome, Mode, Observer, ResourceReport, RunReport, Status};
use crate::transport::Target;
use crate::verify::{self, Outcome, ScenarioResult, Suite};

/// How a cycle goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep every test host afterwards.
    pub keep: bool,
    /// Keep the test hosts that failed.
    pub keep_failed: bool,
    /// Hosts worked on at once.
    pub concurrency: usize,
    /// How long one script may take.
    pub command_timeout: Duration,
    /// How long an SSH connection may take.
    pub connect_timeout: Duration,
    /// `--var` values.
    pub overrides: Overrides,
    /// Set by Ctrl-C.
    pub interrupt: Arc<engine::Interrupt>,
}

/// The phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Creating the test host.
    Create,
    /// Verify before converge (expected red).
    Red,
    /// The first converge.
    Converge,
    /// Verify after converge (must be green).
    Green,
    /// The second converge (must change nothing).
    Idempotence,
    /// Destroying the test host.
    Destroy,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 6] = [
        Phase::Create,
        Phase::Red,
        Phase::Converge,
        Phase::Green,
        Phase::Idempotence,
        Phase::Destroy,
    ];

    /// The phase as shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Phase::Create => "create",
            Phase::Red => "verify (red)",
            Phase::Converge => "converge",
            Phase::Green => "verify (green)",
            Phase::Idempotence => "converge again",
            Phase::Destroy => "destroy",
        }
    }
}

/// One scenario on one host, before and after converge.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioCycle {
    /// `features/web.feature:12`.
    pub id: String,
    /// The feature's name.
    pub feature: String,
    /// The scenario's name.
    pub scenario: String,
    /// The host.
    pub host: String,
    /// Before converge.
    pub red: Option<Outcome>,
    /// After converge.
    pub green: Option<Outcome>,
    /// Why it failed after converge.
    pub failure: Option<verify::StepFailure>,
    /// Why it was red before converge (red for the right reason?).
    pub red_failure: Option<verify::StepFailure>,
}

impl ScenarioCycle {
    /// It passed before anything was converged: it does not test what the
    /// recipes do.
    pub fn already_green(&self) -> bool {
        self.red == Some(Outcome::Passed)
    }
}

/// One test host through the cycle.
#[derive(Debug, Clone, Serialize)]
pub struct HostCycle {
    /// `HOST-PLATFORM`.
    pub host: String,
    /// The platform.
    pub platform: String,
    /// Seconds each phase took for this host.
    pub phases: BTreeMap<Phase, f64>,
    /// Scenarios that passed / ran before converge.
    pub red: Counts,
    /// Scenarios that passed / ran after converge.
    pub green: Counts,
    /// The first converge's result.
    pub converge: Option<engine::HostReport>,
    /// Resources that changed in the second converge (empty: idempotent).
    pub not_idempotent: Vec<ResourceReport>,
    /// Whether the second converge ran.
    pub idempotence_checked: bool,
    /// What went wrong, phase by phase.
    pub problems: Vec<String>,
    /// Kept after the run (not destroyed).
    pub kept: bool,
}

impl HostCycle {
    /// Green after converge, idempotent, and nothing else went wrong.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Passed / total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that ran.
    pub total: usize,
}

/// The whole cycle.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    /// Every test host.
    pub hosts: Vec<HostCycle>,
    /// Every (scenario, host).
    pub scenarios: Vec<ScenarioCycle>,
    /// Seconds of each phase: as long as its slowest host took (the same
    /// figures as the progress lines).
    pub phases: BTreeMap<Phase, f64>,
    /// A host could not be reached (or created).
    pub unreachable: bool,
    /// The run was interrupted.
    pub interrupted: bool,
}

impl CycleReport {
    /// 0 green and idempotent everywhere; 1 something failed; 3 a host could
    /// not be reached; 130 interrupted.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            return crate::exit::INTERRUPTED;
        }
        let mut code = crate::exit::OK;
        if self.hosts.iter().any(|h| !h.passed()) {
            code = crate::exit::FAILED;
        }
        if self.unreachable {
            code = crate::exit::UNREACHABLE;
        }
        code
    }

    /// Scenarios that passed before converge.
    pub fn already_green(&self) -> Vec<&ScenarioCycle> {
        self.scenarios
            .iter()
            .filter(|s| s.already_green())
            .collect()
    }
}

/// Live progress of a cycle.
pub trait Progress: Send + Sync {
    /// A phase starts.
    fn phase(&self, phase: Phase, hosts: usize);
    /// A phase ended, with a line of what happened.
    fn done(&self, phase: Phase, seconds: f64, summary: &str);
    /// Where engine progress goes during converges.
    fn observer(&self) -> Arc<dyn Observer>;
    /// Progress of one test host's creation.
    fn creating(&self, host: &str, step: &str);
}

/// Run the cycle on the test hosts of `specs`.
pub async fn run(
    project: &Project,
    driver: &dyn Driver,
    specs: &[TestHostSpec],
    suite: &Suite,
    options: &Options,
    progress: &dyn Progress,
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
            })
            .collect(),
        scenarios: Vec::new(),
        phases: BTreeMap::new(),
        unreachable: false,
        interrupted: false,
    };

    // Problems with the hosts' resources (bad input) come before any host is made.
    let jobs_for = |targets: &[Target]| engine::jobs(project, targets.to_vec(), &options.overrides);
    let planned: Vec<Target> = specs
        .iter()
        .map(|spec| {
            let entry = entry_of(project, &spec.name);
            Target {
                name: spec.name.clone(),
                groups: entry.groups.iter().map(|g| g.value.clone()).collect(),
                vars: entry.vars.values.clone(),
                connection: None,
                address: "127.0.0.1".into(),
            }
        })
        .collect();
    jobs_for(&planned)?;

    // 1. Create, fresh: a test host left from before is destroyed first.
    let started = Instant::now();
    progress.phase(Phase::Create, specs.len());
    let records: Vec<(String, Result<TestHostRecord, String>, f64)> = futures::stream::iter(specs)
        .map(|spec| async move {
            let began = Instant::now();
            if let Some(old) = driver.state().record(&spec.name) {
                let _ = driver.destroy(&old).await;
            }
            let show = |step: &str| progress.creating(&spec.name, step);
            let result = driver.create(spec, &show).await.map_err(|e| e.to_string());
            (spec.name.clone(), result, began.elapsed().as_secs_f64())
        })
        .buffer_unordered(options.concurrency.clamp(1, 8))
        .collect()
        .await;
    let mut targets = Vec::new();
    for (name, result, seconds) in records {
        let host = host_mut(&mut report, &name);
        host.phases.insert(Phase::Create, seconds);
        match result {
            Ok(record) => {
                targets.push(target_of(project, driver, &record, options.connect_timeout))
            }
            Err(err) => {
                host.problems.push(format!("could not be created: {err}"));
                report.unreachable = true;
            }
        }
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    let created = targets.len();
    finish(
        &mut report,
        progress,
        Phase::Create,
        started,
        &format!("{created} of {} created", specs.len()),
    );

    let verify_options = verify::Options {
        tags: None,
        concurrency: options.concurrency,
        command_timeout: options.command_timeout,
        verbose: false,
        fail_fast: false,
        wait_within: true,
    };
    // Red is expected before converge: a `within N seconds` step is checked
    // once rather than waited out.
    let red_options = verify::Options {
        wait_within: false,
        ..verify_options.clone()
    };

    // 2. Verify before converge: red expected.
    if !targets.is_empty() && !options.interrupt.is_set() {
        let started = Instant::now();
        progress.phase(Phase::Red, targets.len());
        let red =
            verify::run_features(suite, &targets, &red_options, verify::Reporters::none()).await;
        record_verify(
            &mut report,
            &red,
            Phase::Red,
            started.elapsed().as_secs_f64(),
        );
        let failed = red.count(Outcome::Failed) + red.count(Outcome::Unreachable);
        let summary = format!(
            "{} scenario(s): {} failed, {} passed{}",
            red.scenarios.len(),
            failed,
            red.count(Outcome::Passed),
            if red.count(Outcome::Passed) > 0 {
                " (already green: see below)"
            } else {
                ""
            }
        );
        finish(&mut report, progress, Phase::Red, started, &summary);
    }

    // 3. Converge.
    if !targets.is_empty() && !options.interrupt.is_set() {
        let started = Instant::now();
        progress.phase(Phase::Converge, targets.len());
        let first = converge(project, &targets, options, progress, false, &jobs_for).await;
        let summary = converge_summary(&first);
        for host in &first.hosts {
            let cycle = host_mut(&mut report, &host.host);
            cycle.phases.insert(Phase::Converge, host.seconds);
            match &host.outcome {
                HostOutcome::Ok => {}
                HostOutcome::Failed(reason) | HostOutcome::Refused(reason) => {
                    cycle.problems.push(format!("converge failed: {reason}"))
                }
                HostOutcome::Unreachable(reason) => {
                    cycle
                        .problems
                        .push(format!("unreachable during converge: {reason}"));
                    report.unreachable = true;
                }
                HostOutcome::Interrupted(_) => report.interrupted = true,
            }
            host_mut(&mut report, &host.host).converge = Some(host.clone());
        }
        finish(&mut report, progress, Phase::Converge, started, &summary);
    }

    // 4. Verify after converge: everything must pass.
    if !targets.is_empty() && !options.interrupt.is_set() {
        let started = Instant::now();
        progress.phase(Phase::Green, targets.len());
        let green =
            verify::run_features(suite, &targets, &verify_options, verify::Reporters::none()).await;
        record_verify(
            &mut report,
            &green,
            Phase::Green,
            started.elapsed().as_secs_f64(),
        );
        for result in &green.scenarios {
            match result.status {
                Outcome::Failed => host_mut(&mut report, &result.host).problems.push(format!(
                    "scenario failed after converge: {} ({})",
                    result.scenario,
                    result.id()
                )),
                Outcome::Unreachable => report.unreachable = true,
                Outcome::Passed | Outcome::Skipped => {}
            }
        }
        let failed = green.count(Outcome::Failed) + green.count(Outcome::Unreachable);
        let summary = format!(
            "{} scenario(s): {} passed, {} failed",
            green.scenarios.len(),
            green.count(Outcome::Passed),
            failed
        );
        finish(&mut report, progress, Phase::Green, started, &summary);
    }

    // 5. Converge again: nothing may change.
    if !targets.is_empty() && !options.interrupt.is_set() {
        let started = Instant::now();
        progress.phase(Phase::Idempotence, targets.len());
        let again = converge(project, &targets, options, progress, true, &jobs_for).await;
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
                let names: Vec<&str> = changed.iter().map(|r| r.title.as_str()).collect();
                cycle.problems.push(format!(
                    "not idempotent: {} changed again",
                    names.join(", ")
                ));
            }
            cycle.not_idempotent = changed;
            if let HostOutcome::Failed(reason) = &host.outcome {
                cycle
                    .problems
                    .push(format!("the second converge failed: {reason}"));
            }
            if let HostOutcome::Unreachable(reason) = &host.outcome {
                cycle
                    .problems
                    .push(format!("unreachable during the second converge: {reason}"));
                report.unreachable = true;
            }
        }
        let changed: usize = report.hosts.iter().map(|h| h.not_idempotent.len()).sum();
        let summary = if changed == 0 {
            "nothing changed".to_string()
        } else {
            format!("{changed} resource(s) changed again: not idempotent")
        };
        finish(&mut report, progress, Phase::Idempotence, started, &summary);
    }
    if options.interrupt.is_set() {
        report.interrupted = true;
    }

    // 6. Destroy (unless kept).
    let started = Instant::now();
    let to_destroy: Vec<TestHostRecord> = report
        .hosts
        .iter_mut()
        .filter_map(|host| {
            let keep = options.keep || (options.keep_failed && !host.passed());
            host.kept = keep && driver.state().record(&host.host).is_some();
            if keep {
                None
            } else {
                driver.state().record(&host.host)
            }
        })
        .collect();
    progress.phase(Phase::Destroy, to_destroy.len());
    let destroyed: Vec<(String, f64)> = futures::stream::iter(&to_destroy)
        .map(|record| async move {
            let began = Instant::now();
            let _ = driver.destroy(record).await;
            (record.name.clone(), began.elapsed().as_secs_f64())
        })
        .buffer_unordered(8)
        .collect()
        .await;
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
    let kept: Vec<&str> = report
        .hosts
        .iter()
        .filter(|h| h.kept)
        .map(|h| h.host.as_str())
        .collect();
    let summary = if kept.is_empty() {
        format!("{} destroyed", to_destroy.len())
    } else {
        format!("{} destroyed, kept {}", to_destroy.len(), kept.join(", "))
    };
    finish(&mut report, progress, Phase::Destroy, started, &summary);
    Ok(report)
}

fn host_mut<'r>(report: &'r mut CycleReport, name: &str) -> &'r mut HostCycle {
    report
        .hosts
        .iter_mut()
        .find(|h| h.host == name)
        .expect("every host of the run has a place in the report")
}

/// A phase ended: it took as long as its slowest host (the figure the
/// summary shows per host), or its wall time when no host has a time.
fn finish(
    report: &mut CycleReport,
    progress: &dyn Progress,
    phase: Phase,
    started: Instant,
    summary: &str,
) {
    let seconds = report
        .hosts
        .iter()
        .filter_map(|h| h.phases.get(&phase).copied())
        .reduce(f64::max)
        .unwrap_or_else(|| started.elapsed().as_secs_f64());
    report.phases.insert(phase, seconds);
    progress.done(phase, seconds, summary);
}

/// The `test_hosts.hosts` entry a test host comes from.
fn entry_of(project: &Project, name: &str) -> crate::config::inventory::TestHostEntry {
    project
        .inventory
        .test_hosts
        .as_ref()
        .and_then(|t| {
            t.hosts.iter().find(|(entry, _)| {
                t.platforms
                    .iter()
                    .any(|p| test_host_name(&entry.value, &p.value.name.value) == name)
            })
        })
        .map(|(_, entry)| entry.clone())
        .unwrap_or_default()
}

/// The target for a created test host.
pub fn target_of(
    project: &Project,
    driver: &dyn Driver,
    record: &TestHostRecord,
    connect_timeout: Duration,
) -> Target {
    let entry = entry_of(project, &record.name);
    Target {
        name: record.name.clone(),
        groups: entry.groups.iter().map(|g| g.value.clone()).collect(),
        vars: entry.vars.values.clone(),
        connection: Some(driver.state().connection(record, connect_timeout)),
        address: record.address.clone(),
    }
}

/// Expands targets into the jobs of a converge.
type JobsFor<'f, 'p> = dyn Fn(&[Target]) -> Result<Vec<engine::Job<'p>>, Diags> + 'f;

async fn converge<'p>(
    project: &'p Project,
    targets: &[Target],
    options: &Options,
    progress: &dyn Progress,
    want_diff: bool,
    jobs_for: &JobsFor<'_, 'p>,
) -> RunReport {
    let jobs = jobs_for(targets).unwrap_or_default();
    let engine_options = engine::Options {
        mode: Mode::Converge,
        concurrency: options.concurrency,
        want_diff,
        command_timeout: options.command_timeout,
        tags: Vec::new(),
        interrupt: options.interrupt.clone(),
        revision: crate::ledger::Revision::of(&project.root),
        // Test hosts are thrown away: removals need no approval there.
        approval: engine::Approval::Everything,
    };
    engine::run(project, jobs, &engine_options, progress.observer()).await
}

fn converge_summary(run: &RunReport) -> String {
    let changed: usize = run.hosts.iter().map(|h| h.count(Status::Changed)).sum();
    let failed: usize = run.hosts.iter().map(|h| h.count(Status::Failed)).sum();
    let unreachable = run
        .hosts
        .iter()
        .filter(|h| matches!(h.outcome, HostOutcome::Unreachable(_)))
        .count();
    let mut summary = format!("{changed} change(s)");
    if failed > 0 {
        summary.push_str(&format!(", {failed} failed"));
    }
    if unreachable > 0 {
        summary.push_str(&format!(", {unreachable} host(s) unreachable"));
    }
    summary
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
        if let Some(reason) = &summary.reason {
            host.problems
                .push(format!("unreachable during {}: {reason}", phase.title()));
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
