//! Plan and apply across hosts.
//!
//! Per host: one script probes the state of every resource and gathers the
//! facts (round trip 1); every resource is planned locally against that
//! answer; one more script applies every change (round trip 2), each snippet
//! re-checking its own condition on the host first. A host with nothing to
//! change costs one round trip. Hosts run in parallel, at most `concurrency`
//! at once; a failing or unreachable host does not stop the others.

mod handlers;
pub mod saved;
pub mod script;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{HostResources, Project};
use crate::diagnostic::Diag;
use crate::recipe::When;
use crate::resource::{self, Change, Decision, Facts, PlanInput, PlannedResource};
use crate::template;
use crate::transport::{Counted, Script, Target, Transport, TransportError, connect};

/// Plan only, or plan and apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Show what would change; change nothing.
    Plan,
    /// Apply the changes.
    Converge,
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
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
    pub revision: crate::ledger::Revision,
    /// What converge may apply without asking: everything but removals, a
    /// saved plan, or everything.
    pub approval: Approval,
}

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

/// What happened to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Already as it should be.
    Ok,
    /// Would change (plan).
    WouldChange,
    /// Changed.
    Changed,
    /// Failed.
    Failed,
    /// Not applied (`when` did not hold, or an earlier resource failed).
    Skipped,
}

impl Status {
    /// The word shown in output.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::WouldChange => "change",
            Status::Changed => "changed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One resource's result on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceReport {
    /// Its type.
    pub kind: String,
    /// How it is shown (`file /etc/motd`, or its label).
    pub title: String,
    /// Where it is declared: `recipes/web.yml:12:5`.
    pub declared: String,
    /// What happened.
    pub status: Status,
    /// What changes (planned) or changed.
    pub changes: Vec<Change>,
    /// True when a change deletes something ([`Change::is_removal`]).
    #[serde(default)]
    pub removes: bool,
    /// Why it failed or was skipped.
    pub message: Option<String>,
}

/// How a host ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum HostOutcome {
    /// Everything applied (or planned).
    Ok,
    /// Something failed on the host.
    Failed(String),
    /// The host could not be reached.
    Unreachable(String),
    /// Ctrl-C came before the host's work started or before its changes
    /// were applied.
    Interrupted(String),
    /// Its plan was not approved (removals without a saved plan, or a host
    /// that changed since its plan was saved); nothing was applied.
    Refused(String),
}

/// One host's result.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    /// The host's name.
    pub host: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: HostOutcome,
    /// Every resource, in order.
    pub resources: Vec<ResourceReport>,
    /// The handlers that were notified, in the order they run.
    pub handlers: Vec<ResourceReport>,
    /// Things worth knowing about this run (commands without a guard, ...).
    pub notes: Vec<String>,
    /// Scripts run on the host (round trips after connecting).
    pub round_trips: usize,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Facts, once probed.
    pub facts: Option<Facts>,
    /// The ledger on the host after this run (written by it, or found
    /// unchanged), for recording the features' result after a verify.
    #[serde(skip)]
    pub ledger: Option<crate::ledger::Ledger>,
    /// What the probe found, per subject (see [`resource::answers`]), for
    /// saved plans.
    #[serde(skip)]
    pub answers: std::collections::BTreeMap<String, String>,
}

impl HostReport {
    /// How many resources and handlers ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.resources
            .iter()
            .chain(&self.handlers)
            .filter(|r| r.status == status)
            .count()
    }
}

/// Every host's result.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Plan or converge.
    pub mode: &'static str,
    /// Hosts, in the order they were given.
    pub hosts: Vec<HostReport>,
}

impl RunReport {
    /// The exit code the spec gives: 3 if a host was unreachable, else 1 if
    /// anything failed, else 0.
    pub fn exit_code(&self) -> i32 {
        let mut code = crate::exit::OK;
        for host in &self.hosts {
            let c = match host.outcome {
                HostOutcome::Ok => crate::exit::OK,
                HostOutcome::Failed(_) | HostOutcome::Refused(_) => crate::exit::FAILED,
                HostOutcome::Unreachable(_) => crate::exit::UNREACHABLE,
                HostOutcome::Interrupted(_) => crate::exit::INTERRUPTED,
            };
            code = code.max(c);
        }
        code
    }
}

