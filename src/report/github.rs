//! GitHub Actions: when `GITHUB_ACTIONS=true`, what failed becomes workflow
//! annotations (`::error file=…,line=…,title=…::message`, on stderr, which
//! the runner reads like stdout, so that `--format json` on stdout stays a
//! JSON document), and a markdown summary is appended to the file
//! `$GITHUB_STEP_SUMMARY` names: the host × scenario grid, and for `test`,
//! red, green and idempotent per test host.
//!
//! Annotations escape as the runner's workflow commands want: `%`, CR and
//! LF in the message; `%`, CR, LF, `:` and `,` in a property. Everything is
//! masked before it is escaped.

use std::io::Write;

use super::cycle::{CycleReport, Problem};
use super::results::Results;
use crate::diagnostic::{Diag, Diags};
use crate::engine::{RunReport, Status};
use crate::verify::{self, Outcome, ScenarioResult};

/// True when running as a step of GitHub Actions.
pub fn enabled() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Annotate and summarise `results`, when on GitHub Actions.
pub fn publish(results: Results<'_>) {
    if !enabled() {
        return;
    }
    crate::output::eprint(&annotations(results));
    let summary = summary(results);
    if summary.is_empty() {
        return;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut file| file.write_all(crate::secrets::redact(&summary).as_bytes()));
        if let Err(e) = appended {
            crate::errln!(
                "cannot append the summary to GITHUB_STEP_SUMMARY ({}): {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}

/// Bad input as annotations, one per problem at its file and line.
pub fn diagnostics(diags: &Diags) -> String {
    let mut out = String::new();
    for diag in &diags.0 {
        let diag = crate::secrets::redact_diag(diag);
        let place = diag_place(&diag);
        let mut message = diag.message.clone();
        if let Some(help) = &diag.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        out.push_str(&annotation(
            place.as_ref().map(|(f, l, c)| (f.as_str(), *l, Some(*c))),
            "redgreen: bad input, nothing was touched",
            &message,
        ));
    }
    out
}

fn diag_place(diag: &Diag) -> Option<(String, usize, usize)> {
    let place = diag.place.as_ref()?;
    let (line, column) = place.source.line_col(place.span.offset());
    Some((place.source.name.clone(), line, column))
}

/// One `::error` workflow command.
pub fn annotation(
    place: Option<(&str, usize, Option<usize>)>,
    title: &str,
    message: &str,
) -> String {
    let mut properties = Vec::new();
    if let Some((file, line, column)) = place {
        properties.push(format!("file={}", property(file)));
        properties.push(format!("line={line}"));
        if let Some(column) = column {
            properties.push(format!("col={column}"));
        }
    }
    properties.push(format!("title={}", property(title)));
    format!(
        "::error {}::{}\n",
        properties.join(","),
        data(&crate::secrets::redact(message))
    )
}

/// A workflow command's message, escaped.
pub fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value, escaped.
pub fn property(text: &str) -> String {
    data(&crate::secrets::redact(text))
        .replace(':', "%3A")
        .replace(',', "%2C")
}

/// `recipes/web.yml:12:5` as (file, line, column).
fn declared(place: &str) -> Option<(&str, usize, Option<usize>)> {
    let (rest, last) = place.rsplit_once(':')?;
    let last: usize = last.parse().ok()?;
    match rest.rsplit_once(':') {
        Some((file, line)) => match line.parse() {
            Ok(line) => Some((file, line, Some(last))),
            Err(_) => Some((rest, last, None)),
        },
        None => Some((rest, last, None)),
    }
}

/// Every annotation of `results`.
pub fn annotations(results: Results<'_>) -> String {
    match results {
        Results::Verify { report, .. } => scenario_annotations(&report.scenarios),
        Results::Rollout { report, .. } => {
            converge_annotations(&report.converge) + &scenario_annotations(&report.scenarios)
        }
        Results::Converge { report, .. } => converge_annotations(report),
        Results::Plan { .. } => String::new(),
        Results::Cycle { report, .. } => cycle_annotations(report),
    }
}

fn scenario_annotations(scenarios: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let mut unreachable: Vec<&str> = Vec::new();
    for scenario in scenarios {
        match scenario.status {
            Outcome::Failed => {
                let (line, message) = match &scenario.failure {
                    Some(f) => (f.line, format!("{}\n{}", f.step, f.message)),
                    None => (scenario.line, "failed".to_string()),
                };
                out.push_str(&annotation(
                    Some((&scenario.file, line, None)),
                    &format!("{} failed on {}", scenario.scenario, scenario.host),
                    &message,
                ));
            }
            // Waived: not an error, and not hidden either.
            Outcome::Waived => {
                let (line, message) = match &scenario.failure {
                    Some(f) => (f.line, format!("{}\n{}", f.step, f.message)),
                    None => (scenario.line, "failed".to_string()),
                };
                let waiver = scenario.waiver.as_deref().unwrap_or("");
                let error = annotation(
                    Some((&scenario.file, line, None)),
                    &format!("{} failed on {} (waived)", scenario.scenario, scenario.host),
                    &format!("{message}\nwaived: {waiver}"),
                );
                out.push_str(&error.replacen("::error ", "::warning ", 1));
            }
            Outcome::Unreachable if !unreachable.contains(&scenario.host.as_str()) => {
                unreachable.push(&scenario.host);
                let reason = scenario
                    .failure
                    .as_ref()
                    .map_or("cannot be reached", |f| f.message.as_str());
                out.push_str(&annotation(
                    None,
                    &format!("{} unreachable", scenario.host),
                    reason,
                ));
            }
            _ => {}
        }
    }
    out
}

fn converge_annotations(report: &RunReport) -> String {
    let mut out = String::new();
    for host in &report.hosts {
        for resource in host.resources.iter().filter(|r| r.status == Status::Failed) {
            out.push_str(&annotation(
                declared(&resource.declared),
                &format!("{} failed on {}", resource.title, host.host),
                resource.message.as_deref().unwrap_or("failed"),
            ));
        }
        if let crate::engine::HostOutcome::Unreachable(reason) = &host.outcome {
            out.push_str(&annotation(
                None,
                &format!("{} unreachable", host.host),
                reason,
            ));
        }
    }
    out
}

fn cycle_annotations(report: &CycleReport) -> String {
    let mut out = String::new();
    for scenario in &report.scenarios {
        if !matches!(
            scenario.green,
            Some(Outcome::Failed) | Some(Outcome::Unreachable)
        ) {
            continue;
        }
        let (file, line) = scenario
            .id
            .rsplit_once(':')
            .and_then(|(f, l)| Some((f, l.parse::<usize>().ok()?)))
            .unwrap_or((scenario.id.as_str(), 1));
        let (line, message) = match &scenario.failure {
            Some(f) => (f.line, format!("{}\n{}", f.step, f.message)),
            None => (line, "failed after converge".to_string()),
        };
        out.push_str(&annotation(
            Some((file, line, None)),
            &format!(
                "{} still red after converge on {}",
                scenario.scenario, scenario.host
            ),
            &message,
        ));
    }
    for host in &report.hosts {
        for resource in host.failed_resources() {
            out.push_str(&annotation(
                declared(&resource.declared),
                &format!("{} failed on {}", resource.title, host.host),
                resource.message.as_deref().unwrap_or("failed"),
            ));
        }
        for resource in &host.not_idempotent {
            let changes: Vec<String> = resource.changes.iter().map(ToString::to_string).collect();
            out.push_str(&annotation(
                declared(&resource.declared),
                &format!("{} is not idempotent on {}", resource.title, host.host),
                &format!(
                    "the second converge changed it again: {}",
                    changes.join(", ")
                ),
            ));
        }
        for problem in &host.problems {
            if matches!(
                problem,
                Problem::NotCreated(_)
                    | Problem::Unreachable { .. }
                    | Problem::SecondConvergeFailed(_)
            ) {
                out.push_str(&annotation(
                    None,
                    &format!("{} failed", host.host),
                    &problem.to_string(),
                ));
            }
        }
    }
    out
}

/// The markdown for `$GITHUB_STEP_SUMMARY` (empty: nothing to add).
pub fn summary(results: Results<'_>) -> String {
    match results {
        Results::Verify { report, .. } => {
            format!("## redgreen verify\n\n{}", grid(report))
        }
        Results::Rollout { report, .. } => {
            let mut out = String::from("## redgreen converge\n\n| host | state |\n|---|---|\n");
            for host in &report.hosts {
                out.push_str(&format!(
                    "| {} | {} |\n",
                    cell(&host.host),
                    cell(host.state.words())
                ));
            }
            out.push('\n');
            out + &grid(&report.features())
        }
        Results::Converge { report, .. } => {
            let mut out = String::from(
                "## redgreen converge\n\n| host | changed | failed | outcome |\n|---|---|---|---|\n",
            );
            for host in &report.hosts {
                let count =
                    |status: Status| host.resources.iter().filter(|r| r.status == status).count();
                let outcome = match &host.outcome {
                    crate::engine::HostOutcome::Ok => "ok".to_string(),
                    other => serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v["outcome"].as_str().map(String::from))
                        .unwrap_or_default(),
                };
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    cell(&host.host),
                    count(Status::Changed),
                    count(Status::Failed),
                    cell(&outcome)
                ));
            }
            out + "\n"
        }
        Results::Plan { .. } => String::new(),
        Results::Cycle { report, .. } => cycle_summary(report),
    }
}

