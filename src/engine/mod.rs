//! Plan and apply across hosts.
//!
//! Per host: one script probes the state of every resource and gathers the
//! facts (round trip 1); every resource is planned locally against that
//! answer; one more script applies every change (round trip 2), each snippet
//! re-checking its own condition on the host first. A host with nothing to
//! change costs one round trip. Hosts run in parallel, at most `concurrency`
//! at once; a failing or unreachable host does not stop the others.
//!
//! A host's work is a sequence of stages, a module each: `probe` (round
//! trip 1), `plan` (on the controller, handlers too), `approve` (may
//! this plan be applied?), `apply` (round trip 2, reading back what each
//! resource did), and the [`ledger`] (recorded on the host). The engine
//! says what it does through [`Event`]s and returns [`results`]; it never
//! prints, and it never runs features.

mod apply;
mod approve;
pub mod event;
mod handlers;
pub mod ledger;
mod plan;
mod probe;
pub mod results;
pub mod saved;
pub mod script;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

pub use event::{Event, Listener, quiet};
pub use results::{HostOutcome, HostReport, ResourceReport, RunReport, Status};

use crate::config::{HostResources, Project};
use crate::resource;
use crate::transport::{Counted, Target, Transport, TransportError, connect};

/// Plan only, or plan and apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Show what would change; change nothing.
    Plan,
    /// Apply the changes.
    Converge,
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Plan or converge.
    pub mode: Mode,
    /// Hosts worked on at once.
    pub concurrency: usize,
    /// Bring file contents back to show diffs.
    pub want_diff: bool,
    /// How long one script may take.
    pub command_timeout: Duration,
    /// Only resources with one of these tags (empty: all).
    pub tags: Vec<String>,
    /// Set by Ctrl-C: no new host starts, no apply begins.
    pub interrupt: Arc<Interrupt>,
    /// The repository's commit, recorded in each converged host's ledger.
    pub revision: crate::engine::ledger::Revision,
    /// What converge may apply without asking: everything but removals, a
    /// saved plan, or everything.
    pub approval: Approval,
    /// Which part of a converge whose removals wait for features (`after:`)
    /// this run is.
    pub stage: Stage,
}

/// A converge with removals gated by `after:` runs in two parts, the
/// features between them (see `workflow::contract`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stage {
    /// Everything (no removal of the run waits for features).
    #[default]
    Whole,
    /// Everything but the removals with `after:`, which are held (planned,
    /// approved with the rest, and reported as held).
    Expand,
    /// Only the removals with `after:`, once their features passed: planned
    /// again from a fresh probe; the approval of the expand part stands,
    /// the `unused_for` guard is asked again.
    Contract,
}

/// What a held removal's report says.
pub const HELD: &str = "held until its after: features pass on this host";

/// What a converge may apply. Checked per host after its plan and before
/// anything is applied there: a refused host is left untouched (not even its
/// ledger is written).
#[derive(Debug, Clone, Default)]
pub enum Approval {
    /// Everything except removals (the default): a host whose plan deletes
    /// something is refused.
    #[default]
    NoRemovals,
    /// Everything (`--allow-removals`).
    Everything,
    /// Exactly a saved plan (`--plan FILE`): a host whose plan differs from
    /// the saved one is refused.
    Saved(Arc<saved::SavedPlan>),
}

/// Ctrl-C (or SIGTERM, SIGHUP), as the engine sees it: a flag checked
/// before each host starts and before each apply. Scripts already running
/// are left to finish (or time out), so no host is left half-way through a
/// snippet and every SSH master is closed by its host's own task.
#[derive(Debug, Default)]
pub struct Interrupt {
    flag: AtomicBool,
    signal: std::sync::atomic::AtomicI32,
    notify: tokio::sync::Notify,
}

impl Interrupt {
    /// Ask the run to stop starting new work, because of `signal` (its
    /// number: SIGINT is 2).
    pub fn trigger(&self, signal: i32) {
        self.signal.store(signal, Ordering::SeqCst);
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// True once interrupted.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Wait until interrupted (at once if it already is).
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }

    /// The exit code of an interrupted run: 128 + the signal's number (130
    /// for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
    pub fn exit_code(&self) -> i32 {
        match self.signal.load(Ordering::SeqCst) {
            0 => crate::exit::INTERRUPTED,
            signal => 128 + signal,
        }
    }
}

/// One host with what it gets, ready to run.
pub struct Job<'p> {
    /// The host.
    pub target: Target,
    /// Its resources.
    pub resources: HostResources<'p>,
}

/// What each target gets: its resources expanded (recipes, includes,
/// variables, names rendered). Every problem of every host is returned.
pub fn jobs<'p>(
    project: &'p Project,
    targets: Vec<Target>,
    overrides: &crate::config::Overrides,
) -> Result<Vec<Job<'p>>, crate::diagnostic::Diags> {
    let mut jobs = Vec::new();
    let mut diags = crate::diagnostic::Diags::default();
    for target in targets {
        let host_value = crate::template::host_value(&target.name, &target.address, &target.groups);
        match crate::config::expand_host(
            project,
            &target.groups,
            &target.vars,
            &host_value,
            overrides,
        ) {
            Ok(resources) => jobs.push(Job { target, resources }),
            Err(found) => diags.0.extend(found.0),
        }
    }
    diags.into_result()?;
    Ok(jobs)
}

