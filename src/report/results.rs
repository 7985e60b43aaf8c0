//! What a command ran, as its reporters take it.

use std::path::Path;

use super::cycle::CycleReport;
use super::rollout::RolloutReport;
use crate::engine::RunReport;
use crate::verify::{self, Suite};

/// What a command ran, to be reported.
#[derive(Clone, Copy)]
pub enum Results<'a> {
    /// `verify`.
    Verify {
        /// The features.
        suite: &'a Suite,
        /// What they found.
        report: &'a verify::Report,
    },
    /// `test`.
    Cycle {
        /// The features.
        suite: &'a Suite,
        /// The cycle.
        report: &'a CycleReport,
        /// The project's root (the HTML page names it).
        root: &'a Path,
    },
    /// `converge --verify` and rollouts.
    Rollout {
        /// The features.
        suite: &'a Suite,
        /// The rollout.
        report: &'a RolloutReport,
        /// Whether the hosts were shown live.
        live: bool,
    },
    /// `converge` without features.
    Converge {
        /// The converge.
        report: &'a RunReport,
        /// Whether the hosts were shown live.
        live: bool,
    },
    /// `plan`.
    Plan {
        /// The plan.
        report: &'a RunReport,
    },
}
