//! Running features with cucumber: a parser that yields the features
//! expanded per host, one step function behind every phrase, a `before` hook
//! that hands each scenario its host's connection, and the reporters.
//!
//! Hosts are connected lazily, once each, by the first scenario that needs
//! them (at most `concurrency` connecting at once); every scenario on a host
//! shares its connection, whose transport keeps at most 8 channels open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::LocalBoxFuture;
use tokio::sync::{OnceCell, Semaphore};

use super::collect::Reporters;
use super::features::{self, HostTags};
use super::results::{HostSummary, Outcome, Reached, Report};
use super::world::{Failure, FailureKind, HostSlot, HostWorld, RunContext, dispatch};
use super::{Listener, Suite, VerifyOptions};
use crate::transport::Target;

/// Scenarios that run at once, at least (cucumber's own default).
const MIN_SCENARIOS: usize = 64;

/// How many scenarios run at once: as many as the hosts connecting at once
/// (`concurrency`) can serve with their channels, and at least
/// [`MIN_SCENARIOS`]. The features are expanded scenario by scenario (each
/// scenario's copies for every host side by side), so a fixed limit of 64
/// also limited the hosts verified at once to 64: at 1,000 hosts verify
/// took 1.4 times as long as a no-op converge, which has every host in
/// flight.
fn scenarios_at_once(concurrency: usize) -> usize {
    concurrency
        .max(1)
        .saturating_mul(crate::transport::ssh::MAX_CHANNELS)
        .max(MIN_SCENARIOS)
}

/// The features, already expanded per host, as a cucumber parser.
struct Expanded(Vec<gherkin::Feature>);

impl cucumber::Parser<()> for Expanded {
    type Cli = cucumber::cli::Empty;
    type Output =
        futures::stream::Iter<std::vec::IntoIter<cucumber::parser::Result<gherkin::Feature>>>;

    fn parse(self, _: (), _: Self::Cli) -> Self::Output {
        futures::stream::iter(self.0.into_iter().map(Ok).collect::<Vec<_>>())
    }
}

/// The `before` hook: give the world its host, connecting on first use.
fn before_hook(
    context: Arc<RunContext>,
) -> impl for<'a> Fn(
    &'a gherkin::Feature,
    Option<&'a gherkin::Rule>,
    &'a gherkin::Scenario,
    &'a mut HostWorld,
) -> LocalBoxFuture<'a, ()>
+ 'static {
    move |_feature, _rule, scenario, world| {
        let context = context.clone();
        Box::pin(async move {
            let host = features::host_of(scenario).and_then(|h| context.hosts.get(h).cloned());
            let Some(host) = host else {
                std::panic::resume_unwind(Box::new(format!(
                    "no host for the scenario {}",
                    scenario.name
                )));
            };
            match host.connect().await {
                Ok(transport) => {
                    world.enter(context.clone(), host.clone(), transport);
                    // The first scenario on the host asks ahead for all of
                    // them; the others wait for its answers.
                    let scenarios = context
                        .scenarios
                        .get(&host.target.name)
                        .map_or(&[][..], Vec::as_slice);
                    let runner = context.steps.clone();
                    let answers = host
                        .answers
                        .get_or_init(|| runner.prefetch(world, scenarios))
                        .await
                        .clone();
                    world.prefetched = answers;
                }
                Err(err) => {
                    let failure = Failure {
                        message: format!("cannot reach {}: {err}", host.target.name),
                        command: None,
                        kind: if err.is_unreachable() {
                            FailureKind::Unreachable
                        } else {
                            FailureKind::Check
                        },
                    };
                    super::world::fail(world, failure);
                }
            }
        })
    }
}

