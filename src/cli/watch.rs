//! `redgreen watch`: keep test hosts up; on every saved recipe, template,
//! file or feature, converge and verify what the change affects again.

use clap::Args;

use super::{Cli, Failure, VarArgs, hosts, load};
use crate::config::Overrides;
use crate::exit;

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
}

pub(super) async fn run(cli: &Cli, args: &WatchArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    let overrides = Overrides::from_pairs(&args.vars.vars)?;
    project.validate(&overrides).into_result()?;
    let driver = hosts::driver(&project)?;
    let specs = hosts::specs(&project, &args.suites)?;
    if specs.is_empty() {
        return Err(Failure::Other(
            exit::BAD_INPUT,
            "no test hosts: add test_hosts (platforms and hosts) to redgreen.yml".into(),
        ));
    }
    let defaults = &project.inventory.defaults;
    let options = crate::workflow::watch::Options {
        concurrency: defaults.concurrency(args.concurrency),
        command_timeout: defaults.command_timeout(),
        connect_timeout: defaults.connect_timeout(),
        overrides,
        interrupt: super::interrupt_on_signals(),
    };
    Ok(crate::workflow::watch::run(&cli.dir, driver.as_ref(), &specs, &options).await?)
}
