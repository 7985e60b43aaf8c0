//! Workflows: what a command does, from the loaded project to its results.
//! Each sequences the engine (plan and apply) and verify (features against
//! hosts), which never call each other:
//!
//! * [`targets`]: which hosts a command works on (names, groups, `--hosts`,
//!   test hosts, `ssh://` ad-hoc targets),
//! * [`cycle`]: the red-green cycle of `redgreen test`,
//! * [`watch`]: the inner loop of `redgreen watch`,
//! * [`rollout`]: converging in batches gated by the features, and
//!   `converge --verify`.

pub mod cycle;
pub mod rollout;
pub mod targets;
pub mod watch;

use crate::diagnostic::{Diag, Diags};

/// Why a command stopped before (or instead of) its work.
pub enum Failure {
    /// Bad input: exit 2, nothing was touched.
    BadInput(Diags),
    /// Anything else, with its exit code.
    Other(i32, String),
}

impl From<Diags> for Failure {
    fn from(diags: Diags) -> Self {
        Failure::BadInput(diags)
    }
}

impl From<Diag> for Failure {
    fn from(diag: Diag) -> Self {
        Failure::BadInput(diag.into())
    }
}
