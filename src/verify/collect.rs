//! cucumber's events → redgreen's results and events. The [`Collector`]
//! turns the events of a run into one [`ScenarioResult`] per (scenario,
//! host); [`Reporters`] is the writer cucumber feeds: the collector, and,
//! when someone listens, the same events in file order as typed
//! [`Event`](super::Event)s.

use crate::config::waivers::Waiver;
use std::collections::HashMap;
use std::time::SystemTime;

use cucumber::event::{self, Cucumber, Feature, Rule};
use cucumber::writer::{self, Normalized};
use cucumber::{Writer, cli, parser};

type CucumberEvent = cucumber::Event<Cucumber<HostWorld>>;

use super::features::{host_of, host_suffix};
use super::results::{Outcome, ScenarioResult, StepFailure, StepResult, StepStatus};
use super::world::{FailureKind, HostWorld};
use super::{Event, Listener};

/// One scenario's result, per (scenario, host), from cucumber's events.
#[derive(Default)]
pub(crate) struct Collector {
    running: HashMap<(String, String, usize, usize), Partial>,
    /// Finished scenarios.
    pub(crate) results: Vec<ScenarioResult>,
    /// waivers.yml, and today's date (UTC) they are held against.
    waivers: (Vec<Waiver>, String),
}

struct Partial {
    started: SystemTime,
    /// The steps that ran so far, in order.
    steps: Vec<StepResult>,
    step_started: SystemTime,
    failure: Option<StepFailure>,
    unreachable: bool,
}

impl Collector {
    /// Take one event; returns the scenario it finished, if it finished one.
    pub(crate) fn handle(
        &mut self,
        event: &parser::Result<CucumberEvent>,
    ) -> Option<&ScenarioResult> {
        let Ok(event) = event else {
            return None;
        };
        let at = event.at;
        match &event.value {
            Cucumber::Feature(feature, Feature::Scenario(scenario, ev)) => {
                self.scenario(feature, None, scenario, &ev.event, at)
            }
            Cucumber::Feature(feature, Feature::Rule(rule, Rule::Scenario(scenario, ev))) => {
                self.scenario(feature, Some(rule), scenario, &ev.event, at)
            }
            _ => None,
        }
    }

    fn scenario(
        &mut self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        scenario: &gherkin::Scenario,
        ev: &event::Scenario<HostWorld>,
        at: SystemTime,
    ) -> Option<&ScenarioResult> {
        let file = feature
            .path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = (
            file.clone(),
            scenario.name.clone(),
            scenario.position.line,
            scenario.position.col,
        );
        if let event::Scenario::Started = ev {
            self.running.insert(
                key,
                Partial {
                    started: at,
                    steps: Vec::new(),
                    step_started: at,
                    failure: None,
                    unreachable: false,
                },
            );
            return None;
        }
        if let event::Scenario::Finished = ev {
            let partial = self.running.remove(&key)?;
            self.results
                .push(finish(feature, rule, scenario, file, partial, at));
            let (waivers, today) = &self.waivers;
            if let Some(result) = self.results.last_mut() {
                waive(result, waivers, today);
            }
            return self.results.last();
        }
        let partial = self.running.get_mut(&key)?;
        match ev {
            event::Scenario::Hook(_, event::Hook::Failed(world, info)) => {
                let failure = world.as_ref().and_then(|w| w.failure.clone());
                partial.unreachable = failure
                    .as_ref()
                    .is_none_or(|f| f.kind == FailureKind::Unreachable);
                partial.failure.get_or_insert(StepFailure {
                    step: "(connecting to the host)".into(),
                    line: scenario.position.line,
                    message: failure
                        .map(|f| f.message)
                        .unwrap_or_else(|| panic_text(info)),
                    command: None,
                });
            }
            event::Scenario::Step(step, step_event)
            | event::Scenario::Background(step, step_event) => {
                let status = match step_event {
                    event::Step::Started => {
                        partial.step_started = at;
                        return None;
                    }
                    event::Step::Passed(..) => StepStatus::Passed,
                    event::Step::Skipped => StepStatus::Skipped,
                    event::Step::Failed(_, _, world, err) => {
                        let failure = world.as_ref().and_then(|w| w.failure.clone());
                        if failure
                            .as_ref()
                            .is_some_and(|f| f.kind == FailureKind::Unreachable)
                        {
                            partial.unreachable = true;
                        }
                        partial.failure.get_or_insert(StepFailure {
                            step: step_line(step),
                            line: step.position.line,
                            message: failure
                                .as_ref()
                                .map(|f| f.message.clone())
                                .unwrap_or_else(|| step_error(err)),
                            command: failure.and_then(|f| f.command),
                        });
                        StepStatus::Failed
                    }
                };
                partial.steps.push(StepResult {
                    keyword: step.keyword.trim().to_string(),
                    text: step.value.clone(),
                    line: step.position.line,
                    status,
                    seconds: seconds_between(partial.step_started, at),
                });
            }
            _ => {}
        }
        None
    }
}

