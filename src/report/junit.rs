//! JUnit XML of a verify run, from its results: a testsuite per feature
//! file, a testcase per (scenario, host). A failure's `type` says what
//! happened (`failed`, `unreachable`), its message what was expected and
//! found; `system-out` holds the scenario's steps as the terminal shows them.

use crate::verify::{Outcome, Report, ScenarioResult};

/// The JUnit XML document.
pub fn verify(report: &Report) -> String {
    let mut files: Vec<&str> = Vec::new();
    for scenario in &report.scenarios {
        if !files.contains(&scenario.file.as_str()) {
            files.push(&scenario.file);
        }
    }
    let mut document = junit_report::Report::new();
    for file in files {
        let scenarios: Vec<&ScenarioResult> =
            report.scenarios.iter().filter(|s| s.file == file).collect();
        let feature = scenarios.first().map_or("", |s| s.feature.as_str());
        let mut suite = junit_report::TestSuite::new(&format!("Feature: {feature}: {file}"));
        suite.add_testcases(scenarios.into_iter().map(testcase));
        document.add_testsuite(suite);
    }
    let mut out = Vec::new();
    document
        .write_xml(&mut out)
        .expect("XML is written to memory");
    String::from_utf8_lossy(&out).into_owned()
}

fn testcase(scenario: &ScenarioResult) -> junit_report::TestCase {
    let name = format!(
        "{}: {}{}: {}:{}:{}",
        scenario.keyword,
        scenario.scenario,
        crate::verify::features::host_suffix(&scenario.host),
        scenario.file,
        scenario.line,
        scenario.column
    );
    let time = junit_report::Duration::seconds_f64(scenario.seconds);
    let message = scenario
        .failure
        .as_ref()
        .map_or(String::new(), |f| f.message.clone());
    let mut case = match scenario.status {
        Outcome::Passed => junit_report::TestCase::success(&name, time),
        Outcome::Failed => junit_report::TestCase::failure(&name, time, "failed", &message),
        Outcome::Unreachable => {
            junit_report::TestCase::failure(&name, time, "unreachable", &message)
        }
        Outcome::Skipped => junit_report::TestCase::skipped(&name),
    };
    case.set_system_out(&super::scenario::scenario_text(scenario, false, false));
    case
}
