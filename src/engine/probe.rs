//! Stage 1, the probe: every question of every resource of a host, the
//! facts and the ledger, in one script (round trip 1).

use super::ledger::{self, Ledger};
use super::{EngineOptions, HostOutcome, HostReport, Job, script};
use crate::config::Project;
use crate::resource::{self, PlannedResource, Probed, Query, QueryInput, query};
use crate::template;
use crate::transport::{Script, TIMED_OUT, Transport, TransportError};

/// What the probe found.
pub(super) struct Probe {
    /// What the resources will plan against.
    pub probed: Probed,
    /// The ledger on the host, if it has one.
    pub recorded: Option<Ledger>,
}

/// Ask the host every question of `selected`. None when the probe did not
/// finish: the host's outcome says why.
pub(super) async fn run(
    project: &Project,
    job: &Job<'_>,
    selected: &[&PlannedResource<'_>],
    options: &EngineOptions,
    transport: &dyn Transport,
    report: &mut HostReport,
) -> Result<Option<Probe>, TransportError> {
    let queries = queries(project, job, selected, options);
    let probe = Script::root(script::probe(&queries)).with_timeout(options.command_timeout);
    let output = transport.run(&probe).await?;
    let lines = crate::shell::parse_lines(&output.stdout_text());
    if !lines.complete {
        report.outcome = HostOutcome::Failed(if output.status == TIMED_OUT {
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
        return Ok(None);
    }
    let probed = query::read_answers(&queries, &lines);
    report.answers = query::answers(&queries, &lines);
    report.facts = Some(probed.facts.clone());
    Ok(Some(Probe {
        probed,
        recorded: ledger::read(&lines),
    }))
}

/// The questions of `selected`, each asked once. Fields the probe needs are
/// rendered before facts are known.
fn queries(
    project: &Project,
    job: &Job<'_>,
    selected: &[&PlannedResource<'_>],
    options: &EngineOptions,
) -> Vec<Query> {
    let target = &job.target;
    let host_value = template::host_value(&target.name, &target.address, &target.groups);
    let context = template::context(&job.resources.vars, &host_value, None);
    query::dedup_queries(
        selected
            .iter()
            .flat_map(|planned| {
                let input = QueryInput {
                    planned,
                    context: &context,
                    templates: &project.templates,
                    want_diff: options.want_diff,
                };
                let mut queries = resource::queries(&input);
                // Evidence of use, only for what a removal may remove.
                if resource::removal(&planned.resource.value).is_some() {
                    let window = resource::evidence::window(planned).as_secs();
                    queries.extend(
                        resource::evidence(&input)
                            .into_iter()
                            .map(|subject| Query::Evidence { subject, window }),
                    );
                }
                queries
            })
            .collect(),
    )
}
