//! JUnit XML of a verify run, from its results: a testsuite per feature
//! file, a testcase per (scenario, host). A failure's `type` says what
//! happened (`failed`, `unreachable`), its message what was expected and
//! found; `system-out` holds the scenario's steps as the terminal shows them.
//! And the JUnit XML of the red-green cycle ([`cycle`]).

use super::cycle::{CycleReport, HostCycle, Phase, Problem, ScenarioCycle};
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
    write(&document)
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
        // Not red, and not hidden: skipped, with the waiver in its output.
        Outcome::Skipped | Outcome::Waived => junit_report::TestCase::skipped(&name),
    };
    case.set_system_out(&super::scenario::scenario_text(scenario, false, false));
    case
}

/// The JUnit XML of `redgreen test`: a testsuite per phase, so that each is
/// visible where CI shows tests. `verify (red)` and `verify (green)` hold a
/// testcase per (scenario, test host); `converge` and `converge again
/// (idempotence)` a testcase per test host. A failure's text says which
/// host, which step, what was expected and what was found.
pub fn cycle(report: &CycleReport) -> String {
    let mut document = junit_report::Report::new();

    let mut red =
        junit_report::TestSuite::new("verify (red): before converge, scenarios must fail");
    red.add_testcases(
        report
            .scenarios
            .iter()
            .filter(|s| s.red.is_some())
            .map(red_case),
    );
    document.add_testsuite(red);

    let mut converge = junit_report::TestSuite::new("converge");
    converge.add_testcases(
        report
            .hosts
            .iter()
            .filter(|h| h.phases.contains_key(&Phase::Converge))
            .map(|host| {
                let time = junit_report::Duration::seconds_f64(host.phases[&Phase::Converge]);
                let name = format!("converge {}", host.host);
                let problems: Vec<String> = host
                    .problems
                    .iter()
                    .filter(|p| {
                        matches!(
                            p,
                            Problem::ConvergeFailed(_)
                                | Problem::Unreachable {
                                    phase: Phase::Converge,
                                    ..
                                }
                        )
                    })
                    .map(|p| format!("{}: {p}", host.host))
                    .collect();
                let mut case = if problems.is_empty() {
                    junit_report::TestCaseBuilder::success(&name, time)
                } else {
                    let mut case = junit_report::TestCaseBuilder::failure(
                        &name,
                        time,
                        "converge-failed",
                        &problems.join("; "),
                    );
                    case.set_trace(&(problems.join("\n") + "\n" + &failed_resources(host)));
                    case
                };
                case.set_classname(&host.host);
                case.build()
            }),
    );
    document.add_testsuite(converge);

    let mut green =
        junit_report::TestSuite::new("verify (green): after converge, scenarios must pass");
    green.add_testcases(
        report
            .scenarios
            .iter()
            .filter(|s| s.green.is_some())
            .map(green_case),
    );
    document.add_testsuite(green);

    let mut again =
        junit_report::TestSuite::new("converge again (idempotence): nothing may change");
    again.add_testcases(report.hosts.iter().filter(|h| h.phases.contains_key(&Phase::Idempotence)).map(|host| {
        let time = junit_report::Duration::seconds_f64(host.phases[&Phase::Idempotence]);
        let name = format!("idempotence {}", host.host);
        let mut case = if !host.not_idempotent.is_empty() {
            let changed: Vec<String> = host
                .not_idempotent
                .iter()
                .map(|r| {
                    let changes: Vec<String> = r.changes.iter().map(ToString::to_string).collect();
                    format!("{} ({}): {}", r.title, r.declared, changes.join(", "))
                })
                .collect();
            let message = format!(
                "on {}: not idempotent, expected the second converge to change nothing; it changed {}",
                host.host,
                changed.join("; ")
            );
            let mut case = junit_report::TestCaseBuilder::failure(&name, time, "not-idempotent", &message);
            case.set_trace(&message);
            case
        } else if let Some(problem) = host.problems.iter().find(|p| {
            matches!(p, Problem::SecondConvergeFailed(_) | Problem::Unreachable { phase: Phase::Idempotence, .. })
        }) {
            let message = format!("on {}: {problem}", host.host);
            junit_report::TestCaseBuilder::failure(&name, time, "converge-failed", &message)
        } else {
            junit_report::TestCaseBuilder::success(&name, time)
        };
        case.set_classname(&host.host);
        case.build()
    }));
    document.add_testsuite(again);
    write(&document)
}

fn write(document: &junit_report::Report) -> String {
    let mut out = Vec::new();
    document
        .write_xml(&mut out)
        .expect("XML is written to memory");
    String::from_utf8_lossy(&out).into_owned()
}

/// The resources whose converge failed on a host, a line each.
fn failed_resources(host: &HostCycle) -> String {
    host.failed_resources()
        .map(|r| {
            format!(
                "{} ({}): {}\n",
                r.title,
                r.declared,
                r.message.clone().unwrap_or_default()
            )
        })
        .collect()
}

/// `features/web.feature` of `features/web.feature:12`.
fn file_of(id: &str) -> &str {
    id.rsplit_once(':').map_or(id, |(file, _)| file)
}

fn scenario_name(scenario: &ScenarioCycle) -> String {
    format!(
        "{}: {} (on {})",
        scenario.id, scenario.scenario, scenario.host
    )
}

fn red_case(scenario: &ScenarioCycle) -> junit_report::TestCase {
    let name = scenario_name(scenario);
    let time = junit_report::Duration::ZERO;
    let mut case = match scenario.red {
        Some(Outcome::Unreachable) => {
            let message = format!(
                "on {}: unreachable before converge: {}",
                scenario.host,
                scenario
                    .red_failure
                    .as_ref()
                    .map_or("", |f| f.message.as_str())
            );
            junit_report::TestCaseBuilder::failure(&name, time, "unreachable", &message)
        }
        _ => junit_report::TestCaseBuilder::success(&name, time),
    };
    let out = match (&scenario.red, &scenario.red_failure) {
        (Some(Outcome::Passed), _) => format!(
            "already green before converge on {}: this scenario does not test what the recipes do\n",
            scenario.host
        ),
        (_, Some(failure)) => format!(
            "red before converge on {}, as expected:\n{} (line {})\n{}\n",
            scenario.host, failure.step, failure.line, failure.message
        ),
        _ => String::new(),
    };
    if !out.is_empty() {
        case.set_system_out(&out);
    }
    case.set_classname(&scenario.feature);
    case.set_filepath(file_of(&scenario.id));
    case.build()
}

fn green_case(scenario: &ScenarioCycle) -> junit_report::TestCase {
    let name = scenario_name(scenario);
    let time = junit_report::Duration::ZERO;
    let failure = |kind: &str| {
        let message = match &scenario.failure {
            Some(failure) => format!(
                "on {}: {} ({}:{}): {}",
                scenario.host,
                failure.step,
                file_of(&scenario.id),
                failure.line,
                failure.message
            ),
            None => format!("on {}: {kind}", scenario.host),
        };
        let mut case = junit_report::TestCaseBuilder::failure(&name, time, kind, &message);
        // Attributes lose their line breaks: the body keeps them.
        case.set_trace(&message);
        case
    };
    let mut case = match scenario.green {
        Some(Outcome::Failed) => failure("failed"),
        Some(Outcome::Unreachable) => failure("unreachable"),
        Some(Outcome::Skipped) => junit_report::TestCaseBuilder::skipped(&name),
        _ => junit_report::TestCaseBuilder::success(&name, time),
    };
    case.set_classname(&scenario.feature);
    case.set_filepath(file_of(&scenario.id));
    case.build()
}
