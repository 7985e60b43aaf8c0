//! `redgreen watch`: keep test hosts up; on every saved recipe, template,
//! file or feature, converge and verify what the change affects again.

use clap::Args;

use super::{Cli, Failure, VarArgs, load};
use crate::config::Overrides;
use crate::workflow::watch;

/// `watch` flags.
#[derive(Debug, Args, Clone)]
pub struct WatchArgs {
    /// Test hosts to keep up (`HOST-PLATFORM`, or `HOST`); default: all.
    pub suites: Vec<String>,
    /// Test hosts worked on at once (default: `concurrency` in redgreen.yml, else 50).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
    /// `--no-install`.
    #[command(flatten)]
    pub install: super::InstallArgs,
}

pub(super) async fn run(cli: &Cli, args: &WatchArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    let overrides = Overrides::from_pairs(&args.vars.vars)?;
    project.validate(&overrides).into_result()?;
    let super::TestHostRun {
        driver,
        specs,
        settings,
    } = super::test_host_run(&project, &args.suites, args.concurrency, overrides)?;
    super::prepare(driver.as_ref(), &specs, args.install).await?;
    let reporter = crate::report::live::Watch::new();
    Ok(watch::run(&cli.dir, driver.as_ref(), &specs, &settings, &reporter).await?)
}
