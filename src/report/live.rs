//! Live progress on the terminal: a spinner per host while it works (on
//! stderr, when it is a terminal), its resources when it is done, a
//! rollout's batches and how its features ended.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use owo_colors::{OwoColorize, Stream};

use super::converge::{converge_text, plan_text};
use super::{Event, Reporter, rollout, spinner, watch};
use crate::engine;

/// Live output of plan and converge: a spinner per host while it works,
/// its resources when it is done; a rollout's batches and their features.
pub struct Converge {
    bars: MultiProgress,
    spinners: Mutex<HashMap<String, ProgressBar>>,
    plan: bool,
}

impl Converge {
    /// Output for a plan (`plan: true`) or a converge.
    pub fn new(plan: bool) -> Converge {
        let target = if crate::output::progress() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Converge {
            bars: MultiProgress::with_draw_target(target),
            spinners: Mutex::new(HashMap::new()),
            plan,
        }
    }

    fn print(&self, text: &str) {
        // Printing through the bars keeps them below the text.
        self.bars.suspend(|| crate::output::print(text));
    }
}

impl Converge {
    fn phase(&self, host: &str, phase: &str) {
        let mut spinners = self.spinners.lock().expect("spinners lock");
        let bar = spinners
            .entry(host.to_string())
            .or_insert_with(|| self.bars.add(spinner(host)));
        bar.set_message(phase.to_string());
    }

    fn host_done(&self, report: &engine::HostReport) {
        if let Some(bar) = self
            .spinners
            .lock()
            .expect("spinners lock")
            .remove(&report.host)
        {
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
        let text = if self.plan {
            plan_text(report)
        } else {
            converge_text(report)
        };
        // Under --quiet, a host that did not end well is still shown (on stderr).
        let failed = !matches!(report.outcome, engine::results::HostOutcome::Ok);
        self.bars.suspend(|| crate::output::report(&text, failed));
    }
}

impl Reporter for Converge {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Engine(engine::Event::Connecting { host }) => self.phase(host, "connecting"),
            Event::Engine(engine::Event::Probing { host }) => self.phase(host, "probing"),
            Event::Engine(engine::Event::Recording { host }) => {
                self.phase(host, "recording the ledger")
            }
            Event::Engine(engine::Event::Applying { host, changes }) => {
                self.phase(host, &format!("applying {changes} change(s)"))
            }
            Event::Engine(engine::Event::Done(report)) => self.host_done(report),
            Event::Batch {
                index,
                count,
                canary,
                hosts,
            } => {
                let title = if index == 0 && canary {
                    format!("Canary: {}", hosts.join(", "))
                } else {
                    format!("Batch {} of {count}: {}", index + 1, hosts.join(", "))
                };
                self.print(&format!(
                    "\n{}\n",
                    title.if_supports_color(Stream::Stdout, |t| t.bold())
                ));
            }
            Event::FeaturesDone(verdicts) => self.print(&rollout::features_text(verdicts)),
            _ => {}
        }
    }
}

/// Live output of the red-green cycle, on stderr: a line as each phase
/// starts and one as it ends; with -v, how each test host is made and each
/// converge's resources.
pub struct Cycle {
    verbose: bool,
    converge: Converge,
}

impl Cycle {
    /// `verbose` shows the steps of making test hosts and each converge.
    pub fn new(verbose: bool) -> Cycle {
        Cycle {
            verbose,
            converge: Converge::new(false),
        }
    }
}

impl Reporter for Cycle {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::PhaseStarted { phase, hosts } => crate::noteln!(
                "{} {} ({hosts} test host{})",
                "▶".if_supports_color(Stream::Stderr, |s| s.cyan()),
                phase.title(),
                if hosts == 1 { "" } else { "s" }
            ),
            Event::PhaseDone {
                phase,
                seconds,
                summary,
            } => crate::noteln!("  {} in {seconds:.1}s: {summary}", phase.title()),
            Event::Creating { host, step } if self.verbose => crate::noteln!("  {host}: {step}"),
            Event::Engine(_) if self.verbose => self.converge.event(event),
            _ => {}
        }
    }
}

/// Live output of `redgreen watch`: each test host as the watch starts,
/// then each round.
pub struct Watch;

impl Reporter for Watch {
    fn event(&self, event: Event<'_>) {
        if let Event::Watch(watch) = event {
            let (out, err) = watch::text(&watch);
            crate::output::print(&out);
            crate::output::eprint(&err);
        }
    }
}
