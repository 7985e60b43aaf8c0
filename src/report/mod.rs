//! Results and events → output. The work below reports what happens as
//! typed events ([`Event`]) and returns typed results; here they become
//! what people and machines read: live progress on the terminal
//! ([`live`]), each command's text ([`converge`], [`rollout`], [`cycle`],
//! ...), JSON, JUnit XML, Cucumber JSON and HTML.

pub mod converge;
pub mod cucumber_json;
pub mod cycle;
pub mod format;
pub mod github;
pub mod html;
pub mod junit;
pub mod live;
pub mod reporters;
pub mod results;
pub mod rollout;
pub mod scenario;
pub mod serve;
pub mod status;
pub mod steps;
pub mod verify;
pub mod watch;

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use format::{Destination, Format, Out};

use crate::diagnostic::{Diag, Diags};

use crate::{engine, verify as verifying};

/// Something that happened, as the work reports it.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A step of a host's plan or converge.
    Engine(engine::Event<'a>),
    /// A batch of a rollout starts.
    Batch {
        /// Its number, from 0.
        index: usize,
        /// How many batches there are.
        count: usize,
        /// Whether it is the canary.
        canary: bool,
        /// Its hosts.
        hosts: &'a [String],
    },
    /// The features ran on the hosts of a batch.
    FeaturesDone(&'a [rollout::HostVerdict]),
    /// A step of a verify run.
    Verify(verifying::Event<'a>),
    /// A phase of the red-green cycle starts on so many test hosts.
    PhaseStarted {
        /// The phase.
        phase: cycle::Phase,
        /// On how many test hosts.
        hosts: usize,
    },
    /// A phase of the red-green cycle is done.
    PhaseDone {
        /// The phase.
        phase: cycle::Phase,
        /// As long as its slowest host took.
        seconds: f64,
        /// What it did.
        summary: &'a cycle::PhaseSummary,
    },
    /// Something the watch does.
    Watch(watch::Watch<'a>),
    /// A step of making a test host (pulling its image, booting).
    Creating {
        /// The test host.
        host: &'a str,
        /// The step.
        step: &'a str,
    },
}

/// Where the work's events go: a live view on the terminal, or nothing.
pub trait Reporter: Sync {
    /// Take one event.
    fn event(&self, event: Event<'_>);

    /// The engine's events, for [`crate::engine::run`].
    fn engine(&self, event: engine::Event<'_>) {
        self.event(Event::Engine(event));
    }

    /// Verify's events, for [`crate::verify::run_features`].
    fn verify(&self, event: verifying::Event<'_>) {
        self.event(Event::Verify(event));
    }
}

/// A reporter that shows nothing.
pub struct Quiet;

impl Reporter for Quiet {
    fn event(&self, _: Event<'_>) {}
}

/// A spinner with a bold prefix, a message and the elapsed time, drawn on
/// stderr when it is a terminal.
pub fn spinner(prefix: &str) -> ProgressBar {
    let bar = still_spinner(prefix);
    if crate::output::progress() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A [`spinner`] that is one line among `bars`. It is added before it
/// ticks: a spinner that ticks before it is added draws once on its own,
/// and that line stays behind on the terminal.
pub fn spinner_in(bars: &indicatif::MultiProgress, prefix: &str) -> ProgressBar {
    let bar = bars.add(still_spinner(prefix));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn still_spinner(prefix: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} ({elapsed})")
            .expect("valid template"),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

/// The width of a HOST column holding these names.
pub fn host_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(str::len).max().unwrap_or(0).max("HOST".len())
}

/// Problems as miette reports (masked, escaped for a terminal), then a
/// summary line: what stderr shows for bad input.
pub fn diagnostics(diags: &Diags) -> String {
    let mut out = String::new();
    let theme = if crate::output::colour(crate::output::Stream::Stderr) {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    for diag in &diags.0 {
        // Masked before rendering: miette may wrap a long message mid-secret.
        let diag = &shown_diag(&crate::secrets::redact_diag(diag));
        let mut text = String::new();
        if handler.render_report(&mut text, diag).is_err() {
            text = diag.one_line();
        }
        out.push_str(&text);
        out.push('\n');
    }
    let n = diags.0.len();
    out.push_str(&format!(
        "error: {n} problem{} found; nothing was touched\n",
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// A problem with every text in it escaped for a terminal: messages quote
/// names, paths and values from the user's files.
fn shown_diag(diag: &Diag) -> Diag {
    use crate::output::shown_text;
    let mut diag = diag.clone();
    diag.message = shown_text(&diag.message).into_owned();
    diag.label = shown_text(&diag.label).into_owned();
    diag.help = diag.help.map(|h| shown_text(&h).into_owned());
    diag.related = diag.related.iter().map(shown_diag).collect();
    diag
}
