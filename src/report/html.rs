//! The HTML report of `redgreen test`: one self-contained page (no scripts,
//! no external files) with a host × scenario grid in red and green, the
//! failing step's message on every red cell, the phase timings and the
//! idempotence result.

use std::fmt::Write as _;
use std::path::Path;

use crate::report::cycle::{CycleReport, Phase, ScenarioCycle};
use crate::verify::Outcome;

/// Text for HTML: secrets masked, then escaped (in that order: an escaped
/// secret would no longer match the mask).
fn esc(text: &str) -> String {
    let text = crate::secrets::redact(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#1f2328;background:#fff}
h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.2em;margin:1.8em 0 .6em}
.verdict{display:inline-block;padding:.3em .8em;border-radius:6px;font-weight:600;color:#fff}
.verdict.pass{background:#1a7f37}.verdict.fail{background:#cf222e}.verdict.int{background:#9a6700}
table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid td.cell{min-width:11em;max-width:28em}
.cell.passed{background:#dafbe1}.cell.failed{background:#ffebe9}.cell.unreachable{background:#ffd8d3}
.cell.skipped{background:#f6f8fa;color:#57606a}.cell.none{background:#fff;color:#8c959f}
.mark{font-weight:600}.passed .mark{color:#1a7f37}.failed .mark,.unreachable .mark{color:#cf222e}
.was{font-size:.85em;color:#57606a;display:block}
.flag{font-size:.8em;background:#fff8c5;border:1px solid #d4a72c;border-radius:4px;padding:0 .35em;color:#7d4e00}
.msg{display:block;font-size:.85em;margin-top:.3em;white-space:pre-wrap;font-family:ui-monospace,monospace;color:#82071e}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.6em;overflow:auto;font-size:.85em}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}
";

/// The whole page.
pub fn cycle(report: &CycleReport, root: &Path) -> String {
    let project = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "project".into());
    let passed = report.hosts.iter().all(|h| h.passed());
    let (class, verdict) = if report.interrupted {
        ("int", "interrupted")
    } else if passed {
        ("pass", "red → green, idempotent")
    } else {
        ("fail", "failed")
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>redgreen test: {title}</title><style>{STYLE}</style></head><body>\n\
         <h1>redgreen test: {title}</h1>\n<p><span class=\"verdict {class}\">{verdict}</span> \
         <span class=\"muted\">{hosts} test host(s), {scenarios} scenario(s), {at}</span></p>\n",
        title = esc(&project),
        hosts = report.hosts.len(),
        scenarios = unique_scenarios(&report.scenarios).len(),
        at = esc(&crate::engine::ledger::now()),
    );
    let names: Vec<&str> = report.hosts.iter().map(|h| h.host.as_str()).collect();
    grid(
        &mut out,
        "Scenarios after converge",
        &report.scenarios,
        &names,
    );
    hosts(&mut out, report);
    idempotence(&mut out, report);
    out.push_str("</body></html>\n");
    out
}

/// The page of `redgreen verify --format html`: the host × scenario grid and
/// each host's counts.
pub fn verify(report: &crate::verify::Report) -> String {
    let scenarios: Vec<ScenarioCycle> = report
        .scenarios
        .iter()
        .map(|s| ScenarioCycle {
            id: s.id(),
            feature: s.feature.clone(),
            scenario: s.scenario.clone(),
            host: s.host.clone(),
            red: None,
            green: Some(s.status),
            failure: s.failure.clone(),
            red_failure: None,
        })
        .collect();
    let names: Vec<&str> = report.hosts.iter().map(|h| h.host.as_str()).collect();
    let (class, verdict) = if report.passed() {
        ("pass", "green")
    } else {
        ("fail", "red")
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>redgreen verify</title><style>{STYLE}</style></head><body>\n\
         <h1>redgreen verify</h1>\n<p><span class=\"verdict {class}\">{verdict}</span> \
         <span class=\"muted\">{} host(s), {} scenario(s), {}</span></p>\n",
        names.len(),
        unique_scenarios(&scenarios).len(),
        esc(&crate::engine::ledger::now()),
    );
    grid(&mut out, "Scenarios", &scenarios, &names);
    out.push_str("<h2>Hosts</h2>\n<table><tr><th>Host</th><th>Passed</th><th>Failed</th><th>Skipped</th><th>Round trips</th><th>Unreachable</th></tr>\n");
    for host in &report.hosts {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&host.host),
            host.passed,
            host.failed,
            host.skipped,
            host.round_trips,
            esc(host.unreachable().unwrap_or(""))
        );
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

/// Scenario ids with their feature and name, in first-seen order.
fn unique_scenarios(scenarios: &[ScenarioCycle]) -> Vec<(&str, &str, &str)> {
    let mut seen: Vec<(&str, &str, &str)> = Vec::new();
    for s in scenarios {
        if !seen.iter().any(|(id, _, _)| *id == s.id) {
            seen.push((&s.id, &s.feature, &s.scenario));
        }
    }
    seen
}

fn grid(out: &mut String, title: &str, scenarios: &[ScenarioCycle], hosts: &[&str]) {
    let _ = write!(
        out,
        "<h2>{}</h2>\n<table class=\"grid\"><tr><th>Scenario</th>",
        esc(title)
    );
    for host in hosts {
        let _ = write!(out, "<th>{}</th>", esc(host));
    }
    out.push_str("</tr>\n");
    for (id, feature, scenario) in unique_scenarios(scenarios) {
        let _ = write!(
            out,
            "<tr><td><b>{}</b><br>{}<br><span class=\"muted\">{}</span></td>",
            esc(feature),
            esc(scenario),
            esc(id)
        );
        for host in hosts {
            let cell = scenarios.iter().find(|s| s.id == id && s.host == *host);
            out.push_str(&cell_html(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn cell_html(cell: Option<&ScenarioCycle>) -> String {
    let Some(cell) = cell else {
        return "<td class=\"cell none\">not on this host</td>".into();
    };
    let (class, mark) = match cell.green {
        Some(Outcome::Passed) => ("passed", "✔ green"),
        Some(Outcome::Failed) => ("failed", "✘ red"),
        Some(Outcome::Unreachable) => ("unreachable", "✘ unreachable"),
        Some(Outcome::Skipped) => ("skipped", "– skipped"),
        Some(Outcome::Waived) => ("waived", "✘ waived"),
        None => ("none", "not run"),
    };
    let before = match cell.red {
        Some(Outcome::Passed) => {
            "<span class=\"was\"><span class=\"flag\">already green before converge: it does not test what the recipes do</span></span>".to_string()
        }
        Some(Outcome::Failed) => "<span class=\"was\">red before converge</span>".to_string(),
        Some(Outcome::Unreachable) => "<span class=\"was\">unreachable before converge</span>".to_string(),
        Some(Outcome::Skipped) => "<span class=\"was\">skipped before converge</span>".to_string(),
        Some(Outcome::Waived) => "<span class=\"was\">red (waived) before converge</span>".to_string(),
        None => String::new(),
    };
    let message = match &cell.failure {
        Some(failure) if cell.green != Some(Outcome::Passed) => format!(
            "<span class=\"msg\">{} (line {})\n{}</span>",
            esc(&failure.step),
            failure.line,
            esc(&failure.message)
        ),
        _ => String::new(),
    };
    format!("<td class=\"cell {class}\"><span class=\"mark\">{mark}</span>{before}{message}</td>")
}

fn hosts(out: &mut String, report: &CycleReport) {
    out.push_str("<h2>Test hosts and phase timings</h2>\n<table><tr><th>Test host</th><th>Red before</th><th>Green after</th><th>Idempotent</th>");
    for phase in Phase::ALL {
        let _ = write!(out, "<th>{}</th>", esc(phase.title()));
    }
    out.push_str("<th>Problems</th></tr>\n");
    for host in &report.hosts {
        let idempotent = if !host.idempotence_checked {
            "<span class=\"muted\">not checked</span>"
        } else if host.not_idempotent.is_empty() {
            "<span class=\"ok\">yes</span>"
        } else {
            "<span class=\"bad\">no</span>"
        };
        let _ = write!(
            out,
            "<tr><td>{}{}</td><td class=\"num\">{} of {} failed</td><td class=\"num\">{} of {} passed</td><td>{idempotent}</td>",
            esc(&host.host),
            if host.kept {
                " <span class=\"muted\">(kept)</span>"
            } else {
                ""
            },
            host.red.total - host.red.passed,
            host.red.total,
            host.green.passed,
            host.green.total,
        );
        for phase in Phase::ALL {
            match host.phases.get(&phase) {
                Some(seconds) => {
                    let _ = write!(out, "<td class=\"num\">{seconds:.1} s</td>");
                }
                None => out.push_str("<td class=\"num muted\">–</td>"),
            }
        }
        let problems: Vec<String> = host.problems.iter().map(|p| esc(&p.to_string())).collect();
        let _ = writeln!(
            out,
            "<td>{}</td></tr>",
            if problems.is_empty() {
                "<span class=\"ok\">none</span>".to_string()
            } else {
                problems.join("<br>")
            }
        );
    }
    out.push_str("<tr><th>All hosts</th><td></td><td></td><td></td>");
    for phase in Phase::ALL {
        match report.phases.get(&phase) {
            Some(seconds) => {
                let _ = write!(out, "<td class=\"num\">{seconds:.1} s</td>");
            }
            None => out.push_str("<td class=\"num muted\">–</td>"),
        }
    }
    out.push_str("<td></td></tr>\n</table>\n");
}

fn idempotence(out: &mut String, report: &CycleReport) {
    out.push_str("<h2>Idempotence</h2>\n");
    let changed: Vec<_> = report
        .hosts
        .iter()
        .filter(|h| !h.not_idempotent.is_empty())
        .collect();
    if changed.is_empty() {
        out.push_str("<p class=\"ok\">The second converge changed nothing on any host.</p>\n");
        return;
    }
    for host in changed {
        let _ = write!(
            out,
            "<p><b>{}</b>: the second converge changed</p>\n<ul>\n",
            esc(&host.host)
        );
        for resource in &host.not_idempotent {
            let changes: Vec<String> = resource.changes.iter().map(ToString::to_string).collect();
            let _ = write!(
                out,
                "<li><b>{}</b> <span class=\"muted\">({})</span>: {}",
                esc(&resource.title),
                esc(&resource.declared),
                esc(&changes.join(", "))
            );
            for change in &resource.changes {
                if let crate::resource::Change::Content {
                    diff: Some(diff), ..
                } = change
                {
                    let _ = write!(out, "<pre>{}</pre>", esc(diff));
                }
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
