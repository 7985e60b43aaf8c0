//! Stage 2, the plan: every resource of a host decides, on the controller,
//! what it must change given what the probe found (and what the resources
//! before it leave), then the handlers that what changes notifies.

use super::handlers::{self, PlannedHandler};
use super::{EngineOptions, Job, ResourceReport, Status};
use crate::config::Project;
use crate::resource::{self, Change, Decision, PlanInput, PlannedResource, Probed};
use crate::template;

/// A resource being worked on.
pub(super) struct Item<'r, 'p> {
    /// The resource.
    pub planned: &'r PlannedResource<'p>,
    /// What it will report.
    pub report: ResourceReport,
    /// The shell that makes its changes, when it has any.
    pub snippet: Option<String>,
    /// The packages it installs, when it is a package resource that does.
    pub transaction: Option<resource::package::Transaction>,
}

/// A host's plan: its resources and handlers, each with what it decided.
pub(super) struct Plan<'r, 'p> {
    /// Every selected resource, in order.
    pub items: Vec<Item<'r, 'p>>,
    /// The handlers notified by what will change, in the order they run.
    pub handlers: Vec<PlannedHandler>,
    /// A resource or handler could not be planned.
    pub failed: bool,
    /// Things worth knowing (commands without a guard, ...).
    pub notes: Vec<String>,
}

impl Plan<'_, '_> {
    /// The resources that change something, by index.
    pub fn to_apply(&self) -> Vec<usize> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.snippet.is_some())
            .map(|(n, _)| n)
            .collect()
    }

    /// Mark every resource that would change as skipped, because `why`.
    pub fn skip_changes(&mut self, why: &str) {
        for item in &mut self.items {
            if item.snippet.is_some() {
                item.report.status = Status::Skipped;
                item.report.message = Some(format!("not applied: {why}"));
            }
        }
    }

    /// Hold the removals that wait for features (`after:`): not applied in
    /// this run, reported as skipped because `why`.
    pub fn hold_gated(&mut self, why: &str) {
        for item in &mut self.items {
            if item.snippet.is_some() && !item.report.after.is_empty() {
                item.snippet = None;
                item.report.status = Status::Skipped;
                item.report.message = Some(why.to_string());
            }
        }
    }

    /// Mark every resource and handler that would change as skipped: the
    /// resources because `why`, the handlers because `handlers_why`.
    pub fn hold_back(&mut self, why: &str, handlers_why: &str) {
        self.skip_changes(why);
        for handler in &mut self.handlers {
            if handler.report.status == Status::WouldChange {
                handler.report.status = Status::Skipped;
                handler.report.message = Some(format!("not run: {handlers_why}"));
            }
        }
    }

    /// The resources' reports.
    pub fn resources(self) -> Vec<ResourceReport> {
        self.items.into_iter().map(|i| i.report).collect()
    }

    /// The resources' and the handlers' reports.
    pub fn reports(self) -> (Vec<ResourceReport>, Vec<ResourceReport>) {
        let handlers = self.handlers.into_iter().map(|h| h.report).collect();
        (self.items.into_iter().map(|i| i.report).collect(), handlers)
    }
}

/// The resources of `job` that `--tags` selects.
pub(super) fn selected<'r, 'p>(job: &'r Job<'p>, tags: &[String]) -> Vec<&'r PlannedResource<'p>> {
    job.resources
        .resources
        .iter()
        .filter(|planned| {
            tags.is_empty()
                || planned
                    .resource
                    .value
                    .common
                    .tags
                    .iter()
                    .any(|t| tags.contains(&t.value))
        })
        .collect()
}

