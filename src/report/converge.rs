//! Plan and converge for people: a host's resources as they ended, a plan
//! with its diffs, the recap table, the note on removals; and as JSON.

use owo_colors::{OwoColorize, Stream};

use super::{Format, host_width};
use crate::engine::{HostOutcome, HostReport, Mode, ResourceReport, RunReport, Status};
use crate::output::{shown, shown_text};

fn status_word(status: Status) -> String {
    let word = format!("{:<8}", status.word());
    match status {
        Status::Ok => word
            .if_supports_color(Stream::Stdout, |w| w.green())
            .to_string(),
        Status::Changed | Status::WouldChange => word
            .if_supports_color(Stream::Stdout, |w| w.yellow())
            .to_string(),
        Status::Failed => word
            .if_supports_color(Stream::Stdout, |w| w.red())
            .to_string(),
        Status::Skipped => word
            .if_supports_color(Stream::Stdout, |w| w.dimmed())
            .to_string(),
    }
}

/// The lines a converge prints for one host.
pub fn converge_text(report: &HostReport) -> String {
    let mut out = String::new();
    let host = report.host.as_str();
    for resource in report.resources.iter().chain(&report.handlers) {
        let detail = match resource.status {
            Status::Failed | Status::Skipped => resource
                .message
                .as_deref()
                .map(|m| shown_text(m).into_owned())
                .unwrap_or_default(),
            _ => resource
                .changes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        out.push_str(&format!(
            "{host}  {}  {}{}\n",
            status_word(resource.status),
            resource.title,
            if detail.is_empty() {
                String::new()
            } else {
                format!("  ({detail})")
            }
        ));
        // Diffs are there with --diff.
        let changes: &[crate::resource::Change] = if resource.status == Status::Changed {
            &resource.changes
        } else {
            &[]
        };
        for change in changes {
            if let crate::resource::Change::Content {
                diff: Some(diff), ..
            } = change
            {
                out.push_str(&colored_diff(diff, "    "));
            }
        }
    }
    // A failure that a resource's line already shows is not said again.
    let shown = report
        .resources
        .iter()
        .chain(&report.handlers)
        .any(|r| r.status == Status::Failed);
    let outcome = shown_outcome(&report.outcome);
    match &outcome {
        HostOutcome::Ok => {}
        HostOutcome::Failed(_) if shown => {}
        HostOutcome::Failed(reason) => out.push_str(&format!(
            "{host}  {}  {reason}\n",
            status_word(Status::Failed)
        )),
        HostOutcome::Unreachable(reason) => out.push_str(&format!(
            "{host}  {}  {reason}\n",
            "unreachable".if_supports_color(Stream::Stdout, |w| w.red())
        )),
        HostOutcome::Interrupted(reason) => out.push_str(&format!(
            "{host}  {}  {reason}\n",
            "interrupted".if_supports_color(Stream::Stdout, |w| w.yellow())
        )),
        HostOutcome::Refused(reason) => out.push_str(&format!(
            "{host}  {}  {reason}\n",
            "refused".if_supports_color(Stream::Stdout, |w| w.red())
        )),
    }
    out
}

/// The plan of one host: every change with its diff.
pub fn plan_text(report: &HostReport) -> String {
    let mut out = String::new();
    let host = report.host.as_str();
    match &shown_outcome(&report.outcome) {
        HostOutcome::Unreachable(reason) => {
            return format!("{host}: unreachable: {reason}\n\n");
        }
        HostOutcome::Failed(reason) => out.push_str(&format!("{host}: failed: {reason}\n")),
        HostOutcome::Interrupted(reason) | HostOutcome::Refused(reason) => {
            return format!("{host}: {reason}\n\n");
        }
        HostOutcome::Ok => {}
    }
    let changing: Vec<_> = report
        .resources
        .iter()
        .filter(|r| matches!(r.status, Status::WouldChange | Status::Failed))
        .collect();
    if changing.is_empty() && report.outcome == HostOutcome::Ok {
        out.push_str(&format!("{host}: no changes\n\n"));
        return out;
    }
    let handlers: Vec<_> = report
        .handlers
        .iter()
        .filter(|h| matches!(h.status, Status::WouldChange | Status::Failed))
        .collect();
    // Removals stand out: in a section of their own, after the other changes.
    let (removals, changing): (Vec<_>, Vec<_>) = changing.into_iter().partition(|r| r.removes);
    if report.outcome == HostOutcome::Ok {
        let then = match handlers.len() {
            0 => String::new(),
            1 => ", then 1 handler".to_string(),
            n => format!(", then {n} handlers"),
        };
        let removing = match removals.len() {
            0 => String::new(),
            1 => " (1 removal)".to_string(),
            n => format!(" ({n} removals)"),
        };
        out.push_str(&format!(
            "{host}: {} to change{removing}{then}\n",
            changing.len() + removals.len()
        ));
    }
    for resource in changing.into_iter().chain(handlers) {
        out.push_str(&planned_resource(resource));
    }
    if !removals.is_empty() {
        out.push_str(&format!(
            "  {}\n",
            "removals (applied only from a saved plan or with --allow-removals):"
                .if_supports_color(Stream::Stdout, |t| t.red())
        ));
    }
    for resource in removals {
        out.push_str(&planned_resource(resource));
    }
    out.push('\n');
    out
}

/// One resource of a plan: a mark (`~` change, `-` removal, `!` failure),
/// its title and place, then each change with its diff.
fn planned_resource(resource: &ResourceReport) -> String {
    let mark = if resource.status == Status::Failed {
        "!"
    } else if resource.removes {
        "-"
    } else {
        "~"
    };
    let mut out = format!(
        "  {mark} {}  ({})\n",
        resource
            .title
            .if_supports_color(Stream::Stdout, |t| t.bold()),
        resource.declared
    );
    if let Some(message) = &resource.message {
        out.push_str(&format!("      {}\n", shown_text(message)));
    }
    if let Some(reason) = &resource.reason {
        out.push_str(&format!("      reason: {}\n", shown_text(reason)));
    }
    if !resource.after.is_empty() {
        out.push_str(&format!(
            "      after: {} must pass on the host first\n",
            shown_text(&resource.after.join(", "))
        ));
    }
    if resource.removes && !resource.evidence.is_empty() {
        out.push_str(&format!(
            "      use: {}\n",
            crate::resource::evidence::describe(&resource.evidence)
        ));
    }
    for change in &resource.changes {
        out.push_str(&format!("      {change}\n"));
        if let crate::resource::Change::Content {
            diff: Some(diff), ..
        } = change
        {
            out.push_str(&colored_diff(diff, "        "));
        }
    }
    out
}

/// A unified diff, indented, with added lines green and removed lines red.
fn colored_diff(diff: &str, indent: &str) -> String {
    let mut out = String::new();
    for line in diff.lines() {
        // File contents may hold escape sequences and carriage returns: a
        // diff shows them, it does not play them.
        let line = shown_text(line);
        let line = line.as_ref();
        let colored = if line.starts_with('+') && !line.starts_with("+++") {
            line.if_supports_color(Stream::Stdout, |l| l.green())
                .to_string()
        } else if line.starts_with('-') && !line.starts_with("---") {
            line.if_supports_color(Stream::Stdout, |l| l.red())
                .to_string()
        } else {
            line.to_string()
        };
        out.push_str(&format!("{indent}{colored}\n"));
    }
    out
}

/// A host's outcome with its reason escaped for a terminal (it may quote
/// what the host printed).
fn shown_outcome(outcome: &HostOutcome) -> HostOutcome {
    let text = |reason: &String| shown_text(reason).into_owned();
    match outcome {
        HostOutcome::Ok => HostOutcome::Ok,
        HostOutcome::Failed(r) => HostOutcome::Failed(text(r)),
        HostOutcome::Unreachable(r) => HostOutcome::Unreachable(text(r)),
        HostOutcome::Interrupted(r) => HostOutcome::Interrupted(text(r)),
        HostOutcome::Refused(r) => HostOutcome::Refused(text(r)),
    }
}

/// The recap table at the end of a run.
pub fn recap(report: &RunReport) -> String {
    let width = host_width(report.hosts.iter().map(|h| h.host.as_str()));
    let plan = report.mode == Mode::Plan;
    let mut out = String::from("\nRecap\n");
    let changed_heading = if plan { "CHANGE" } else { "CHANGED" };
    out.push_str(&format!(
        "  {:<width$}  {:>4}  {:>7}  {:>6}  {:>7}  {:>7}  {:>11}\n",
        "HOST", "OK", changed_heading, "FAILED", "SKIPPED", "TIME", "ROUND TRIPS"
    ));
    for host in &report.hosts {
        let changed = host.count(Status::Changed) + host.count(Status::WouldChange);
        let line = format!(
            "  {:<width$}  {:>4}  {:>7}  {:>6}  {:>7}  {:>6.2}s  {:>11}",
            host.host,
            host.count(Status::Ok),
            changed,
            host.count(Status::Failed),
            host.count(Status::Skipped),
            host.seconds,
            host.round_trips,
        );
        match &host.outcome {
            HostOutcome::Ok => out.push_str(&line),
            HostOutcome::Failed(_) => out.push_str(
                &line
                    .if_supports_color(Stream::Stdout, |l| l.red())
                    .to_string(),
            ),
            HostOutcome::Interrupted(reason) if host.resources.is_empty() => out.push_str(
                &format!("  {:<width$}  interrupted: {reason}", host.host)
                    .if_supports_color(Stream::Stdout, |l| l.yellow())
                    .to_string(),
            ),
            HostOutcome::Interrupted(_) => out.push_str(
                &line
                    .if_supports_color(Stream::Stdout, |l| l.yellow())
                    .to_string(),
            ),
            HostOutcome::Refused(_) => out.push_str(
                &format!("  {:<width$}  refused: nothing was changed", host.host)
                    .if_supports_color(Stream::Stdout, |l| l.red())
                    .to_string(),
            ),
            HostOutcome::Unreachable(reason) => out.push_str(
                &format!(
                    "  {:<width$}  unreachable: {}",
                    host.host,
                    shown(reason.lines().next().unwrap_or(""))
                )
                .if_supports_color(Stream::Stdout, |l| l.red())
                .to_string(),
            ),
        }
        out.push('\n');
    }
    for host in &report.hosts {
        for note in &host.notes {
            out.push_str(&format!("  note: {}: {}\n", host.host, shown_text(note)));
        }
    }
    out
}

/// After a plan: how many removals there are and how converge treats them;
/// empty when there are none.
pub fn removals_note(report: &RunReport) -> String {
    let hosts: Vec<(&str, usize)> = report
        .hosts
        .iter()
        .map(|h| {
            let n = h
                .resources
                .iter()
                .filter(|r| r.status == Status::WouldChange && r.removes)
                .count();
            (h.host.as_str(), n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    if hosts.is_empty() {
        return String::new();
    }
    let total: usize = hosts.iter().map(|(_, n)| n).sum();
    format!(
        "\n{} on {} ({}): `redgreen converge` refuses to apply them unless they are in a saved plan (`redgreen plan --out plan.json`, then `redgreen converge --plan plan.json`) or --allow-removals is given.\n",
        if total == 1 {
            "1 removal".to_string()
        } else {
            format!("{total} removals")
        }
        .if_supports_color(Stream::Stdout, |t| t.red()),
        if hosts.len() == 1 {
            "1 host".to_string()
        } else {
            format!("{} hosts", hosts.len())
        },
        hosts.iter().map(|(h, _)| *h).collect::<Vec<_>>().join(", ")
    )
}

/// What plan writes at its end: for people, the recap and the note on
/// removals; else the JSON.
pub fn plan_end(format: Format, report: &RunReport) -> String {
    match format {
        Format::Pretty => recap(report) + &removals_note(report),
        _ => super::format::json(report),
    }
}

/// What converge writes at its end: for people, each host's resources
/// (unless they were shown live), then the recap; else the JSON.
pub fn converge_end(format: Format, report: &RunReport, live: bool) -> String {
    if format != Format::Pretty {
        return super::format::json(report);
    }
    let mut text = String::new();
    if !live {
        for host in &report.hosts {
            text.push_str(&converge_text(host));
        }
    }
    text.push_str(&recap(report));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(outcome: HostOutcome, resources: Vec<ResourceReport>) -> HostReport {
        HostReport {
            host: "web1".into(),
            outcome,
            resources,
            handlers: Vec::new(),
            notes: Vec::new(),
            round_trips: 2,
            seconds: 0.1,
            facts: None,
            ledger: None,
            answers: Default::default(),
        }
    }

    fn package(status: Status, message: Option<&str>) -> ResourceReport {
        ResourceReport {
            kind: "package".into(),
            title: "package gitt".into(),
            declared: "recipes/base.yml:3:5".into(),
            status,
            changes: Vec::new(),
            removes: false,
            message: message.map(String::from),
            reason: None,
            evidence: Vec::new(),
            after: Vec::new(),
        }
    }

    #[test]
    fn a_failure_is_said_once() {
        let text = converge_text(&host(
            HostOutcome::Failed("package gitt failed".into()),
            vec![package(
                Status::Failed,
                Some("E: Unable to locate package gitt"),
            )],
        ));
        assert_eq!(
            text,
            "web1  failed    package gitt  (E: Unable to locate package gitt)\n"
        );
        // A failure no resource shows is said on the host's line.
        let text = converge_text(&host(
            HostOutcome::Failed("the apply script stopped early (exit 1): oops".into()),
            vec![package(Status::Ok, None)],
        ));
        assert_eq!(
            text,
            "web1  ok        package gitt\nweb1  failed    the apply script stopped early (exit 1): oops\n"
        );
    }
}
