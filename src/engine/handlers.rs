//! Handlers: what runs once, at the end of a host's converge, because
//! something that notifies it changed.
//!
//! A resource notifies `service NAME restart|reload` or a `command` under
//! `handlers:` by its name; a `service` with `restart_on: [PATHS]` is
//! restarted when a resource that manages one of those paths changes.
//! Every handler that some planned change notifies goes to the end of the
//! apply script (the same round trip), and runs there only if one of its
//! notifiers printed `changed` (see [`super::script`]).
//!
//! Order: service handlers first, in the order they are first notified (a
//! service both reloaded and restarted is only restarted), so that commands
//! that follow see the new configuration; then command handlers, in the order
//! they are declared (recipes in their apply order).

use std::path::Path;

use serde_json::Value;

use super::{Job, ResourceReport, Status};
use crate::config::Project;
use crate::recipe::Name;
use crate::resource::service::{self, Action};
use crate::resource::{self, Change, PlanInput, PlannedResource, Probed, Spec};

/// What handler planning looks at.
pub(super) struct Input<'a> {
    pub project: &'a Project,
    pub job: &'a Job<'a>,
    pub context: &'a Value,
    pub facts: &'a Value,
    pub files_dir: &'a Path,
    pub want_diff: bool,
    pub probed: &'a Probed,
}

/// A handler that will be in the apply script.
pub(super) struct PlannedHandler {
    /// Its report (status WouldChange, or Failed when it cannot be planned).
    pub report: ResourceReport,
    /// Its shell code.
    pub snippet: String,
    /// The resources (indices in the host's planned list) that notify it.
    pub notified_by: Vec<usize>,
}

/// A service handler being gathered.
struct ServiceHandler {
    name: String,
    action: Action,
    notified_by: Vec<usize>,
}

/// A resource of the host as handlers see it.
pub(super) struct Notifier<'r, 'p> {
    /// The resource.
    pub planned: &'r PlannedResource<'p>,
    /// It will change something.
    pub changes: bool,
    /// It applies to this host (`when` holds).
    pub applies: bool,
}

/// The handlers notified by `resources`, in the order they run.
pub(super) fn plan(input: &Input<'_>, resources: &[Notifier<'_, '_>]) -> Vec<PlannedHandler> {
    let mut services: Vec<ServiceHandler> = Vec::new();
    let mut commands: Vec<(String, Vec<usize>)> = Vec::new();
    let mut notify_service = |name: &str, action: Action, by: usize| match services
        .iter_mut()
        .find(|s| s.name == name)
    {
        Some(handler) => {
            handler.action = handler.action.max(action);
            if !handler.notified_by.contains(&by) {
                handler.notified_by.push(by);
            }
        }
        None => services.push(ServiceHandler {
            name: name.to_string(),
            action,
            notified_by: vec![by],
        }),
    };
    for (n, resource) in resources.iter().enumerate() {
        if !resource.changes {
            continue;
        }
        for notify in &resource.planned.resource.value.common.notify {
            match crate::config::parse_service_notify(&notify.value) {
                Some((name, action)) => {
                    notify_service(name, Action::parse(action).unwrap_or(Action::Restart), n)
                }
                None => match commands.iter_mut().find(|(c, _)| *c == notify.value) {
                    Some((_, by)) => by.push(n),
                    None => commands.push((notify.value.clone(), vec![n])),
                },
            }
        }
    }
    // restart_on: a service restarts when a resource managing one of its paths changes.
    for service in resources.iter().filter(|r| r.applies) {
        let planned = service.planned;
        let Spec::Service(spec) = &planned.resource.value.spec else {
            continue;
        };
        let paths: Vec<String> = spec
            .restart_on
            .iter()
            .filter_map(|p| render(input, planned, p))
            .collect();
        if paths.is_empty() {
            continue;
        }
        for (n, other) in resources.iter().enumerate() {
            if other.changes
                && resource::managed_paths(other.planned)
                    .iter()
                    .any(|p| paths.contains(p))
            {
                notify_service(&planned.names[0], Action::Restart, n);
            }
        }
    }
    services.sort_by_key(|s| s.notified_by.iter().min().copied());

    let title_of = |n: usize| resources[n].planned.title();
    let notified_text = |by: &[usize]| {
        let titles: Vec<String> = by.iter().map(|&n| title_of(n)).collect();
        format!("notified by {}", titles.join(", "))
    };
    let mut out = Vec::new();
    for handler in services {
        let first = resources[handler.notified_by[0]].planned;
        let mut report = ResourceReport {
            kind: "service".into(),
            title: format!(
                "handler: service {} {}",
                handler.name,
                handler.action.as_str()
            ),
            declared: first.place().position(),
            status: Status::WouldChange,
            changes: vec![Change::Note {
                text: notified_text(&handler.notified_by),
            }],
            removes: false,
            message: None,
            reason: None,
            evidence: Vec::new(),
            after: Vec::new(),
        };
        let snippet = if !["systemd", "openrc", "sysvinit"]
            .contains(&input.probed.facts.init.as_str())
        {
            report.status = Status::Failed;
            report.message = Some(format!(
                "this host's init is {}; redgreen manages services with systemd, OpenRC and sysvinit",
                input.probed.facts.init
            ));
            String::new()
        } else if !service::valid_name(&handler.name) {
            report.status = Status::Failed;
            report.message = Some(format!("invalid service name '{}'", handler.name));
            String::new()
        } else {
            service::handler_snippet(&handler.name, handler.action)
        };
        out.push(PlannedHandler {
            report,
            snippet,
            notified_by: handler.notified_by,
        });
    }
    // Command handlers in declaration order; of two handlers with one name,
    // the first declared is the one that runs.
    let mut seen: Vec<&str> = Vec::new();
    for planned in &input.job.resources.handlers {
        let Name::One(name) = &planned.resource.value.name.value else {
            continue;
        };
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        let Some((_, by)) = commands.iter().find(|(c, _)| c == name) else {
            continue;
        };
        let Spec::Command(spec) = &planned.resource.value.spec else {
            continue;
        };
        let plan_input = PlanInput {
            planned,
            context: input.context,
            templates: &input.project.templates,
            files_dir: input.files_dir,
            want_diff: input.want_diff,
        };
        let mut report = ResourceReport {
            kind: "command".into(),
            title: format!("handler: {}", planned.title()),
            declared: planned.place().position(),
            status: Status::WouldChange,
            changes: Vec::new(),
            removes: false,
            message: None,
            reason: None,
            evidence: Vec::new(),
            after: Vec::new(),
        };
        let when = plan_input.when_holds(input.facts, &input.job.resources.vars);
        let snippet = match when.and_then(|holds| {
            holds
                .then(|| resource::command::handler(&plan_input, spec))
                .transpose()
        }) {
            Ok(Some((mut changes, snippet))) => {
                changes.push(Change::Note {
                    text: notified_text(by),
                });
                report.changes = changes;
                snippet
            }
            Ok(None) => continue, // `when` does not hold: not run here
            Err(diag) => {
                report.status = Status::Failed;
                report.message = Some(diag.one_line());
                String::new()
            }
        };
        out.push(PlannedHandler {
            report,
            snippet,
            notified_by: by.clone(),
        });
    }
    out
}

