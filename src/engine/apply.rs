//! Stage 4, the apply: one script with every change of a host, its
//! handlers, and the ledger at its end (round trip 2), under the host's
//! converge lock; then what it said about each resource.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use super::ledger::{self, Converged, Ledger, Lock};
use super::plan::Plan;
use super::{
    EngineOptions, Event, HostOutcome, HostReport, Listener, ResourceReport, Status, script,
};
use crate::shell::TaggedLines;
use crate::transport::{Script, TIMED_OUT, Transport, TransportError};

/// Apply `plan` (which changes something) on the host, and read what each
/// resource and handler did into `report`. `wanted` is the ledger this
/// converge writes; `recorded` the one the probe found.
pub(super) async fn run(
    mut plan: Plan<'_, '_>,
    wanted: Ledger,
    recorded: Option<Ledger>,
    options: &EngineOptions,
    transport: &dyn Transport,
    events: Listener<'_>,
    report: &mut HostReport,
) -> Result<(), TransportError> {
    let to_apply = plan.to_apply();
    let steps: Vec<script::Step<'_>> = to_apply
        .iter()
        .map(|&n| script::Step {
            tag: format!("r{n}"),
            snippet: plan.items[n].snippet.as_deref().unwrap_or(""),
            notifies: plan
                .handlers
                .iter()
                .enumerate()
                .filter(|(_, h)| h.notified_by.contains(&n))
                .map(|(index, _)| index)
                .collect(),
            record: plan.items[n].report.removes.then(|| {
                let item = &plan.items[n].report;
                ledger::removed_line(&ledger::Removed {
                    at: wanted.converged_at.clone(),
                    host: wanted.host.clone(),
                    commit: wanted.commit.clone(),
                    removed: item.title.clone(),
                    changes: item.changes.iter().map(ToString::to_string).collect(),
                    reason: item.reason.clone(),
                    declared: item.declared.clone(),
                    evidence: item.evidence.iter().map(ToString::to_string).collect(),
                })
            }),
        })
        .collect();
    let handler_snippets: Vec<(String, &str)> = plan
        .handlers
        .iter()
        .enumerate()
        .map(|(index, h)| (format!("h{index}"), h.snippet.as_str()))
        .collect();
    let apply = script::apply_script_recording(
        &steps,
        &handler_snippets,
        &ledger::write_function(&wanted),
        options.command_timeout,
    );
    // What each tag is, for the progress shown while the script runs.
    let titles: HashMap<String, String> = to_apply
        .iter()
        .map(|&n| (format!("r{n}"), plan.items[n].report.title.clone()))
        .chain(
            plan.handlers
                .iter()
                .enumerate()
                .map(|(index, h)| (format!("h{index}"), h.report.title.clone())),
        )
        .collect();
    let progress = Mutex::new(Progress::default());
    let on_line = |line: &str| {
        let mut progress = progress.lock().expect("progress lock");
        let Some(step) = progress.read(line) else {
            return;
        };
        let Some(resource) = titles.get(step.tag()) else {
            return;
        };
        let host = report.host.as_str();
        match step {
            StepLine::Started(_) => events(Event::ResourceStarted { host, resource }),
            StepLine::Finished {
                status, seconds, ..
            } => events(Event::ResourceDone {
                host,
                resource,
                status,
                seconds,
            }),
        }
    };
    let script = Script::root(apply).with_timeout(ledger::locked_timeout(options.command_timeout));
    let output = transport.run_streaming(&script, &on_line).await;
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            for &n in &to_apply {
                plan.items[n].report.status = Status::Failed;
                plan.items[n].report.message = Some(format!("unknown: {err}"));
            }
            report.resources = plan.resources();
            return Err(err);
        }
    };
    let lines = crate::shell::parse_lines(&output.stdout_text());
    // Another converge of the host held its lock: nothing was applied.
    let lock = Lock::of(&lines);
    if let Some(reason) = lock.refusal() {
        plan.hold_back(
            "the host's converge lock was not taken",
            "the host's converge lock was not taken",
        );
        report.outcome = HostOutcome::Failed(reason);
        (report.resources, report.handlers) = plan.reports();
        report.ledger = recorded;
        return Ok(());
    }
    report.notes.extend(lock.note());
    let mut failed = None;
    // A script the host stopped at its timeout: the first resource without a
    // result is the one that was running.
    let stopped = (!lines.complete && output.status == TIMED_OUT).then(|| {
        format!(
            "timed out after {}s (command_timeout in redgreen.yml); it was stopped on the host",
            options.command_timeout.as_secs()
        )
    });
    for &n in &to_apply {
        let tag = format!("r{n}");
        let item = &mut plan.items[n].report;
        if let Some(reason) = &stopped
            && failed.is_none()
            && lines
                .tag(&tag)
                .is_none_or(|t| !t.contains_key("done") && !t.contains_key("failed"))
        {
            item.status = Status::Failed;
            item.message = Some(reason.clone());
            failed = Some(item.title.clone());
            continue;
        }
        read_result(&lines, &tag, item, &mut failed);
    }
    for (index, handler) in plan.handlers.iter_mut().enumerate() {
        let tag = format!("h{index}");
        if lines.tag(&tag).is_some() || failed.is_some() || !lines.complete {
            read_result(&lines, &tag, &mut handler.report, &mut failed);
        } else {
            handler.report.status = Status::Skipped;
            handler.report.changes.clear();
            handler.report.message =
                Some("not notified: what notifies it changed nothing on the host".into());
        }
    }
    if let Some(title) = failed {
        report.outcome = HostOutcome::Failed(match &stopped {
            Some(reason) => format!("{title}: {reason}"),
            None => format!("{title} failed"),
        });
    } else if !lines.complete {
        report.outcome = HostOutcome::Failed(format!(
            "the apply script stopped early (exit {}): {}",
            output.status,
            output.stderr_text().trim()
        ));
    }
    // The apply script ends by writing the ledger with the result; a ledger
    // that could not be written fails the host (else `status` would show
    // an older converge as the last).
    if let Some(failure) = ledger::write_failure(&lines) {
        match report.outcome {
            HostOutcome::Ok => report.outcome = HostOutcome::Failed(failure),
            _ => report.notes.push(failure),
        }
        report.ledger = recorded;
    } else {
        let mut written = wanted;
        written.result = if matches!(report.outcome, HostOutcome::Ok) {
            Converged::Ok
        } else {
            Converged::Failed
        };
        report.ledger = Some(written);
    }
    (report.resources, report.handlers) = plan.reports();
    Ok(())
}

