//! Expand → verify → contract: a converge whose removals wait for features.
//!
//! A removal with `after:` names features (a feature file, a scenario's
//! name, a `@tag`) that must pass on its host before it runs. Such a
//! converge goes in three parts per host: everything else is applied, the
//! removals held (expand); the named features run against the host
//! (verify); only on a host where they passed are the held removals planned
//! again from a fresh probe and applied (contract). Where they failed, the
//! removals stay held and the host fails. A converge without `after:` is one
//! engine run, as before.

use std::collections::BTreeSet;

use crate::config::Project;
use crate::diagnostic::{Diag, Diags};
use crate::engine::ledger::{self, Converged, FeaturesEnded, FeaturesResult};
use crate::engine::{
    self, EngineOptions, HostOutcome, HostReport, Job, Listener, Mode, ResourceReport, RunReport,
    Stage,
};
use crate::verify::{self, Suite, VerifyOptions, results::Outcome};

/// Every `after:` reference names a feature file, a scenario or a tag of
/// the project's features; each that does not is bad input.
pub fn check_after(project: &Project, suite: &Suite) -> Diags {
    let mut diags = Diags::default();
    for recipe in project.recipes.values() {
        for resource in &recipe.recipe.resources {
            for reference in &resource.value.common.after {
                if !suite.names(&reference.value) {
                    diags.push(
                        Diag::at(
                            recipe.source.place(reference.referenced),
                            format!(
                                "`after: {}` names no feature file, scenario or tag under features/",
                                crate::output::shown(&reference.value)
                            ),
                        )
                        .label("not found in features/")
                        .help("name a feature file (`features/site.feature`), a scenario as written after `Scenario:`, or a `@tag` that a scenario carries"),
                    );
                }
            }
        }
    }
    diags
}

/// Whether a job has a removal that waits for features.
pub fn gated(job: &Job<'_>) -> bool {
    job.resources
        .resources
        .iter()
        .any(|planned| !planned.resource.value.common.after.is_empty())
}

