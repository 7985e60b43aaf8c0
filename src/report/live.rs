//! Live progress: on a terminal, a spinner per host while it works (on
//! stderr) with the resource being applied and for how long; off a terminal
//! (a pipe, CI), a plain line per resource as it ends. Then each host's
//! resources when it is done, a rollout's batches and how its features ended.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use owo_colors::{OwoColorize, Stream};

use super::converge::{converge_text, plan_text};
use super::{Event, Reporter, rollout, spinner_in, watch};
use crate::engine;

/// Live output of plan and converge: a spinner per host while it works,
/// its resources when it is done; a rollout's batches and their features.
pub struct Converge {
    bars: MultiProgress,
    spinners: Mutex<HashMap<String, ProgressBar>>,
    plan: bool,
    /// Show each host's resources when it is done.
    recap: bool,
    /// On a terminal (spinners), or off one (a line per finished resource).
    terminal: bool,
}

impl Converge {
    /// Output for a plan (`plan: true`) or a converge.
    pub fn new(plan: bool) -> Converge {
        let mut converge = Converge::progress_only(plan);
        converge.recap = true;
        converge
    }

    /// Only the progress of each host, not its resources when it is done
    /// (`test` and `watch` show their own summary).
    pub fn progress_only(plan: bool) -> Converge {
        let target = if crate::output::progress() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Converge {
            bars: MultiProgress::with_draw_target(target),
            spinners: Mutex::new(HashMap::new()),
            plan,
            recap: false,
            terminal: crate::output::progress(),
        }
    }

    fn print(&self, text: &str) {
        // Printing through the bars keeps them below the text.
        self.bars.suspend(|| crate::output::print(text));
    }
}

impl Drop for Converge {
    fn drop(&mut self) {
        crate::output::show_progress(None);
    }
}

impl Converge {
    fn phase(&self, host: &str, phase: &str) {
        self.bar(host).set_message(phase.to_string());
    }

    fn bar(&self, host: &str) -> ProgressBar {
        let mut spinners = self.spinners.lock().expect("spinners lock");
        if spinners.is_empty() && self.terminal {
            // A signal's message now goes above the spinners.
            crate::output::show_progress(Some(self.bars.clone()));
        }
        spinners
            .entry(host.to_string())
            .or_insert_with(|| spinner_in(&self.bars, host))
            .clone()
    }

    /// A resource started: the host's spinner shows it, timed from now.
    fn resource_started(&self, host: &str, resource: &str) {
        let bar = self.bar(host);
        bar.reset_elapsed();
        bar.set_message(crate::output::shown(resource).into_owned());
    }

    /// A resource ended: off a terminal, a line says so (on a terminal, the
    /// spinner moves on to the next one).
    fn resource_done(&self, host: &str, resource: &str, status: engine::Status, seconds: f64) {
        if !self.terminal {
            crate::output::note(&resource_line(host, resource, status, seconds));
        }
    }

    fn host_done(&self, report: &engine::HostReport) {
        let mut spinners = self.spinners.lock().expect("spinners lock");
        if let Some(bar) = spinners.remove(&report.host) {
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
        if spinners.is_empty() {
            crate::output::show_progress(None);
        }
        drop(spinners);
        if !self.recap {
            return;
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
            Event::Engine(engine::Event::ResourceStarted { host, resource }) => {
                self.resource_started(host, resource)
            }
            Event::Engine(engine::Event::ResourceDone {
                host,
                resource,
                status,
                seconds,
            }) => self.resource_done(host, resource, status, seconds),
            Event::Engine(engine::Event::Done(report)) => self.host_done(report),
            Event::Engine(engine::Event::Gate {
                host,
                features,
                failed,
            }) if self.recap => {
                let text = if failed.is_empty() {
                    format!(
                        "{host}  after: {features} passed; the removals that wait for them come next\n"
                    )
                } else {
                    format!(
                        "{host}  {}  after: {features} failed ({failed}); the removals that wait for them were not applied\n",
                        "failed".if_supports_color(Stream::Stdout, |t| t.red())
                    )
                };
                self.bars
                    .suspend(|| crate::output::report(&text, !failed.is_empty()));
            }
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
            converge: if verbose {
                Converge::new(false)
            } else {
                Converge::progress_only(false)
            },
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
            Event::Engine(_) => self.converge.event(event),
            _ => {}
        }
    }
}

/// Live output of `redgreen watch`: each test host as the watch starts,
/// then each round: `running…` as soon as a save is seen, each host's
/// progress while it converges, and how the round ended.
pub struct Watch {
    converge: Converge,
}

impl Watch {
    /// Output for a watch.
    pub fn new() -> Watch {
        Watch {
            converge: Converge::progress_only(false),
        }
    }
}

impl Default for Watch {
    fn default() -> Self {
        Watch::new()
    }
}

impl Reporter for Watch {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Watch(watch) => {
                let (out, err) = watch::text(&watch);
                self.converge.bars.suspend(|| {
                    crate::output::print(&out);
                    crate::output::eprint(&err);
                });
            }
            Event::Engine(_) => self.converge.event(event),
            _ => {}
        }
    }
}

/// The line off a terminal for a resource that ended:
/// `web1: package nginx-light: changed in 41.2s`.
pub fn resource_line(host: &str, resource: &str, status: engine::Status, seconds: f64) -> String {
    format!(
        "{}: {}: {} in {seconds:.1}s\n",
        crate::output::shown(host),
        crate::output::shown(resource),
        status.word()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_resource_is_one_plain_line() {
        assert_eq!(
            resource_line(
                "web1",
                "package nginx-light",
                engine::Status::Changed,
                41.25
            ),
            "web1: package nginx-light: changed in 41.2s\n"
        );
    }
}