/// Live progress, for the terminal.
pub trait Observer: Send + Sync {
    /// The host entered a phase ("connecting", "probing", "applying 3 changes").
    fn phase(&self, host: &str, phase: &str);
    /// A host is done.
    fn host_done(&self, report: &HostReport);
    /// A batch of a rollout starts (`Canary: web1`, `Batch 2 of 3: ...`).
    fn batch(&self, _title: &str) {}
    /// The features ran on the hosts of a batch.
    fn features_done(&self, _verdicts: &[crate::workflow::rollout::HostVerdict]) {}
}

/// An observer that shows nothing.
pub struct Quiet;

impl Observer for Quiet {
    fn phase(&self, _: &str, _: &str) {}
    fn host_done(&self, _: &HostReport) {}
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
        let host_value = template::host_value(&target.name, &target.address, &target.groups);
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
    options: &Options,
    observer: Arc<dyn Observer>,
) -> RunReport {
    let order: Vec<String> = jobs.iter().map(|j| j.target.name.clone()).collect();
    let mut reports: Vec<HostReport> = futures::stream::iter(jobs)
        .map(|job| {
            let observer = observer.clone();
            async move {
                let report = if options.interrupt.is_set() {
                    HostReport {
                        host: job.target.name.clone(),
                        outcome: HostOutcome::Interrupted("not started".into()),
                        resources: Vec::new(),
                        handlers: Vec::new(),
                        notes: Vec::new(),
                        round_trips: 0,
                        seconds: 0.0,
                        facts: None,
                        ledger: None,
                        answers: Default::default(),
                    }
                } else {
                    run_host(project, job, options, observer.as_ref()).await
                };
                observer.host_done(&report);
                report
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    reports.sort_by_key(|r| order.iter().position(|n| *n == r.host));
    RunReport {
        mode: match options.mode {
            Mode::Plan => "plan",
            Mode::Converge => "converge",
        },
        hosts: reports,
    }
}

/// A resource being worked on.
struct Item<'r, 'p> {
    planned: &'r PlannedResource<'p>,
    report: ResourceReport,
    snippet: Option<String>,
}

async fn run_host(
    project: &Project,
    job: Job<'_>,
    options: &Options,
    observer: &dyn Observer,
) -> HostReport {
    let started = Instant::now();
    let name = job.target.name.clone();
    let mut report = HostReport {
        host: name.clone(),
        outcome: HostOutcome::Ok,
        resources: Vec::new(),
        handlers: Vec::new(),
        notes: Vec::new(),
        round_trips: 0,
        seconds: 0.0,
        facts: None,
        ledger: None,
        answers: Default::default(),
    };
    observer.phase(&name, "connecting");
    let transport = match connect(&job.target).await {
        Ok(transport) => Counted::new(transport),
        Err(err) => {
            report.outcome = HostOutcome::Unreachable(err.to_string());
            report.seconds = started.elapsed().as_secs_f64();
            return report;
        }
    };
    let result = work(project, &job, options, observer, &transport, &mut report).await;
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

async fn work(
    project: &Project,
    job: &Job<'_>,
    options: &Options,
    observer: &dyn Observer,
    transport: &dyn Transport,
    report: &mut HostReport,
) -> Result<(), TransportError> {
    let name = &job.target.name;
    let selected: Vec<&PlannedResource<'_>> = job
        .resources
        .resources
        .iter()
        .filter(|r| tagged(r, &options.tags))
        .collect();
    let host_value = template::host_value(name, &job.target.address, &job.target.groups);
    // Fields the probe needs are rendered before facts are known.
    let query_context = template::context(&job.resources.vars, &host_value, None);
    let queries = resource::query::dedup_queries(
        selected
            .iter()
            .flat_map(|planned| {
                resource::queries(&resource::QueryInput {
                    planned,
                    context: &query_context,
                    templates: &project.templates,
                    want_diff: options.want_diff,
                })
            })
            .collect(),
    );

    observer.phase(name, "probing");
    let probe = Script::root(script::probe(&queries)).with_timeout(options.command_timeout);
    let output = transport.run(&probe).await?;
    let lines = crate::shell::parse_lines(&output.stdout_text());
    if !lines.complete {
        report.outcome = HostOutcome::Failed(if output.status == crate::transport::TIMED_OUT {
            format!(
                "the probe timed out after {}s (command_timeout in redgreen.yml)",
                options.command_timeout.as_secs()
            )
        } else {
            format!(
                "the probe did not finish (exit {}): {}",
                output.status,
                output.stderr_text().trim()
            )
        });
        return Ok(());
    }
    let mut world = resource::query::read_answers(&queries, &lines);
    report.answers = resource::query::answers(&queries, &lines);
    report.facts = Some(world.facts.clone());
    let recorded = crate::ledger::read(&lines);
    let ledger = crate::ledger::Ledger {
        host: name.clone(),
        commit: options.revision.commit.clone(),
        dirty: options.revision.dirty,
        recipes: job.resources.recipes.clone(),
        converged_at: crate::ledger::now(),
        result: "ok".into(),
        redgreen: env!("CARGO_PKG_VERSION").into(),
        features: recorded.as_ref().and_then(|l| l.features.clone()),
    };

    let facts_value = world.facts.to_value();
    let context = template::context(&job.resources.vars, &host_value, Some(&facts_value));
    let files_dir = project.files_dir();

    let mut items: Vec<Item<'_, '_>> = Vec::new();
    let mut plan_failed = false;
    for planned in selected {
        let mut item = Item {
            planned,
            report: ResourceReport {
                kind: planned.kind().to_string(),
                title: planned.title(),
                declared: planned.place().position(),
                status: Status::Ok,
                changes: Vec::new(),
                removes: false,
                message: None,
            },
            snippet: None,
        };
        let input = PlanInput {
            planned,
            context: &context,
            templates: &project.templates,
            files_dir: &files_dir,
            want_diff: options.want_diff,
        };
        let decision = match when_holds(&input, &facts_value, &job.resources.vars) {
            Ok(true) => resource::plan(&input, &mut world),
            Ok(false) => Ok(Decision::Skip("`when` does not hold".into())),
            Err(diag) => Err(diag),
        };
        match decision {
            Ok(Decision::Ok) => {}
            Ok(Decision::Skip(why)) => {
                item.report.status = Status::Skipped;
                item.report.message = Some(why);
            }
            Ok(Decision::Apply { changes, snippet }) => {
                item.report.status = Status::WouldChange;
                item.report.removes = changes.iter().any(Change::is_removal);
                item.report.changes = changes;
                item.snippet = Some(snippet);
                world.will_change(&resource::managed_paths(planned));
                report
                    .notes
                    .extend(resource::notes(planned, &item.report.title));
            }
            Err(diag) => {
                plan_failed = true;
                item.report.status = Status::Failed;
                item.report.message = Some(diag.one_line());
            }
        }
        items.push(item);
    }

    // Handlers notified by what will change, and their snippets.
    let notifiers: Vec<handlers::Notifier<'_, '_>> = items
        .iter()
        .map(|i| handlers::Notifier {
            planned: i.planned,
            changes: i.snippet.is_some(),
            applies: !matches!(i.report.status, Status::Skipped | Status::Failed),
        })
        .collect();
    let handler_input = handlers::Input {
        project,
        job,
        context: &context,
        facts: &facts_value,
        files_dir: &files_dir,
        want_diff: options.want_diff,
        world: &world,
    };
    let mut planned_handlers = handlers::plan(&handler_input, &notifiers);
    if planned_handlers
        .iter()
        .any(|h| h.report.status == Status::Failed)
    {
        plan_failed = true;
    }

    if plan_failed {
        // Nothing is applied on a host whose plan has an error.
        for item in &mut items {
            if item.report.status == Status::WouldChange {
                item.report.status = Status::Skipped;
                item.report.message =
                    Some("not applied: another resource of this host failed to plan".into());
            }
        }
        for handler in &mut planned_handlers {
            if handler.report.status == Status::WouldChange {
                handler.report.status = Status::Skipped;
                handler.report.message =
                    Some("not run: a resource of this host failed to plan".into());
            }
        }
        report.outcome =
            HostOutcome::Failed("a resource could not be planned; nothing was changed".into());
        report.resources = items.into_iter().map(|i| i.report).collect();
        report.handlers = planned_handlers.into_iter().map(|h| h.report).collect();
        return Ok(());
    }

    let to_apply: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.snippet.is_some())
        .map(|(n, _)| n)
        .collect();
    if options.mode == Mode::Converge {
        let planned: Vec<&ResourceReport> = items.iter().map(|i| &i.report).collect();
        if let Some(refusal) = refusal(&options.approval, name, &report.answers, &planned) {
            for &n in &to_apply {
                items[n].report.status = Status::Skipped;
                items[n].report.message = Some(format!("not applied: {}", refusal.short));
            }
            report.outcome = HostOutcome::Refused(refusal.reason);
            report.resources = items.into_iter().map(|i| i.report).collect();
            report.handlers = planned_handlers.into_iter().map(|h| h.report).collect();
            report.ledger = recorded;
            return Ok(());
        }
    }
    if options.mode == Mode::Plan || to_apply.is_empty() {
        report.resources = items.into_iter().map(|i| i.report).collect();
        report.handlers = planned_handlers.into_iter().map(|h| h.report).collect();
        report.ledger = recorded.clone();
        // Nothing to apply, but a new commit (or a failed last run) is recorded.
        if options.mode == Mode::Converge
            && !options.interrupt.is_set()
            && crate::ledger::needs_write(recorded.as_ref(), &ledger)
        {
            observer.phase(name, "recording the ledger");
            let output = transport
                .run(
                    &Script::root(crate::ledger::write_script(
                        &ledger,
                        options.command_timeout,
                    ))
                    .with_timeout(crate::ledger::locked_timeout(options.command_timeout)),
                )
                .await?;
            let lines = crate::shell::parse_lines(&output.stdout_text());
            let lock = crate::ledger::Lock::of(&lines);
            let failure = lock
                .refusal()
                .or_else(|| crate::ledger::write_failure(&lines))
                .or_else(|| {
                    (!lines.complete).then(|| {
                        format!(
                            "the ledger {} could not be written (exit {}): {}",
                            crate::ledger::PATH,
                            output.status,
                            output.stderr_text().trim()
                        )
                    })
                });
            match failure {
                Some(failure) => report.outcome = HostOutcome::Failed(failure),
                None => {
                    report.notes.extend(lock.note());
                    report.ledger = Some(ledger);
                }
            }
        }
        return Ok(());
    }
    if options.interrupt.is_set() {
        for &n in &to_apply {
            items[n].report.status = Status::Skipped;
            items[n].report.message = Some("not applied: interrupted".into());
        }
        report.outcome =
            HostOutcome::Interrupted("interrupted before its changes were applied".into());
        report.resources = items.into_iter().map(|i| i.report).collect();
        return Ok(());
    }

    observer.phase(name, &format!("applying {} change(s)", to_apply.len()));
    let steps: Vec<script::Step<'_>> = to_apply
        .iter()
        .map(|&n| script::Step {
            tag: format!("r{n}"),
            snippet: items[n].snippet.as_deref().unwrap_or(""),
            notifies: planned_handlers
                .iter()
                .enumerate()
                .filter(|(_, h)| h.notified_by.contains(&n))
                .map(|(index, _)| index)
                .collect(),
        })
        .collect();
    let handler_snippets: Vec<(String, &str)> = planned_handlers
        .iter()
        .enumerate()
        .map(|(index, h)| (format!("h{index}"), h.snippet.as_str()))
        .collect();
    let apply = script::apply_script_recording(
        &steps,
        &handler_snippets,
        &crate::ledger::write_function(&ledger),
        options.command_timeout,
    );
    let output = transport
        .run(
            &Script::root(apply)
                .with_timeout(crate::ledger::locked_timeout(options.command_timeout)),
        )
        .await;
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            for &n in &to_apply {
                items[n].report.status = Status::Failed;
                items[n].report.message = Some(format!("unknown: {err}"));
            }
            report.resources = items.into_iter().map(|i| i.report).collect();
            return Err(err);
        }
    };
    let lines = crate::shell::parse_lines(&output.stdout_text());
    // Another converge of the host held its lock: nothing was applied.
    let lock = crate::ledger::Lock::of(&lines);
    if let Some(reason) = lock.refusal() {
        for &n in &to_apply {
            items[n].report.status = Status::Skipped;
            items[n].report.message =
                Some("not applied: the host's converge lock was not taken".into());
        }
        for handler in &mut planned_handlers {
            if handler.report.status == Status::WouldChange {
                handler.report.status = Status::Skipped;
                handler.report.message =
                    Some("not run: the host's converge lock was not taken".into());
            }
        }
        report.outcome = HostOutcome::Failed(reason);
        report.resources = items.into_iter().map(|i| i.report).collect();
        report.handlers = planned_handlers.into_iter().map(|h| h.report).collect();
        report.ledger = recorded;
        return Ok(());
    }
    report.notes.extend(lock.note());
    let mut failed = None;
    // A script the host stopped at its timeout: the first resource without a
    // result is the one that was running.
    let stopped = (!lines.complete && output.status == crate::transport::TIMED_OUT).then(|| {
        format!(
            "timed out after {}s (command_timeout in redgreen.yml); it was stopped on the host",
            options.command_timeout.as_secs()
        )
    });
    for &n in &to_apply {
        let tag = format!("r{n}");
        if let Some(reason) = &stopped
            && failed.is_none()
            && lines
                .tag(&tag)
                .is_none_or(|t| !t.contains_key("done") && !t.contains_key("failed"))
        {
            items[n].report.status = Status::Failed;
            items[n].report.message = Some(reason.clone());
            failed = Some(items[n].report.title.clone());
            continue;
        }
        read_result(&lines, &tag, &mut items[n].report, &mut failed);
    }
    for (index, handler) in planned_handlers.iter_mut().enumerate() {
        let tag = format!("h{index}");
        if lines.tag(&tag).is_some() || failed.is_some() || !lines.complete {
            read_result(&lines, &tag, &mut handler.report, &mut failed);
        } else {
            handler.report.status = Status::Skipped;
            handler.report.changes.clear();
            handler.report.message =
                Some("not notified: what notifies it changed nothing on the host".into());
        }
    }
    if let Some(title) = failed {
        report.outcome = HostOutcome::Failed(match &stopped {
            Some(reason) => format!("{title}: {reason}"),
            None => format!("{title} failed"),
        });
    } else if !lines.complete {
        report.outcome = HostOutcome::Failed(format!(
            "the apply script stopped early (exit {}): {}",
            output.status,
            output.stderr_text().trim()
        ));
    }
    // The apply script ends by writing the ledger with the result; a ledger
    // that could not be written fails the host (else `status` would show
    // an older converge as the last).
    if let Some(failure) = crate::ledger::write_failure(&lines) {
        match report.outcome {
            HostOutcome::Ok => report.outcome = HostOutcome::Failed(failure),
            _ => report.notes.push(failure),
        }
        report.ledger = recorded;
    } else {
        let mut written = ledger;
        written.result = if matches!(report.outcome, HostOutcome::Ok) {
            "ok".into()
        } else {
            "failed".into()
        };
        report.ledger = Some(written);
    }
    report.resources = items.into_iter().map(|i| i.report).collect();
    report.handlers = planned_handlers.into_iter().map(|h| h.report).collect();
    Ok(())
}

/// Why a host's plan is not approved.
struct Refusal {
    /// For the host's line: what to do.
    reason: String,
    /// For each resource not applied.
    short: String,
}

/// Whether `approval` refuses this host's plan (before anything is applied).
fn refusal(
    approval: &Approval,
    host: &str,
    answers: &std::collections::BTreeMap<String, String>,
    planned: &[&ResourceReport],
) -> Option<Refusal> {
    match approval {
        Approval::Everything => None,
        Approval::NoRemovals => {
            let removals: Vec<&str> = planned
                .iter()
                .filter(|r| r.status == Status::WouldChange && r.removes)
                .map(|r| r.title.as_str())
                .collect();
            if removals.is_empty() {
                return None;
            }
            Some(Refusal {
                reason: format!(
                    "the plan removes {} ({}) and removals are applied only from a saved plan; run `redgreen plan --out plan.json`, review it, then `redgreen converge --plan plan.json` (or converge with --allow-removals); nothing was changed",
                    if removals.len() == 1 {
                        "1 thing".to_string()
                    } else {
                        format!("{} things", removals.len())
                    },
                    removals.join(", ")
                ),
                short: "this host's plan removes something that is not in a saved plan".into(),
            })
        }
        Approval::Saved(plan) => {
            let differences = plan.differences(host, answers, planned);
            if differences.is_empty() {
                return None;
            }
            Some(Refusal {
                reason: format!(
                    "the host changed since the plan was saved, so the plan is not what would be applied: {}; run `redgreen plan --out FILE` again and review it; nothing was changed",
                    differences.join("; ")
                ),
                short: "the host changed since the plan was saved".into(),
            })
        }
    }
}

/// Read what the apply script said about `tag` into its report; `failed`
/// keeps the title of the first failure.
fn read_result(
    lines: &crate::shell::Lines,
    tag: &str,
    report: &mut ResourceReport,
    failed: &mut Option<String>,
) {
    if let Some(error) = lines.get(tag, "failed") {
        let text = crate::shell::decode(error)
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        report.status = Status::Failed;
        report.message = Some(if text.is_empty() {
            "failed".into()
        } else {
            text
        });
        failed.get_or_insert_with(|| report.title.clone());
    } else if lines.get(tag, "done").is_some() {
        let did = lines.all(tag, "changed");
        report.status = if did.is_empty() {
            Status::Ok
        } else {
            Status::Changed
        };
        if did.is_empty() {
            // The host changed between probe and apply and is already right.
            report.changes.clear();
        }
    } else {
        report.status = Status::Skipped;
        report.message = Some(match failed {
            Some(title) => format!("not applied: {title} failed before it"),
            None => "not applied: the apply script stopped early".into(),
        });
    }
}

/// The apply script of one snippet (tag `r0`), for unit tests of snippets.
#[cfg(test)]
pub(crate) fn script_for_tests(snippet: &str) -> String {
    script::apply_script(
        &[script::Step {
            tag: "r0".into(),
            snippet,
            notifies: Vec::new(),
        }],
        &[],
    )
}

fn tagged(planned: &PlannedResource<'_>, tags: &[String]) -> bool {
    tags.is_empty()
        || planned
            .resource
            .value
            .common
            .tags
            .iter()
            .any(|t| tags.contains(&t.value))
}

/// Whether a resource's `when` holds on this host.
fn when_holds(
    input: &PlanInput<'_>,
    facts: &Value,
    vars: &Map<String, Value>,
) -> Result<bool, Diag> {
    let Some(when) = &input.planned.resource.value.common.when else {
        return Ok(true);
    };
    match &when.value {
        When::Match(conditions) => {
            for (key, wanted) in conditions {
                let actual = facts.get(key).or_else(|| vars.get(key));
                let Some(actual) = actual else {
                    return Err(Diag::at(
                        input.planned.place(),
                        format!("`when` tests '{key}', which is neither a fact nor a variable"),
                    )
                    .help("facts: os_family, os_id, os_version, os_codename, arch, hostname, init, package_manager, cpus, memory_mb, user, container; or define the variable"));
                };
                if loose(actual) != loose(wanted) {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        When::Expr(expr) => {
            let text = crate::recipe::Text {
                value: expr.clone(),
                referenced: when.referenced,
                defined: when.defined,
            };
            Ok(input.render(&text)?.trim() == "true")
        }
    }
}

/// Values compared as text, so that `os_version: 12` matches "12".
fn loose(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
