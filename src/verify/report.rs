//! Results of a verify run, as data and as output.
//!
//! Every run feeds cucumber's events to a [`Collector`], which turns them
//! into one [`ScenarioResult`] per (scenario, host), with every step: the
//! data that `redgreen test` reads and every format is written from. Pretty
//! (the terminal) is written live, as scenarios finish; redgreen's JSON,
//! JUnit XML, Cucumber JSON and HTML from the results, after the run.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use cucumber::event::{self, Cucumber, Feature, Rule};
use cucumber::writer::{self, Normalized};
use cucumber::{Event, Writer, cli, parser};
use owo_colors::{OwoColorize, Stream};
use serde::Serialize;

use super::features::{host_of, host_suffix};
use super::world::{FailureKind, HostWorld};
use crate::diagnostic::Diag;
use crate::diagnostic::suggestion;

/// How a scenario ended on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step passed.
    Passed,
    /// A step failed.
    Failed,
    /// A step was skipped (no step failed).
    Skipped,
    /// The host could not be reached.
    Unreachable,
}

/// The step that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepFailure {
    /// The step as written (`Then the file "/etc/motd" should ...`).
    pub step: String,
    /// Its line in the feature file.
    pub line: usize,
    /// What was expected and what was found.
    pub message: String,
    /// The command that checked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// One scenario on one host.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// The feature's name.
    pub feature: String,
    /// The feature file, relative to the project.
    pub file: String,
    /// The scenario's line (for an outline, its example's row).
    pub line: usize,
    /// The rule it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The scenario's name.
    pub scenario: String,
    /// The host.
    pub host: String,
    /// How it ended.
    pub status: Outcome,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<StepFailure>,
    /// Every step, the background's first: those after a failed step (or on
    /// a host that could not be reached) are skipped.
    pub steps: Vec<StepResult>,
    /// `Scenario` or `Scenario Outline` (for Cucumber JSON).
    #[serde(skip)]
    pub keyword: String,
    /// The scenario's column.
    #[serde(skip)]
    pub column: usize,
    /// Its tags, `host:HOST` among them (for Cucumber JSON).
    #[serde(skip)]
    pub tags: Vec<String>,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It passed.
    Passed,
    /// It failed.
    Failed,
    /// It did not run: a step before it failed, or the host could not be
    /// reached.
    Skipped,
}

/// One step of a scenario on a host.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// `Given`, `When`, `Then`, `And` or `But`.
    pub keyword: String,
    /// The step's text after the keyword.
    pub text: String,
    /// Its line in the feature file.
    pub line: usize,
    /// How it ended.
    pub status: StepStatus,
    /// Wall time, in seconds.
    pub seconds: f64,
}

impl ScenarioResult {
    /// `features/web.feature:12`: the scenario, whatever the host.
    pub fn id(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// How many of its steps ended with `status`.
    pub fn steps_with(&self, status: StepStatus) -> usize {
        self.steps.iter().filter(|s| s.status == status).count()
    }
}

/// How a host did.
#[derive(Debug, Clone, Serialize)]
pub struct HostSummary {
    /// The host.
    pub host: String,
    /// `ok`, or `unreachable` with the reason.
    pub outcome: &'static str,
    /// Why it was unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that failed.
    pub failed: usize,
    /// Scenarios skipped.
    pub skipped: usize,
    /// Commands run on the host (a DataTable step is one).
    pub round_trips: usize,
}

/// Every result of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// One per (scenario, host), in file, line and host order.
    pub scenarios: Vec<ScenarioResult>,
    /// One per host of the run.
    pub hosts: Vec<HostSummary>,
}

impl Report {
    /// 3 if a host was unreachable, else 1 if a scenario failed, else 0.
    pub fn exit_code(&self) -> i32 {
        let mut code = crate::exit::OK;
        for scenario in &self.scenarios {
            code = code.max(match scenario.status {
                Outcome::Passed | Outcome::Skipped => crate::exit::OK,
                Outcome::Failed => crate::exit::FAILED,
                Outcome::Unreachable => crate::exit::UNREACHABLE,
            });
        }
        if self.hosts.iter().any(|h| h.reason.is_some()) {
            code = code.max(crate::exit::UNREACHABLE);
        }
        code
    }

    /// True when every scenario passed on every host.
    pub fn passed(&self) -> bool {
        self.exit_code() == crate::exit::OK
    }

    /// How many scenarios ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.scenarios
            .iter()
            .filter(|s| s.status == outcome)
            .count()
    }
}

/// Steps by how they ended, over some scenarios: they add up to every step
/// those scenarios have (skipped ones included, as in every Cucumber).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StepCounts {
    /// Every step.
    pub total: usize,
    /// Steps that passed.
    pub passed: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Steps that did not run.
    pub skipped: usize,
}