/// Converge `jobs`; where removals wait for features, in three parts (see
/// the module's comment). `features` is how the features run.
pub async fn converge(
    project: &Project,
    suite: &Suite,
    jobs: Vec<Job<'_>>,
    options: &EngineOptions,
    features: &VerifyOptions,
    events: Listener<'_>,
) -> RunReport {
    if options.mode != Mode::Converge || !jobs.iter().any(gated) {
        return engine::run(project, jobs, options, events).await;
    }
    let mut later: Vec<Job<'_>> = jobs
        .iter()
        .filter(|job| gated(job))
        .map(|job| Job {
            target: job.target.clone(),
            resources: job.resources.clone(),
        })
        .collect();
    let expand = EngineOptions {
        stage: Stage::Expand,
        ..options.clone()
    };
    let mut report = engine::run(project, jobs, &expand, events).await;

    // The hosts whose held removals wait, grouped by what they wait for.
    let mut waiting: Vec<(BTreeSet<String>, Vec<String>)> = Vec::new();
    for host in &report.hosts {
        if host.outcome != HostOutcome::Ok {
            continue;
        }
        let refs: BTreeSet<String> = host
            .resources
            .iter()
            .filter(|r| is_held(r))
            .flat_map(|r| r.after.iter().cloned())
            .collect();
        if refs.is_empty() {
            continue;
        }
        match waiting.iter_mut().find(|(r, _)| *r == refs) {
            Some((_, hosts)) => hosts.push(host.host.clone()),
            None => waiting.push((refs, vec![host.host.clone()])),
        }
    }

    let mut passed: Vec<String> = Vec::new();
    for (refs, hosts) in &waiting {
        if options.interrupt.is_set() {
            for entry in report.hosts.iter_mut().filter(|h| hosts.contains(&h.host)) {
                leave_held(
                    entry,
                    "not applied: interrupted before its after: features ran",
                    HostOutcome::Interrupted(
                        "interrupted before the features that its removals wait for ran; everything else was applied".into(),
                    ),
                );
            }
            continue;
        }
        let refs: Vec<String> = refs.iter().cloned().collect();
        let targets: Vec<_> = later
            .iter()
            .filter(|job| hosts.contains(&job.target.name))
            .map(|job| job.target.clone())
            .collect();
        let part = suite.only(&refs);
        let results = verify::run_features(&part, &targets, features, None).await;
        for host in hosts {
            let ran = results.scenarios.iter().any(|s| s.host == *host);
            let failures: Vec<String> = results
                .scenarios
                .iter()
                .filter(|s| s.host == *host)
                .filter(|s| matches!(s.status, Outcome::Failed | Outcome::Unreachable))
                .map(|s| format!("{} ({})", s.scenario, s.id()))
                .chain(
                    results
                        .hosts
                        .iter()
                        .filter(|h| h.host == *host)
                        .filter_map(|h| h.unreachable().map(|why| format!("unreachable: {why}"))),
                )
                .chain((!ran).then(|| {
                    "no scenario they name runs on this host (see its @host: and @group: tags)"
                        .to_string()
                }))
                .collect();
            let round_trips = results
                .hosts
                .iter()
                .find(|h| h.host == *host)
                .map_or(0, |h| h.round_trips);
            let Some(entry) = report.hosts.iter_mut().find(|h| h.host == *host) else {
                continue;
            };
            entry.round_trips += round_trips;
            let failed = failures.join("; ");
            events(engine::Event::Gate {
                host,
                features: &refs.join(", "),
                failed: &failed,
            });
            if failures.is_empty() {
                passed.push(host.clone());
                continue;
            }
            // The host's record says the converge failed, with the features.
            if let Some(mut ledger) = entry.ledger.clone() {
                ledger.result = Converged::Failed;
                ledger.features = Some(FeaturesResult {
                    result: FeaturesEnded::Failed,
                    passed: results
                        .scenarios
                        .iter()
                        .filter(|s| s.host == *host && s.status == Outcome::Passed)
                        .count(),
                    failed: failures.len(),
                    at: ledger::now(),
                    commit: options.revision.commit.clone(),
                });
                let target = targets.iter().find(|t| t.name == *host);
                let written = match target {
                    Some(target) => ledger::record(target, &ledger, options.command_timeout).await,
                    None => Err("the host is not among the targets".into()),
                };
                entry.round_trips += 1;
                match written {
                    Ok(()) => entry.ledger = Some(ledger),
                    Err(why) => entry.notes.push(format!(
                        "the failed features could not be recorded in the ledger: {why}"
                    )),
                }
            }
            leave_held(
                entry,
                &format!("not applied: its after: features failed on this host: {failed}"),
                HostOutcome::Failed(format!(
                    "the features that removals wait for failed ({failed}); everything else was applied, the removals were not"
                )),
            );
        }
    }

    later.retain(|job| passed.contains(&job.target.name));
    if later.is_empty() {
        return report;
    }
    let contract = EngineOptions {
        stage: Stage::Contract,
        ..options.clone()
    };
    let removed = engine::run(project, later, &contract, events).await;
    for part in removed.hosts {
        let Some(entry) = report.hosts.iter_mut().find(|h| h.host == part.host) else {
            continue;
        };
        for resource in &mut entry.resources {
            if !is_held(resource) {
                continue;
            }
            let done = part
                .resources
                .iter()
                .find(|r| r.declared == resource.declared && r.title == resource.title);
            match done {
                Some(done) => *resource = done.clone(),
                None => {
                    resource.message = Some(format!(
                        "not applied: the removal part of the converge did not reach it ({})",
                        outcome_text(&part.outcome)
                    ))
                }
            }
        }
        entry.handlers.extend(part.handlers);
        entry.notes.extend(part.notes);
        entry.round_trips += part.round_trips;
        entry.seconds += part.seconds;
        if part.ledger.is_some() {
            entry.ledger = part.ledger;
        }
        if part.outcome != HostOutcome::Ok {
            entry.outcome = part.outcome;
        }
    }
    report
}

/// A removal the expand part held for its features.
fn is_held(resource: &ResourceReport) -> bool {
    resource.message.as_deref() == Some(engine::HELD)
}

/// The held removals of `entry` stay unapplied, saying `why`; the host ends
/// with `outcome`.
fn leave_held(entry: &mut HostReport, why: &str, outcome: HostOutcome) {
    for resource in entry.resources.iter_mut().filter(|r| is_held(r)) {
        resource.message = Some(why.to_string());
    }
    entry.outcome = outcome;
}

fn outcome_text(outcome: &HostOutcome) -> String {
    match outcome {
        HostOutcome::Ok => "ok".into(),
        HostOutcome::Failed(why)
        | HostOutcome::Unreachable(why)
        | HostOutcome::Interrupted(why)
        | HostOutcome::Refused(why) => why.clone(),
    }
}
