//! Workflows: what a command does, from the loaded project to its results.
//! Each sequences the engine (plan and apply) and verify (features against
//! hosts), which never call each other:
//!
//! * [`targets`]: which hosts a command works on (names, groups, `--hosts`,
//!   test hosts, `ssh://` ad-hoc targets),
//! * [`cycle`]: the red-green cycle of `redgreen test`,
//! * [`watch`]: the inner loop of `redgreen watch`,
//! * [`rollout`]: converging in batches gated by the features, and
//!   `converge --verify`,
//! * [`status`]: each host's ledger, and the hosts that drifted,
//! * [`serve`]: verify, drift and ledgers on an interval, over HTTP.

pub mod cache;
pub mod contract;
pub mod cycle;
pub mod lsp;
pub mod rollout;
pub mod serve;
pub mod shard;
pub mod status;
pub mod targets;
pub mod test_hosts;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Overrides, Project};
use crate::diagnostic::{Diag, Diags};
use crate::engine::{self, Interrupt, ledger::Revision};
use crate::verify::{self, Suite};

/// What a command's workflow runs with, built once from redgreen.yml's
/// `defaults:` and the command's flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Hosts worked on at once.
    pub concurrency: usize,
    /// How long one script may take.
    pub command_timeout: Duration,
    /// How long an SSH connection may take.
    pub connect_timeout: Duration,
    /// `--var` values.
    pub overrides: Overrides,
    /// Set by Ctrl-C, SIGTERM or SIGHUP.
    pub interrupt: Arc<Interrupt>,
    /// `-v`: show the command behind a failed step.
    pub verbose: bool,
    /// `test`: converge test hosts from their deepest converge snapshot and
    /// save the layers worth saving (off with `test --no-cache`; see
    /// workflow::cache).
    pub snapshots: bool,
}

impl Settings {
    /// The settings of `project`, with `--concurrency` (when given),
    /// `--var` and the command's interrupt.
    pub fn new(
        project: &Project,
        concurrency: Option<usize>,
        overrides: Overrides,
        interrupt: Arc<Interrupt>,
        verbose: bool,
    ) -> Settings {
        let defaults = &project.inventory.defaults;
        Settings {
            concurrency: defaults.concurrency(concurrency),
            command_timeout: defaults.command_timeout(),
            connect_timeout: defaults.connect_timeout(),
            overrides,
            interrupt,
            verbose,
            snapshots: false,
        }
    }

    /// How the features run: every scenario, waiting out `within N
    /// seconds` when `wait_within`.
    pub fn features(&self, wait_within: bool) -> verify::VerifyOptions {
        verify::VerifyOptions {
            tags: None,
            concurrency: self.concurrency,
            command_timeout: self.command_timeout,
            verbose: self.verbose,
            fail_fast: false,
            wait_within,
        }
    }

    /// How a plan or converge of `project` goes: `mode`, with diffs when
    /// `want_diff`, only the resources with one of `tags` (all when empty),
    /// applying what `approval` allows.
    pub fn engine(
        &self,
        project: &Project,
        mode: engine::Mode,
        want_diff: bool,
        tags: &[String],
        approval: engine::Approval,
    ) -> engine::EngineOptions {
        engine::EngineOptions {
            mode,
            concurrency: self.concurrency,
            want_diff,
            command_timeout: self.command_timeout,
            tags: tags.to_vec(),
            interrupt: self.interrupt.clone(),
            revision: Revision::of(&project.root),
            approval,
            stage: engine::Stage::Whole,
        }
    }

    /// A converge of test hosts: they are thrown away, so removals need no
    /// approval there. `interrupt` is what stops it.
    pub fn test_host_converge(
        &self,
        project: &Project,
        want_diff: bool,
        interrupt: Arc<Interrupt>,
    ) -> engine::EngineOptions {
        engine::EngineOptions {
            interrupt,
            ..self.engine(
                project,
                engine::Mode::Converge,
                want_diff,
                &[],
                engine::Approval::Everything,
            )
        }
    }
}

/// Check `project` with `overrides` and load its features, every problem
/// at once: the project's, then `flags'` (what is wrong with the command's
/// flags), then the features'.
pub fn check(project: &Project, overrides: &Overrides, flags: Diags) -> Result<Suite, Diags> {
    let mut diags = project.validate(overrides);
    diags.0.extend(flags.0);
    let suite = Suite::load(project, &[])
        .map_err(|found| diags.0.extend(found.0))
        .ok();
    if let Some(suite) = &suite {
        diags.0.extend(contract::check_after(project, suite).0);
    }
    diags.into_result()?;
    Ok(suite.expect("problems were returned above"))
}

/// Load the project at `root`, check it and load its features.
pub fn load(root: &std::path::Path, overrides: &Overrides) -> Result<(Project, Suite), Diags> {
    let project = Project::load(root)?;
    let suite = check(&project, overrides, Diags::default())?;
    Ok((project, suite))
}

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