/// Run the suite against `targets`, telling `listener` as it goes.
pub(crate) async fn execute(
    suite: &Suite,
    targets: &[Target],
    options: &VerifyOptions,
    listener: Option<Listener<'_>>,
) -> Report {
    let host_tags: Vec<HostTags> = targets
        .iter()
        .map(|t| HostTags {
            name: t.name.clone(),
            aliases: suite.aliases_of(&t.name),
            groups: t.groups.clone(),
        })
        .collect();
    let expanded: Vec<gherkin::Feature> = suite
        .features
        .iter()
        .filter_map(|f| features::expand(&f.feature, &host_tags, options.tags.as_ref()))
        .collect();
    let connecting = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let slots: Vec<Arc<HostSlot>> = targets
        .iter()
        .map(|target| {
            Arc::new(HostSlot {
                target: target.clone(),
                transport: OnceCell::new(),
                lost: Mutex::new(None),
                connecting: connecting.clone(),
                answers: OnceCell::new(),
            })
        })
        .collect();
    // Each host's scenarios, background steps first, as they will run.
    let mut scenarios: HashMap<String, Vec<Vec<gherkin::Step>>> = HashMap::new();
    for feature in &expanded {
        let rules = feature.rules.iter().flat_map(|rule| {
            rule.scenarios
                .iter()
                .map(move |scenario| (Some(rule), scenario))
        });
        for (rule, scenario) in feature.scenarios.iter().map(|s| (None, s)).chain(rules) {
            if let Some(host) = features::host_of(scenario) {
                let steps = features::steps_run(feature, rule, scenario)
                    .into_iter()
                    .cloned()
                    .collect();
                scenarios.entry(host.to_string()).or_default().push(steps);
            }
        }
    }
    let context = Arc::new(RunContext {
        scenarios,
        steps: suite.library.clone(),
        hosts: slots
            .iter()
            .map(|s| (s.target.name.clone(), s.clone()))
            .collect(),
        verbose: options.verbose,
        command_timeout: options.command_timeout,
        wait_within: options.wait_within,
    });

    let mut steps = cucumber::step::Collection::new();
    for phrase in &suite.library.phrases {
        let regex = phrase.regex().clone();
        let step: cucumber::Step<HostWorld> = dispatch;
        steps = steps
            .given(None, regex.clone(), step)
            .when(None, regex.clone(), step)
            .then(None, regex, step);
    }
    let runner = cucumber::runner::Basic::default()
        .steps(steps)
        .max_concurrent_scenarios(scenarios_at_once(options.concurrency))
        .before(before_hook(context.clone()));
    let runner = if options.fail_fast {
        runner.fail_fast()
    } else {
        runner
    };
    let cucumber = cucumber::Cucumber::<
        HostWorld,
        Expanded,
        (),
        _,
        Reporters<'_>,
        cucumber::cli::Empty,
    >::custom(
        Expanded(expanded),
        runner,
        Reporters::new(listener, &suite.waivers),
    )
    .with_cli(cucumber::cli::Opts::<_, _, _, cucumber::cli::Empty>::default());
    let reporters = cucumber.run(()).await;

    for slot in &slots {
        slot.close().await;
    }
    let mut scenarios = reporters.collector.results;
    let order = |host: &str| targets.iter().position(|t| t.name == host);
    let file_order = |file: &str| suite.features.iter().position(|f| f.source.name == file);
    scenarios.sort_by(|a, b| {
        (file_order(&a.file), a.line, order(&a.host)).cmp(&(
            file_order(&b.file),
            b.line,
            order(&b.host),
        ))
    });
    let hosts = slots
        .iter()
        .map(|slot| {
            let name = &slot.target.name;
            let count = |outcome: Outcome| {
                scenarios
                    .iter()
                    .filter(|s| s.host == *name && s.status == outcome)
                    .count()
            };
            let reason = slot.unreachable();
            HostSummary {
                host: name.clone(),
                outcome: match reason {
                    Some(reason) => Reached::Unreachable(reason),
                    None => Reached::Ok,
                },
                passed: count(Outcome::Passed),
                failed: count(Outcome::Failed),
                skipped: count(Outcome::Skipped),
                round_trips: slot.round_trips(),
            }
        })
        .collect();
    Report { scenarios, hosts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_host_connecting_at_once_can_run_its_scenarios() {
        // 1,000 hosts at once, 8 channels each: not 64 scenarios, which
        // would be 64 hosts at a time.
        assert_eq!(scenarios_at_once(1000), 8000);
        assert_eq!(scenarios_at_once(50), 400);
        // Few hosts keep cucumber's default.
        assert_eq!(scenarios_at_once(1), MIN_SCENARIOS);
        assert_eq!(scenarios_at_once(0), MIN_SCENARIOS);
        assert_eq!(scenarios_at_once(usize::MAX), usize::MAX);
    }
}