/// A finished scenario: the steps that did not run (after a failed one, or
/// all of them on a host that could not be reached) are skipped.
fn finish(
    feature: &gherkin::Feature,
    rule: Option<&gherkin::Rule>,
    scenario: &gherkin::Scenario,
    file: String,
    mut partial: Partial,
    at: SystemTime,
) -> ScenarioResult {
    let all = super::features::steps_run(feature, rule, scenario);
    for step in all.into_iter().skip(partial.steps.len()) {
        partial.steps.push(StepResult {
            keyword: step.keyword.trim().to_string(),
            text: step.value.clone(),
            line: step.position.line,
            status: StepStatus::Skipped,
            seconds: 0.0,
        });
    }
    let host = host_of(scenario).unwrap_or_default().to_string();
    let name = scenario
        .name
        .strip_suffix(&host_suffix(&host))
        .unwrap_or(&scenario.name)
        .to_string();
    let status = if partial.unreachable {
        Outcome::Unreachable
    } else if partial.failure.is_some() {
        Outcome::Failed
    } else if partial
        .steps
        .iter()
        .any(|s| s.status == StepStatus::Skipped)
    {
        Outcome::Skipped
    } else {
        Outcome::Passed
    };
    ScenarioResult {
        feature: feature.name.clone(),
        file,
        line: scenario.position.line,
        rule: rule.map(|r| r.name.clone()),
        scenario: name,
        host,
        status,
        seconds: seconds_between(partial.started, at),
        failure: partial.failure,
        waiver: None,
        steps: partial.steps,
        keyword: scenario.keyword.clone(),
        column: scenario.position.col,
        tags: scenario.tags.clone(),
    }
}

/// A failed scenario that a waiver covers becomes waived, with the waiver
/// named.
fn waive(result: &mut ScenarioResult, waivers: &[Waiver], today: &str) {
    if result.status != Outcome::Failed {
        return;
    }
    if let Some(waiver) = waivers
        .iter()
        .find(|w| w.covers(&result.scenario, &result.tags, &result.host, today))
    {
        result.status = Outcome::Waived;
        result.waiver = Some(format!(
            "{} until {} ({})",
            waiver.reason, waiver.until, waiver.place
        ));
    }
}

fn seconds_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).unwrap_or_default().as_secs_f64()
}

/// `Then the file "/x" should exist`.
fn step_line(step: &gherkin::Step) -> String {
    format!("{}{}", step.keyword, step.value).trim().to_string()
}

/// A step failure that did not come from redgreen's own steps, in words.
fn step_error(err: &event::StepError) -> String {
    match err {
        event::StepError::NotFound => "undefined step: no phrase matches it".into(),
        event::StepError::AmbiguousMatch(e) => format!("ambiguous step: {e}"),
        event::StepError::Panic(info) => panic_text(info),
    }
}

fn panic_text(info: &cucumber::event::Info) -> String {
    info.downcast_ref::<String>()
        .cloned()
        .or_else(|| info.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "failed".into())
}

/// What cucumber feeds during a run: the collector (the results), and the
/// listener, when there is one, through cucumber's `Normalize` (which puts
/// the events of scenarios that run at once in file order).
pub(crate) struct Reporters<'l> {
    pub(crate) collector: Collector,
    live: Option<Box<writer::Normalize<HostWorld, Live<'l>>>>,
}

impl<'l> Reporters<'l> {
    /// The collector, and the listener if any.
    pub(crate) fn new(listener: Option<Listener<'l>>, waivers: &[Waiver]) -> Reporters<'l> {
        let collector = || Collector {
            waivers: (waivers.to_vec(), crate::config::waivers::today()),
            ..Collector::default()
        };
        Reporters {
            collector: collector(),
            live: listener.map(|listener| {
                Box::new(writer::Normalize::new(Live {
                    collector: collector(),
                    listener,
                }))
            }),
        }
    }
}

impl Writer<HostWorld> for Reporters<'_> {
    type Cli = cli::Empty;

    async fn handle_event(&mut self, event: parser::Result<CucumberEvent>, cli: &Self::Cli) {
        self.collector.handle(&event);
        if let Some(live) = &mut self.live {
            live.handle_event(event, cli).await;
        }
    }
}

impl Normalized for Reporters<'_> {}

/// The events of a run in file order, as typed events for a listener: a
/// feature starts, a scenario is done (on a host), the run is done.
struct Live<'l> {
    collector: Collector,
    listener: Listener<'l>,
}

impl Writer<HostWorld> for Live<'_> {
    type Cli = cli::Empty;

    async fn handle_event(&mut self, event: parser::Result<CucumberEvent>, _: &Self::Cli) {
        if let Ok(event) = &event {
            match &event.value {
                Cucumber::Feature(feature, Feature::Started) => {
                    (self.listener)(Event::FeatureStarted {
                        keyword: &feature.keyword,
                        name: &feature.name,
                    });
                }
                Cucumber::Finished => (self.listener)(Event::Finished),
                _ => {}
            }
        }
        if let Some(result) = self.collector.handle(&event) {
            (self.listener)(Event::ScenarioDone(result));
        }
    }
}