/// Run plan or converge on every job, at most `concurrency` at once.
pub async fn run(
    project: &Project,
    jobs: Vec<Job<'_>>,
    options: &EngineOptions,
    events: Listener<'_>,
) -> RunReport {
    let order: Vec<String> = jobs.iter().map(|j| j.target.name.clone()).collect();
    let mut reports: Vec<HostReport> = futures::stream::iter(jobs)
        .map(|job| async move {
            let report = if options.interrupt.is_set() {
                HostReport {
                    outcome: HostOutcome::Interrupted("not started".into()),
                    ..HostReport::new(&job.target.name)
                }
            } else {
                run_host(project, job, options, events).await
            };
            events(Event::Done(&report));
            report
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    reports.sort_by_key(|r| order.iter().position(|n| *n == r.host));
    RunReport {
        mode: options.mode,
        hosts: reports,
    }
}

async fn run_host(
    project: &Project,
    job: Job<'_>,
    options: &EngineOptions,
    events: Listener<'_>,
) -> HostReport {
    let started = Instant::now();
    let mut report = HostReport::new(&job.target.name);
    events(Event::Connecting {
        host: &job.target.name,
    });
    let transport = match connect(&job.target).await {
        Ok(transport) => Counted::new(transport),
        Err(err) => {
            report.outcome = HostOutcome::Unreachable(err.to_string());
            report.seconds = started.elapsed().as_secs_f64();
            return report;
        }
    };
    let result = work(project, &job, options, events, &transport, &mut report).await;
    transport.close().await;
    if let Err(err) = result {
        report.outcome = if err.is_unreachable() {
            HostOutcome::Unreachable(err.to_string())
        } else {
            HostOutcome::Failed(err.to_string())
        };
    }
    report.round_trips = transport.round_trips();
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// One host's work, stage by stage.
async fn work(
    project: &Project,
    job: &Job<'_>,
    options: &EngineOptions,
    events: Listener<'_>,
    transport: &dyn Transport,
    report: &mut HostReport,
) -> Result<(), TransportError> {
    let host = job.target.name.as_str();
    let mut selected = plan::selected(job, &options.tags);
    if options.stage == Stage::Contract {
        selected.retain(|planned| !planned.resource.value.common.after.is_empty());
    }

    events(Event::Probing { host });
    let Some(probe) = probe::run(project, job, &selected, options, transport, report).await? else {
        return Ok(());
    };
    let recorded = probe.recorded;
    let wanted = ledger::wanted(
        host,
        &options.revision,
        &job.resources.recipes,
        recorded.as_ref(),
    );

    let mut plan = plan::plan(project, job, selected, options, probe.probed);
    report.notes.append(&mut plan.notes);
    if plan.failed {
        // Nothing is applied on a host whose plan has an error.
        plan.hold_back(
            "another resource of this host failed to plan",
            "a resource of this host failed to plan",
        );
        report.outcome =
            HostOutcome::Failed("a resource could not be planned; nothing was changed".into());
        (report.resources, report.handlers) = plan.reports();
        return Ok(());
    }

    if options.mode == Mode::Converge {
        let planned: Vec<&ResourceReport> = plan.items.iter().map(|i| &i.report).collect();
        let guarded: Vec<(&ResourceReport, Option<Duration>)> = plan
            .items
            .iter()
            .map(|i| (&i.report, resource::evidence::guard(i.planned)))
            .collect();
        let refused = match options.stage {
            // Approved with the rest of the plan, in the expand part.
            Stage::Contract => None,
            _ => approve::refusal(&options.approval, host, &report.answers, &planned),
        }
        .or_else(|| approve::used_recently(&options.approval, host, &guarded));
        if let Some(refusal) = refused {
            plan.skip_changes(&refusal.short);
            report.outcome = HostOutcome::Refused(refusal.reason);
            (report.resources, report.handlers) = plan.reports();
            report.ledger = recorded;
            return Ok(());
        }
        if options.stage == Stage::Expand {
            plan.hold_gated(HELD);
        }
    }
    let to_apply = plan.to_apply();
    if options.mode == Mode::Plan || to_apply.is_empty() {
        (report.resources, report.handlers) = plan.reports();
        report.ledger = recorded.clone();
        // Nothing to apply, but a new commit (or a failed last run) is recorded.
        if options.mode == Mode::Converge
            && !options.interrupt.is_set()
            && ledger::needs_write(recorded.as_ref(), &wanted)
        {
            events(Event::Recording { host });
            let written = ledger::write(transport, &wanted, options.command_timeout).await?;
            let failure = written.failure.or_else(|| {
                (!written.complete).then(|| {
                    format!(
                        "the ledger {} could not be written (exit {}): {}",
                        ledger::PATH,
                        written.status,
                        written.stderr
                    )
                })
            });
            match failure {
                Some(failure) => report.outcome = HostOutcome::Failed(failure),
                None => {
                    report.notes.extend(written.lock.note());
                    report.ledger = Some(wanted);
                }
            }
        }
        return Ok(());
    }
    if options.interrupt.is_set() {
        plan.skip_changes("interrupted");
        report.outcome =
            HostOutcome::Interrupted("interrupted before its changes were applied".into());
        report.resources = plan.resources();
        return Ok(());
    }

    events(Event::Applying {
        host,
        changes: to_apply.len(),
    });
    apply::run(plan, wanted, recorded, options, transport, events, report).await
}

/// The apply script of one snippet (tag `r0`), for unit tests of snippets.
#[cfg(test)]
pub(crate) fn script_for_tests(snippet: &str) -> String {
    script::apply_script(
        &[script::Step {
            tag: "r0".into(),
            snippet,
            notifies: Vec::new(),
            record: None,
        }],
        &[],
    )
}
