//! `redgreen verify` for people and machines: the terminal output written
//! while it runs (each scenario when it finishes, in file order: its steps
//! passed ✔, failed ✘ with what was expected and found, or skipped - after
//! a failed step; a host that cannot be reached is one line, not a failure
//! per scenario; then a summary whose step counts add up to the steps of the
//! scenarios that ran), the recap table, and redgreen's JSON.

use std::collections::BTreeSet;
use std::sync::Mutex;

use owo_colors::{OwoColorize, Stream};
use serde::Serialize;

use super::format::Out;
use super::scenario::{Tone, paint, scenario_text};
use super::{Event, Reporter, host_width};
use crate::verify::{self, HostSummary, Outcome, Report, ScenarioResult, StepCounts};

/// The live terminal output of a verify run.
pub struct Pretty {
    state: Mutex<State>,
    color: bool,
    verbose: bool,
}

struct State {
    out: Out,
    /// Every scenario written so far, for the summary.
    results: Vec<ScenarioResult>,
    /// The header of the feature that started, until a scenario of it is
    /// written.
    feature: Option<String>,
    /// The rule of the last scenario written.
    rule: Option<String>,
    /// Hosts already reported as unreachable.
    unreachable: BTreeSet<String>,
}

impl Pretty {
    /// Write to `out`, in colour when `color` (and stdout supports it);
    /// `verbose` adds the command behind a failed step.
    pub fn new(out: Out, color: bool, verbose: bool) -> Pretty {
        Pretty {
            state: Mutex::new(State {
                out,
                results: Vec::new(),
                feature: None,
                rule: None,
                unreachable: BTreeSet::new(),
            }),
            color,
            verbose,
        }
    }

    /// Take one of verify's events.
    pub fn verify(&self, event: verify::Event<'_>) {
        let mut state = self.state.lock().expect("pretty lock");
        match event {
            verify::Event::FeatureStarted { keyword, name } => {
                state.feature = Some(format!("{keyword}: {name}\n"));
            }
            verify::Event::Finished => {
                let text = summary(&state.results);
                state.out.write_text(&text);
            }
            verify::Event::ScenarioDone(result) => {
                let text = self.scenario(&mut state, result);
                state.out.write_text(&text);
                state.results.push(result.clone());
            }
        }
    }

    fn scenario(&self, state: &mut State, result: &ScenarioResult) -> String {
        let mut text = String::new();
        if let Some(header) = state.feature.take() {
            text.push_str(&header);
            state.rule = None;
        }
        if result.status == Outcome::Unreachable {
            // One line per host: its other scenarios say nothing more.
            if state.unreachable.insert(result.host.clone()) {
                let reason = result
                    .failure
                    .as_ref()
                    .map_or("cannot be reached", |f| f.message.as_str());
                text.push_str(&format!(
                    "  {}  {reason}\n",
                    paint(self.color, Tone::Red, "✘")
                ));
            }
            return text;
        }
        if result.rule != state.rule {
            if let Some(rule) = &result.rule {
                text.push_str(&format!("  Rule: {rule}\n"));
            }
            state.rule = result.rule.clone();
        }
        text.push_str(&scenario_text(result, self.verbose, self.color));
        text
    }
}

impl Reporter for Pretty {
    fn event(&self, event: Event<'_>) {
        if let Event::Verify(event) = event {
            self.verify(event);
        }
    }
}

/// `[Summary]`: features, scenarios and steps, by how they ended.
pub fn summary(results: &[ScenarioResult]) -> String {
    let features: BTreeSet<&str> = results.iter().map(|r| r.file.as_str()).collect();
    let count = |outcome: Outcome| results.iter().filter(|r| r.status == outcome).count();
    let scenarios = parts(&[
        (count(Outcome::Passed), "passed"),
        (count(Outcome::Failed), "failed"),
        (count(Outcome::Skipped), "skipped"),
        (count(Outcome::Unreachable), "unreachable"),
        (count(Outcome::Waived), "waived"),
    ]);
    let steps = StepCounts::of(results);
    let step_parts = parts(&[
        (steps.passed, "passed"),
        (steps.failed, "failed"),
        (steps.skipped, "skipped"),
    ]);
    format!(
        "[Summary]\n{}\n{}{scenarios}\n{}{step_parts}\n",
        plural(features.len(), "feature"),
        plural(results.len(), "scenario"),
        plural(steps.total, "step"),
    )
}

