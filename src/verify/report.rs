//! Results of a verify run, as data and as output.
//!
//! Every run feeds cucumber's events to a [`Collector`], which turns them
//! into one [`ScenarioResult`] per (scenario, host): the data that
//! `redgreen test` reads and redgreen's JSON shows. The other reporters are
//! cucumber's own writers, fed the same events: pretty (cucumber's terminal
//! output, live), JUnit XML and Cucumber JSON.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use cucumber::event::{self, Cucumber, Feature, Rule};
use cucumber::writer::{self, Coloring, Normalized};
use cucumber::{Event, Writer, WriterExt as _, cli, parser};
use owo_colors::{OwoColorize, Stream};
use serde::Serialize;

use super::features::{host_of, host_suffix};
use super::world::{FailureKind, HostWorld};
use crate::config::Diag;
use crate::config::diagnostic::suggestion;

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
}

impl ScenarioResult {
    /// `features/web.feature:12`: the scenario, whatever the host.
    pub fn id(&self) -> String {
        format!("{}:{}", self.file, self.line)
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

/// redgreen's JSON report.
pub fn json(report: &Report) -> String {
    #[derive(Serialize)]
    struct Summary {
        scenarios: usize,
        passed: usize,
        failed: usize,
        skipped: usize,
        unreachable: usize,
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
        },
        hosts: &report.hosts,
        scenarios: &report.scenarios,
    };
    serde_json::to_string_pretty(&document).expect("reports serialize") + "\n"
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
    failure: Option<StepFailure>,
    unreachable: bool,
    skipped: bool,
}

impl Collector {
    fn handle(&mut self, event: &parser::Result<Event<Cucumber<HostWorld>>>) {
        let Ok(event) = event else {
            return;
        };
        let at = event.at;
        match &event.value {
            Cucumber::Feature(feature, Feature::Scenario(scenario, ev)) => {
                self.scenario(feature, None, scenario, &ev.event, at);
            }
            Cucumber::Feature(feature, Feature::Rule(rule, Rule::Scenario(scenario, ev))) => {
                self.scenario(feature, Some(rule), scenario, &ev.event, at);
            }
            _ => {}
        }
    }

    fn scenario(
        &mut self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        scenario: &gherkin::Scenario,
        ev: &event::Scenario<HostWorld>,
        at: SystemTime,
    ) {
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
        match ev {
            event::Scenario::Started => {
                self.running.insert(
                    key,
                    Partial {
                        started: at,
                        failure: None,
                        unreachable: false,
                        skipped: false,
                    },
                );
            }
            event::Scenario::Hook(_, event::Hook::Failed(world, info)) => {
                if let Some(partial) = self.running.get_mut(&key) {
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
            }
            event::Scenario::Step(step, event::Step::Failed(_, _, world, err))
            | event::Scenario::Background(step, event::Step::Failed(_, _, world, err)) => {
                if let Some(partial) = self.running.get_mut(&key) {
                    let failure = world.as_ref().and_then(|w| w.failure.clone());
                    if failure
                        .as_ref()
                        .is_some_and(|f| f.kind == FailureKind::Unreachable)
                    {
                        partial.unreachable = true;
                    }
                    partial.failure.get_or_insert(StepFailure {
                        step: format!("{}{}", step.keyword, step.value).trim().to_string(),
                        line: step.position.line,
                        message: failure
                            .as_ref()
                            .map(|f| f.message.clone())
                            .unwrap_or_else(|| err.to_string()),
                        command: failure.and_then(|f| f.command),
                    });
                }
            }
            event::Scenario::Step(_, event::Step::Skipped)
            | event::Scenario::Background(_, event::Step::Skipped) => {
                if let Some(partial) = self.running.get_mut(&key) {
                    partial.skipped = true;
                }
            }
            event::Scenario::Finished => {
                let Some(partial) = self.running.remove(&key) else {
                    return;
                };
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
                } else if partial.skipped {
                    Outcome::Skipped
                } else {
                    Outcome::Passed
                };
                self.results.push(ScenarioResult {
                    feature: feature.name.clone(),
                    file,
                    line: scenario.position.line,
                    rule: rule.map(|r| r.name.clone()),
                    scenario: name,
                    host,
                    status,
                    seconds: at
                        .duration_since(partial.started)
                        .unwrap_or_default()
                        .as_secs_f64(),
                    failure: partial.failure,
                });
            }
            _ => {}
        }
    }
}

fn panic_text(info: &cucumber::event::Info) -> String {
    info.downcast_ref::<String>()
        .cloned()
        .or_else(|| info.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "failed".into())
}

type Pretty = writer::Summarize<writer::Normalize<HostWorld, writer::Basic<Box<dyn Write>>>>;
type JUnit = writer::Normalize<HostWorld, writer::JUnit<HostWorld, Box<dyn Write>>>;
type CucumberJson = writer::Normalize<HostWorld, writer::Json<Box<dyn Write>>>;

enum Sink {
    Pretty(Box<Pretty>, Coloring),
    JUnit(Box<JUnit>),
    CucumberJson(Box<CucumberJson>),
}

/// Every reporter of a run: the collector and cucumber's writers.
pub struct Reporters {
    pub(crate) collector: Collector,
    sinks: Vec<Sink>,
}

impl Reporters {
    /// Only the collector: results as data, no output.
    pub fn none() -> Reporters {
        Reporters {
            collector: Collector::default(),
            sinks: Vec::new(),
        }
    }

    /// The cucumber writers for these outputs (redgreen's JSON is written
    /// from the results, after the run). Files are opened now, so that a bad
    /// path stops the run before any host is touched.
    pub fn new(outputs: &[Output]) -> Result<Reporters, Diag> {
        let mut reporters = Reporters::none();
        for output in outputs {
            let coloring = if output.file.is_none() && io::stdout().is_terminal() {
                Coloring::Auto
            } else {
                Coloring::Never
            };
            match output.format {
                Format::Json | Format::Html => {}
                Format::Pretty => reporters.sinks.push(Sink::Pretty(
                    Box::new(
                        writer::Basic::new(open(output)?, coloring, writer::Verbosity::Default)
                            .summarized(),
                    ),
                    coloring,
                )),
                Format::Junit => reporters
                    .sinks
                    .push(Sink::JUnit(Box::new(writer::JUnit::new(
                        open(output)?,
                        writer::Verbosity::Default,
                    )))),
                Format::CucumberJson => {
                    reporters
                        .sinks
                        .push(Sink::CucumberJson(Box::new(writer::Json::new(open(
                            output,
                        )?))))
                }
            }
        }
        Ok(reporters)
    }
}

impl Writer<HostWorld> for Reporters {
    type Cli = cli::Empty;

    async fn handle_event(
        &mut self,
        event: parser::Result<Event<Cucumber<HostWorld>>>,
        _: &Self::Cli,
    ) {
        self.collector.handle(&event);
        for sink in &mut self.sinks {
            match sink {
                Sink::Pretty(writer, color) => {
                    let cli = writer::basic::Cli {
                        verbose: 0,
                        color: *color,
                    };
                    writer.handle_event(event.clone(), &cli).await;
                }
                Sink::JUnit(writer) => {
                    writer
                        .handle_event(event.clone(), &writer::junit::Cli::default())
                        .await;
                }
                Sink::CucumberJson(writer) => {
                    writer.handle_event(event.clone(), &cli::Empty).await;
                }
            }
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