fn cycle_summary(report: &CycleReport) -> String {
    let mut out = String::from("## redgreen test\n\n");
    out.push_str(
        "| test host | red (before converge) | green (after converge) | idempotent | result |\n|---|---|---|---|---|\n",
    );
    for host in &report.hosts {
        let idempotent = if !host.idempotence_checked {
            "-"
        } else if host.not_idempotent.is_empty() {
            "✅ yes"
        } else {
            "❌ no"
        };
        out.push_str(&format!(
            "| {} | {}/{} failed | {}/{} passed | {idempotent} | {} |\n",
            cell(&host.host),
            host.red.total - host.red.passed,
            host.red.total,
            host.green.passed,
            host.green.total,
            if host.passed() {
                "✅ passed"
            } else {
                "❌ FAILED"
            }
        ));
    }
    let hosts: Vec<&str> = report.hosts.iter().map(|h| h.host.as_str()).collect();
    let mut ids: Vec<(&str, &str)> = Vec::new();
    for scenario in &report.scenarios {
        if !ids.iter().any(|(id, _)| *id == scenario.id) {
            ids.push((&scenario.id, &scenario.scenario));
        }
    }
    if !ids.is_empty() {
        out.push_str("\n| scenario (red → green) |");
        for host in &hosts {
            out.push_str(&format!(" {} |", cell(host)));
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(hosts.len()));
        out.push('\n');
        for (id, name) in ids {
            out.push_str(&format!("| {} `{}` |", cell(name), cell(id)));
            for host in &hosts {
                let found = report
                    .scenarios
                    .iter()
                    .find(|s| s.id == id && s.host == *host);
                let shown = match found {
                    Some(s) => format!("{} → {}", mark(s.red), mark(s.green)),
                    None => " ".to_string(),
                };
                out.push_str(&format!(" {shown} |"));
            }
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

/// The host × scenario grid of a verify run.
fn grid(report: &verify::Report) -> String {
    let count = |outcome: Outcome| report.count(outcome);
    let mut out = format!(
        "{} scenario(s): {} passed, {} failed, {} skipped, {} unreachable\n\n",
        report.scenarios.len(),
        count(Outcome::Passed),
        count(Outcome::Failed),
        count(Outcome::Skipped),
        count(Outcome::Unreachable)
    );
    if count(Outcome::Waived) > 0 {
        out.insert_str(
            out.len() - 2,
            &format!(", {} waived", count(Outcome::Waived)),
        );
    }
    let hosts: Vec<&str> = report.hosts.iter().map(|h| h.host.as_str()).collect();
    if hosts.is_empty() {
        return out;
    }
    out.push_str("| scenario |");
    for host in &hosts {
        out.push_str(&format!(" {} |", cell(host)));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(hosts.len()));
    out.push('\n');
    let mut ids: Vec<String> = Vec::new();
    for scenario in &report.scenarios {
        if !ids.contains(&scenario.id()) {
            ids.push(scenario.id());
        }
    }
    for id in ids {
        let name = report
            .scenarios
            .iter()
            .find(|s| s.id() == id)
            .map_or("", |s| s.scenario.as_str());
        out.push_str(&format!("| {} `{}` |", cell(name), cell(&id)));
        for host in &hosts {
            let status = report
                .scenarios
                .iter()
                .find(|s| s.id() == id && s.host == *host)
                .map(|s| s.status);
            out.push_str(&format!(" {} |", mark(status)));
        }
        out.push('\n');
    }
    out.push('\n');
    out
}

fn mark(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Passed) => "✅",
        Some(Outcome::Failed) => "❌",
        Some(Outcome::Skipped) => "⏭️",
        Some(Outcome::Unreachable) => "⚠️ unreachable",
        Some(Outcome::Waived) => "🟨 waived",
        None => " ",
    }
}

/// Text in a markdown table cell: no line break, no `|`, no HTML.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_escape_what_the_runner_reads() {
        assert_eq!(
            annotation(
                Some(("features/a,b.feature", 12, None)),
                "web: 50% done, or not",
                "expected x\r\nfound 100%"
            ),
            "::error file=features/a%2Cb.feature,line=12,title=web%3A 50%25 done%2C or not::expected x%0D%0Afound 100%25\n"
        );
        assert_eq!(annotation(None, "t", "a:b,c"), "::error title=t::a:b,c\n");
    }

    #[test]
    fn a_declared_place_is_a_file_a_line_and_a_column() {
        assert_eq!(
            declared("recipes/web.yml:12:5"),
            Some(("recipes/web.yml", 12, Some(5)))
        );
        assert_eq!(
            declared("recipes/web.yml:12"),
            Some(("recipes/web.yml", 12, None))
        );
        assert_eq!(declared("recipes/web.yml"), None);
    }

    #[test]
    fn a_cell_keeps_the_table_whole() {
        assert_eq!(cell("a|b\n<i>"), "a\\|b &lt;i&gt;");
    }
}