/// ` (2 passed, 1 failed)`, leaving out the zeros.
fn parts(counts: &[(usize, &str)]) -> String {
    let shown: Vec<String> = counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(" ({})", shown.join(", "))
    }
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
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
    super::format::json(&document)
}

/// The recap table printed after the pretty output.
pub fn recap(report: &Report) -> String {
    let width = host_width(report.hosts.iter().map(|h| h.host.as_str()));
    let mut out = String::from("\nRecap\n");
    out.push_str(&format!(
        "  {:<width$}  {:>6}  {:>6}  {:>7}  {:>11}\n",
        "HOST", "PASSED", "FAILED", "SKIPPED", "ROUND TRIPS"
    ));
    for host in &report.hosts {
        let line = match host.unreachable() {
            Some(reason) => format!("  {:<width$}  unreachable: {reason}", host.host),
            None => format!(
                "  {:<width$}  {:>6}  {:>6}  {:>7}  {:>11}",
                host.host, host.passed, host.failed, host.skipped, host.round_trips
            ),
        };
        if host.unreachable().is_some() || host.failed > 0 {
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

/// A verify run's report in `format`, written from its results after the
/// run (pretty is written live, by [`Pretty`]; here it is the JSON).
pub fn render(format: super::Format, suite: &verify::Suite, report: &Report) -> String {
    match format {
        super::Format::Html => super::html::verify(report),
        super::Format::Junit => super::junit::verify(report),
        super::Format::CucumberJson => super::cucumber_json::verify(suite, report),
        super::Format::Json | super::Format::Pretty => json(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{StepFailure, StepResult, StepStatus};

    fn step(keyword: &str, text: &str, line: usize, status: StepStatus) -> StepResult {
        StepResult {
            keyword: keyword.into(),
            text: text.into(),
            line,
            status,
            seconds: 0.0,
        }
    }

    fn failed() -> ScenarioResult {
        ScenarioResult {
            feature: "Web".into(),
            file: "features/web.feature".into(),
            line: 3,
            rule: None,
            scenario: "nginx is valid".into(),
            host: "web1".into(),
            status: Outcome::Failed,
            seconds: 0.1,
            failure: Some(StepFailure {
                step: "Then the command should succeed".into(),
                line: 5,
                message: "expected the command to succeed: `nginx -t` exited with status 127; its error output:\n  sh: 1: nginx: not found".into(),
                command: Some("sh -c 'nginx -t'".into()),
            }),
            waiver: None,
            steps: vec![
                step("When", "I run \"nginx -t\"", 4, StepStatus::Passed),
                step("Then", "the command should succeed", 5, StepStatus::Failed),
                step("And", "the output should contain \"ok\"", 6, StepStatus::Skipped),
            ],
            keyword: "Scenario".into(),
            column: 3,
            tags: vec!["host:web1".into()],
        }
    }

    #[test]
    fn a_failed_step_says_why_and_the_steps_after_it_are_skipped() {
        assert_eq!(
            scenario_text(&failed(), false, false),
            "  Scenario: nginx is valid (on web1)\n\
             \x20  ✔  When I run \"nginx -t\"\n\
             \x20  ✘  Then the command should succeed  (features/web.feature:5)\n\
             \x20     expected the command to succeed: `nginx -t` exited with status 127; its error output:\n\
             \x20       sh: 1: nginx: not found\n\
             \x20  -  And the output should contain \"ok\"  (skipped)\n"
        );
        assert!(
            scenario_text(&failed(), true, false)
                .ends_with("      checked with:\n        sh -c 'nginx -t'\n   -  And the output should contain \"ok\"  (skipped)\n")
        );
    }

    #[test]
    fn the_summary_counts_every_step() {
        let mut passed = failed();
        passed.status = Outcome::Passed;
        passed.failure = None;
        for step in &mut passed.steps {
            step.status = StepStatus::Passed;
        }
        let mut unreachable = failed();
        unreachable.status = Outcome::Unreachable;
        for step in &mut unreachable.steps {
            step.status = StepStatus::Skipped;
        }
        assert_eq!(
            summary(&[failed(), passed, unreachable]),
            "[Summary]\n1 feature\n3 scenarios (1 passed, 1 failed, 1 unreachable)\n9 steps (4 passed, 1 failed, 4 skipped)\n"
        );
        assert_eq!(
            summary(&[]),
            "[Summary]\n0 features\n0 scenarios\n0 steps\n"
        );
    }
}