/// Plan every selected resource against `probed`, then the handlers.
pub(super) fn plan<'r, 'p>(
    project: &Project,
    job: &Job<'_>,
    selected: Vec<&'r PlannedResource<'p>>,
    options: &EngineOptions,
    mut probed: Probed,
) -> Plan<'r, 'p> {
    let target = &job.target;
    let host_value = template::host_value(&target.name, &target.address, &target.groups);
    let facts = probed.facts.to_value();
    let context = template::context(&job.resources.vars, &host_value, Some(&facts));
    let files_dir = project.files_dir();
    let mut plan = Plan {
        items: Vec::new(),
        handlers: Vec::new(),
        failed: false,
        notes: Vec::new(),
    };
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
                reason: None,
                evidence: Vec::new(),
                after: Vec::new(),
            },
            snippet: None,
            transaction: None,
        };
        let input = PlanInput {
            planned,
            context: &context,
            templates: &project.templates,
            files_dir: &files_dir,
            want_diff: options.want_diff,
        };
        let decision = match input.when_holds(&facts, &job.resources.vars) {
            Ok(true) => {
                probed.package_transaction = None;
                resource::plan(&input, &mut probed)
            }
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
                if item.report.removes {
                    item.report.reason = planned
                        .resource
                        .value
                        .common
                        .reason
                        .as_ref()
                        .map(|r| r.value.trim().to_string());
                    item.report.after = planned
                        .resource
                        .value
                        .common
                        .after
                        .iter()
                        .map(|a| a.value.clone())
                        .collect();
                    let query_input = resource::QueryInput {
                        planned,
                        context: &context,
                        templates: &project.templates,
                        want_diff: false,
                    };
                    item.report.evidence = resource::evidence(&query_input)
                        .iter()
                        .flat_map(|subject| {
                            probed.evidence.get(subject).cloned().unwrap_or_default()
                        })
                        .collect();
                }
                item.report.changes = changes;
                item.snippet = Some(snippet);
                item.transaction = probed.package_transaction.take();
                probed.will_change(&resource::managed_paths(planned));
                plan.notes
                    .extend(resource::notes(planned, &item.report.title));
            }
            Err(diag) => {
                plan.failed = true;
                item.report.status = Status::Failed;
                item.report.message = Some(diag.one_line());
            }
        }
        plan.items.push(item);
    }

    // Handlers notified by what will change, and their snippets.
    let notifiers: Vec<handlers::Notifier<'_, '_>> = plan
        .items
        .iter()
        .map(|i| handlers::Notifier {
            planned: i.planned,
            changes: i.snippet.is_some(),
            applies: !matches!(i.report.status, Status::Skipped | Status::Failed),
        })
        .collect();
    let input = handlers::Input {
        project,
        job,
        context: &context,
        facts: &facts,
        files_dir: &files_dir,
        want_diff: options.want_diff,
        probed: &probed,
    };
    plan.handlers = handlers::plan(&input, &notifiers);
    join_package_transactions(&mut plan);
    if plan
        .handlers
        .iter()
        .any(|h| h.report.status == Status::Failed)
    {
        plan.failed = true;
    }
    plan
}

/// Install the packages of consecutive package resources in one transaction:
/// the first of a run gets a snippet that installs all of them and says
/// `changed` for each; the others run nothing of their own. A run is broken
/// by any other resource that changes something (the order of the recipe
/// holds: a repository written before a package is there before it is
/// installed) and by a resource that notifies handlers (its flag is raised
/// from its own step's output), which may start a run of its own.
fn join_package_transactions(plan: &mut Plan<'_, '_>) {
    let notifies =
        |n: usize, plan: &Plan<'_, '_>| plan.handlers.iter().any(|h| h.notified_by.contains(&n));
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for n in plan.to_apply() {
        if plan.items[n].transaction.is_none() {
            runs.push(std::mem::take(&mut current));
        } else if notifies(n, plan) {
            // It may start a run (its step is the one that installs).
            runs.push(std::mem::replace(&mut current, vec![n]));
        } else {
            current.push(n);
        }
    }
    runs.push(current);
    for run in runs.into_iter().filter(|r| r.len() > 1) {
        let members: Vec<(String, &resource::package::Transaction)> = run
            .iter()
            .map(|&n| {
                (
                    format!("r{n}"),
                    plan.items[n].transaction.as_ref().expect("a transaction"),
                )
            })
            .collect();
        let joined = resource::package::joined_snippet(&members);
        let first = format!("r{}", run[0]);
        plan.items[run[0]].snippet = Some(joined);
        for &n in &run[1..] {
            plan.items[n].snippet = Some(format!(": installed in the transaction of {first}\n"));
        }
    }
}