/// Read what the apply script said about `tag` into its report; `failed`
/// keeps the title of the first failure.
fn read_result(
    lines: &TaggedLines,
    tag: &str,
    report: &mut ResourceReport,
    failed: &mut Option<String>,
) {
    if let Some(error) = lines.get(tag, "failed") {
        let text = crate::shell::decode(error)
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        report.status = Status::Failed;
        report.message = Some(if text.is_empty() {
            "failed".into()
        } else {
            text
        });
        failed.get_or_insert_with(|| report.title.clone());
    } else if lines.get(tag, "done").is_some() {
        let did = lines.all(tag, "changed");
        report.status = if did.is_empty() {
            Status::Ok
        } else {
            Status::Changed
        };
        if did.is_empty() {
            // The host changed between probe and apply and is already right.
            report.changes.clear();
        }
    } else {
        report.status = Status::Skipped;
        report.message = Some(match failed {
            Some(title) => format!("not applied: {title} failed before it"),
            // It said it started: it may have done part of its work.
            None if lines.get(tag, "started").is_some() => {
                "the apply script stopped while it ran".into()
            }
            None => "not applied: the apply script stopped early".into(),
        });
    }
}

/// What one line of the apply script says of a step, as it runs.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum StepLine {
    /// The step (its tag) started.
    Started(String),
    /// The step ended: changed or ok (`@TAG done`), or failed.
    Finished {
        /// Its tag.
        tag: String,
        /// How it ended.
        status: Status,
        /// Since it started, as seen here.
        seconds: f64,
    },
}

impl StepLine {
    fn tag(&self) -> &str {
        match self {
            StepLine::Started(tag) | StepLine::Finished { tag, .. } => tag,
        }
    }
}

/// Reads the apply script's output line by line as it arrives: when each
/// step started, whether it changed something, how it ended.
#[derive(Default)]
pub(super) struct Progress {
    started: HashMap<String, Instant>,
    changed: HashSet<String>,
}

impl Progress {
    /// What `line` says of a step, if it says when one started or ended.
    pub(super) fn read(&mut self, line: &str) -> Option<StepLine> {
        let rest = line.strip_prefix('@')?;
        let mut words = rest.trim_end().splitn(3, ' ');
        let tag = words.next()?.to_string();
        match words.next()? {
            "started" => {
                self.started.insert(tag.clone(), Instant::now());
                Some(StepLine::Started(tag))
            }
            "changed" => {
                self.changed.insert(tag);
                None
            }
            key @ ("done" | "failed") => {
                let seconds = self
                    .started
                    .remove(&tag)
                    .map_or(0.0, |at| at.elapsed().as_secs_f64());
                let status = match (key, self.changed.contains(&tag)) {
                    ("failed", _) => Status::Failed,
                    (_, true) => Status::Changed,
                    _ => Status::Ok,
                };
                Some(StepLine::Finished {
                    tag,
                    status,
                    seconds,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(lines: &[&str]) -> Vec<(String, Option<Status>)> {
        let mut progress = Progress::default();
        lines
            .iter()
            .filter_map(|l| progress.read(l))
            .map(|step| match step {
                StepLine::Started(tag) => (tag, None),
                StepLine::Finished { tag, status, .. } => (tag, Some(status)),
            })
            .collect()
    }

    #[test]
    fn each_step_starts_then_ends_with_what_it_did() {
        let seen = statuses(&[
            "@r0 started ",
            "@r0 changed installed",
            "@r0 done ",
            "@r3 started ",
            "some output of a command",
            "@r3 done ",
            "@h0 started ",
            "@h0 failed ZXJyb3I=",
            "@end",
        ]);
        assert_eq!(
            seen,
            [
                ("r0".into(), None),
                ("r0".into(), Some(Status::Changed)),
                ("r3".into(), None),
                ("r3".into(), Some(Status::Ok)),
                ("h0".into(), None),
                ("h0".into(), Some(Status::Failed)),
            ]
        );
    }

    #[test]
    fn lines_that_are_not_about_a_step_say_nothing() {
        assert!(
            statuses(&[
                "@lock waited 3",
                "@ledger written ",
                "@end",
                "",
                "@",
                "plain"
            ])
            .is_empty()
        );
    }

    #[test]
    fn a_step_is_timed_from_its_start() {
        let mut progress = Progress::default();
        progress.read("@r0 started ");
        std::thread::sleep(std::time::Duration::from_millis(50));
        match progress.read("@r0 done ") {
            Some(StepLine::Finished { seconds, .. }) => assert!(seconds >= 0.05, "{seconds}"),
            other => panic!("{other:?}"),
        }
    }
}