impl StepCounts {
    /// The counts of these scenarios' steps.
    pub fn of<'s>(scenarios: impl IntoIterator<Item = &'s ScenarioResult>) -> StepCounts {
        let mut counts = StepCounts::default();
        for scenario in scenarios {
            counts.total += scenario.steps.len();
            counts.passed += scenario.steps_with(StepStatus::Passed);
            counts.failed += scenario.steps_with(StepStatus::Failed);
            counts.skipped += scenario.steps_with(StepStatus::Skipped);
        }
        counts
    }
}

/// redgreen's JSON report.
pub fn json(report: &Report) -> String {
    #[derive(Serialize)]
    struct Summary {
        scenarios: usize,
        passed: usize,
        failed: usize,
        skipped: usize,
        unreachable: usize,
        steps: StepCounts,
    }
    #[derive(Serialize)]
    struct Document<'a> {
        summary: Summary,
        hosts: &'a [HostSummary],
        scenarios: &'a [ScenarioResult],
    }
    let document = Document {
        summary: Summary {
            scenarios: report.scenarios.len(),
            passed: report.count(Outcome::Passed),
            failed: report.count(Outcome::Failed),
            skipped: report.count(Outcome::Skipped),
            unreachable: report.count(Outcome::Unreachable),
            steps: StepCounts::of(&report.scenarios),
        },
        hosts: &report.hosts,
        scenarios: &report.scenarios,
    };
    crate::secrets::to_json(&document) + "\n"
}

/// The recap table printed after the pretty output.
pub fn recap(report: &Report) -> String {
    let width = crate::report::host_width(report.hosts.iter().map(|h| h.host.as_str()));
    let mut out = String::from("\nRecap\n");
    out.push_str(&format!(
        "  {:<width$}  {:>6}  {:>6}  {:>7}  {:>11}\n",
        "HOST", "PASSED", "FAILED", "SKIPPED", "ROUND TRIPS"
    ));
    for host in &report.hosts {
        let line = match &host.reason {
            Some(reason) => format!("  {:<width$}  unreachable: {reason}", host.host),
            None => format!(
                "  {:<width$}  {:>6}  {:>6}  {:>7}  {:>11}",
                host.host, host.passed, host.failed, host.skipped, host.round_trips
            ),
        };
        if host.reason.is_some() || host.failed > 0 {
            out.push_str(
                &line
                    .if_supports_color(Stream::Stdout, |l| l.red())
                    .to_string(),
            );
        } else {
            out.push_str(&line);
        }
        out.push('\n');
    }
    out
}

/// A reporter's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// cucumber's terminal output, live.
    Pretty,
    /// redgreen's JSON: one result per (scenario, host).
    Json,
    /// JUnit XML: one testcase per (scenario, host).
    Junit,
    /// Cucumber JSON (the standard schema of cucumber's report tools).
    CucumberJson,
    /// One self-contained HTML page with a host × scenario grid.
    Html,
}

impl Format {
    const NAMES: [(&'static str, Format); 5] = [
        ("pretty", Format::Pretty),
        ("json", Format::Json),
        ("junit", Format::Junit),
        ("cucumber-json", Format::CucumberJson),
        ("html", Format::Html),
    ];
}

/// A reporter and where it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The reporter.
    pub format: Format,
    /// Its file (None: stdout).
    pub file: Option<PathBuf>,
}

/// Parse `--format` values (`NAME` or `NAME:FILE`) and `--out`, the way
/// cucumber does: a format without a file writes to stdout, at most one may,
/// and when none does, pretty does. `--out FILE` writes the one format
/// without a file (default: pretty) to FILE instead of stdout.
pub fn outputs(formats: &[String], out: Option<&PathBuf>) -> Result<Vec<Output>, Diag> {
    let mut outputs = Vec::new();
    for spec in formats {
        let (name, file) = match spec.split_once(':') {
            Some((name, file)) if !file.is_empty() => (name, Some(PathBuf::from(file))),
            Some((name, _)) => (name, None),
            None => (spec.as_str(), None),
        };
        let Some((_, format)) = Format::NAMES.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = Format::NAMES.iter().map(|(n, _)| *n).collect();
            let (best, list) = suggestion(name, &names);
            return Err(Diag::plain(match best {
                Some(best) => format!("unknown format '{name}', did you mean '{best}'?"),
                None => format!("unknown format '{name}'"),
            })
            .help(format!(
                "{list}; add :FILE to write to a file (--format junit:report.xml)"
            )));
        };
        outputs.push(Output {
            format: *format,
            file,
        });
    }
    // `--out` sends the one format without a file (default: pretty) there,
    // instead of stdout.
    if let Some(out) = out {
        let without_file: Vec<usize> = (0..outputs.len())
            .filter(|&i| outputs[i].file.is_none())
            .collect();
        match without_file[..] {
            [] if outputs.is_empty() => outputs.push(Output {
                format: Format::Pretty,
                file: Some(out.clone()),
            }),
            [i] => outputs[i].file = Some(out.clone()),
            _ => {
                return Err(Diag::plain(
                    "--out needs exactly one --format without a file",
                )
                .help("name the files with the formats instead: --format junit:report.xml --format json:report.json"));
            }
        }
        return Ok(outputs);
    }
    let stdout = outputs.iter().filter(|o| o.file.is_none()).count();
    if stdout > 1 {
        return Err(Diag::plain("more than one --format writes to stdout")
            .help("give all but one a file: --format pretty --format junit:report.xml"));
    }
    if stdout == 0 {
        outputs.insert(
            0,
            Output {
                format: Format::Pretty,
                file: None,
            },
        );
    }
    Ok(outputs)
}

