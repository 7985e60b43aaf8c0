//! The one place where a command's results go to its reporters. Every
//! command that runs features (`verify`, `test`, `converge --verify` and
//! rollouts) and `plan`/`converge` take the same `--format NAME[:FILE]`
//! flags, several at once; [`Kind::check`] refuses, before any host is
//! touched, a format the command cannot write; [`Reporters`] opens every
//! destination before the run and, after it, writes each one from the
//! [`Results`], then, on GitHub Actions, the annotations and the step
//! summary ([`super::github`]).

use std::path::PathBuf;

use super::format::{Destination, Format, Out, destinations};
pub use super::results::Results;
use crate::diagnostic::Diag;

/// Which command reports: what it can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `verify`: features against hosts.
    Verify,
    /// `test`: the red-green cycle.
    Cycle,
    /// `converge --verify` and rollouts: converge, then features.
    Rollout,
    /// `plan`, and `converge` without features.
    Run,
}

impl Kind {
    /// The formats this command writes.
    pub fn formats(self) -> &'static [Format] {
        match self {
            Kind::Run => &[Format::Pretty, Format::Json],
            Kind::Verify | Kind::Cycle | Kind::Rollout => &[
                Format::Pretty,
                Format::Json,
                Format::Junit,
                Format::CucumberJson,
                Format::Html,
            ],
        }
    }

    /// `--format` and `--out` read into destinations, each a format this
    /// command writes.
    pub fn check(
        self,
        formats: &[String],
        out: Option<&PathBuf>,
    ) -> Result<Vec<Destination>, Diag> {
        let destinations = destinations(formats, out)?;
        for destination in &destinations {
            if !self.formats().contains(&destination.format) {
                let name = destination.format.name();
                return Err(Diag::plain(format!(
                    "--format {name} needs features: plan and converge write pretty or json"
                ))
                .help(format!(
                    "add --verify to converge to run the features and report them as {name}, or use `redgreen verify --format {name}:FILE`"
                )));
            }
        }
        Ok(destinations)
    }
}

/// Every destination of a command, open.
pub struct Reporters {
    outs: Vec<(Destination, Out)>,
}

impl Reporters {
    /// Open every destination (a bad path stops the command before it
    /// touches a host).
    pub fn open(destinations: &[Destination]) -> Result<Reporters, Diag> {
        let mut outs = Vec::new();
        for destination in destinations {
            outs.push((destination.clone(), Out::open(destination)?));
        }
        Ok(Reporters { outs })
    }

    /// Take pretty's destination out, for a reporter that writes it live
    /// (`verify`); true when it is stdout.
    pub fn take_pretty(&mut self) -> Option<(Out, bool)> {
        let index = self
            .outs
            .iter()
            .position(|(d, _)| d.format == Format::Pretty)?;
        let (destination, out) = self.outs.remove(index);
        Some((out, destination.file.is_none()))
    }

    /// Whether pretty writes to stdout.
    pub fn pretty_on_stdout(&self) -> bool {
        self.outs
            .iter()
            .any(|(d, _)| d.format == Format::Pretty && d.file.is_none())
    }

    /// The files written to.
    pub fn files(&self) -> Vec<PathBuf> {
        self.outs
            .iter()
            .filter_map(|(d, _)| d.file.clone())
            .collect()
    }

    /// Write every destination from `results`; on GitHub Actions, the
    /// annotations and the step summary too.
    pub fn finish(self, results: Results<'_>) {
        for (destination, mut out) in self.outs {
            out.write_text(&render(destination.format, results));
        }
        super::github::publish(results);
    }
}

/// `results` in `format`. Pretty is the text at the end of the command
/// (what was not shown live).
pub fn render(format: Format, results: Results<'_>) -> String {
    match results {
        Results::Verify { suite, report } => super::verify::render(format, suite, report),
        Results::Cycle {
            suite,
            report,
            root,
        } => match format {
            Format::Pretty => super::cycle::summary(report),
            Format::Json => super::format::json(report),
            Format::Html => super::html::cycle(report, root),
            Format::Junit => super::junit::cycle(report),
            Format::CucumberJson => super::cucumber_json::verify(suite, &report.green_run),
        },
        Results::Rollout {
            suite,
            report,
            live,
        } => match format {
            Format::Pretty | Format::Json => super::rollout::end(format, report, live),
            _ => super::verify::render(format, suite, &report.features()),
        },
        Results::Converge { report, live } => super::converge::converge_end(format, report, live),
        Results::Plan { report } => super::converge::plan_end(format, report),
    }
}