fn render(
    input: &Input<'_>,
    planned: &PlannedResource<'_>,
    text: &crate::recipe::Text,
) -> Option<String> {
    let place = planned.source.place(text.referenced);
    input
        .project
        .templates
        .render_inline(&text.value, input.context, &place)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Target;

    /// The handler titles that `recipe` runs when the resources at
    /// `changed` (indices) change.
    fn handlers_of(recipe: &str, changed: &[usize]) -> Vec<String> {
        let (_dir, project) = crate::config::testing::project(&[
            (
                "redgreen.yml",
                "hosts:\n  h: { address: 127.0.0.1, groups: [g] }\ngroups:\n  g: { recipes: [r] }\n",
            ),
            ("recipes/r.yml", recipe),
        ]);
        let (host, resources) = crate::config::testing::expand(&project, &["g".into()]);
        let job = Job {
            target: Target {
                name: "h".into(),
                groups: vec!["g".into()],
                vars: Default::default(),
                connection: None,
                address: "127.0.0.1".into(),
            },
            resources,
        };
        let probed = crate::resource::testing::debian();
        let facts = probed.facts.to_value();
        let context = crate::template::context(&job.resources.vars, &host, Some(&facts));
        let files_dir = project.files_dir();
        let input = Input {
            project: &project,
            job: &job,
            context: &context,
            facts: &facts,
            files_dir: &files_dir,
            want_diff: false,
            probed: &probed,
        };
        let notifiers: Vec<Notifier<'_, '_>> = job
            .resources
            .resources
            .iter()
            .enumerate()
            .map(|(n, planned)| Notifier {
                planned,
                changes: changed.contains(&n),
                applies: true,
            })
            .collect();
        plan(&input, &notifiers)
            .into_iter()
            .map(|h| h.report.title)
            .collect()
    }

    const RECIPE: &str = "resources:
  - file: /etc/a
    content: a
    notify: [second, service web reload]
  - file: /etc/b
    content: b
    notify: [first, service web restart]
  - file: /etc/app.conf
    content: c
  - service: app
    restart_on: [/etc/app.conf]
handlers:
  - command: first
    run: 'true'
  - command: second
    run: 'true'
  - command: unused
    run: 'true'
";

    #[test]
    fn services_first_then_commands_in_declaration_order_each_once() {
        assert_eq!(
            handlers_of(RECIPE, &[0, 1, 2]),
            [
                "handler: service web restart",
                "handler: service app restart",
                "handler: command first",
                "handler: command second",
            ]
        );
    }

    #[test]
    fn only_what_changes_notifies() {
        assert_eq!(
            handlers_of(RECIPE, &[0]),
            ["handler: service web reload", "handler: command second"]
        );
        assert!(handlers_of(RECIPE, &[3]).is_empty());
    }
}