/// Open where an output writes (creating its directory).
pub fn open(output: &Output) -> Result<Box<dyn Write>, Diag> {
    match &output.file {
        None => Ok(Box::new(crate::output::Stdout)),
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Diag::plain(format!("cannot create {}: {e}", parent.display())))?;
            }
            let file = std::fs::File::create(path)
                .map_err(|e| Diag::plain(format!("cannot write {}: {e}", path.display())))?;
            Ok(Box::new(io::BufWriter::new(file)))
        }
    }
}

/// One scenario's result, per (scenario, host), from cucumber's events.
#[derive(Default)]
pub(crate) struct Collector {
    running: HashMap<(String, String, usize, usize), Partial>,
    /// Finished scenarios.
    pub(crate) results: Vec<ScenarioResult>,
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
        event: &parser::Result<Event<Cucumber<HostWorld>>>,
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
    let all: Vec<&gherkin::Step> = feature
        .background
        .iter()
        .chain(rule.and_then(|r| r.background.as_ref()))
        .flat_map(|b| &b.steps)
        .chain(&scenario.steps)
        .collect();
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
        steps: partial.steps,
        keyword: scenario.keyword.clone(),
        column: scenario.position.col,
        tags: scenario.tags.clone(),
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

/// Every reporter of a run that writes while it runs: the collector (the
/// results) and the terminal output.
pub struct Reporters {
    pub(crate) collector: Collector,
    pretty: Option<Box<writer::Normalize<HostWorld, super::pretty::Pretty>>>,
}

impl Reporters {
    /// Only the collector: results as data, no output.
    pub fn none() -> Reporters {
        Reporters {
            collector: Collector::default(),
            pretty: None,
        }
    }

    /// The live reporters for these outputs: pretty, when asked (the other
    /// formats are written from the results, after the run). Its file is
    /// opened now, so that a bad path stops the run before any host is
    /// touched. `verbose` shows the command behind a failed step.
    pub fn new(outputs: &[Output], verbose: bool) -> Result<Reporters, Diag> {
        let mut reporters = Reporters::none();
        if let Some(output) = outputs.iter().find(|o| o.format == Format::Pretty) {
            // Colour only on stdout, and there only where it supports it.
            let color = output.file.is_none();
            reporters.pretty = Some(Box::new(writer::Normalize::new(
                super::pretty::Pretty::new(open(output)?, color, verbose),
            )));
        }
        Ok(reporters)
    }
}

impl Writer<HostWorld> for Reporters {
    type Cli = cli::Empty;

    async fn handle_event(
        &mut self,
        event: parser::Result<Event<Cucumber<HostWorld>>>,
        cli: &Self::Cli,
    ) {
        self.collector.handle(&event);
        if let Some(pretty) = &mut self.pretty {
            pretty.handle_event(event, cli).await;
        }
    }
}

impl Normalized for Reporters {}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(formats: &[&str], out: Option<&str>) -> Result<Vec<(Format, Option<String>)>, String> {
        let formats: Vec<String> = formats.iter().map(|s| s.to_string()).collect();
        outputs(&formats, out.map(PathBuf::from).as_ref())
            .map(|o| {
                o.into_iter()
                    .map(|o| (o.format, o.file.map(|f| f.display().to_string())))
                    .collect()
            })
            .map_err(|d| d.message)
    }

    #[test]
    fn formats_follow_cucumber() {
        assert_eq!(specs(&[], None), Ok(vec![(Format::Pretty, None)]));
        assert_eq!(
            specs(&["junit:r.xml"], None),
            Ok(vec![
                (Format::Pretty, None),
                (Format::Junit, Some("r.xml".into()))
            ])
        );
        assert_eq!(
            specs(&["json", "cucumber-json:c.json"], None),
            Ok(vec![
                (Format::Json, None),
                (Format::CucumberJson, Some("c.json".into()))
            ])
        );
        assert_eq!(
            specs(&["junit"], Some("r.xml")),
            Ok(vec![(Format::Junit, Some("r.xml".into()))])
        );
        assert_eq!(
            specs(&[], Some("out.txt")),
            Ok(vec![(Format::Pretty, Some("out.txt".into()))])
        );
        assert!(specs(&["json", "junit"], Some("x")).is_err());
        assert_eq!(
            specs(&["json", "junit"], None),
            Err("more than one --format writes to stdout".into())
        );
        assert_eq!(
            specs(&["junt:x"], None),
            Err("unknown format 'junt', did you mean 'junit'?".into())
        );
    }
}
