//! `redgreen test [SUITE…]`: the red-green cycle on fresh test hosts.

use std::path::PathBuf;

use clap::Args;

use super::{Cli, Failure, ReportArgs, VarArgs, load};
use crate::config::Overrides;
use crate::diagnostic::{Diag, Diags};
use crate::report::reporters::{Kind, Reporters, Results};
use crate::report::{self, cycle::summary};
use crate::workflow;
use crate::workflow::cycle::{self, Keep};

/// `test` flags.
#[derive(Debug, Args, Clone)]
pub struct TestArgs {
    /// Test hosts to run on (`HOST-PLATFORM`, or `HOST` for all its
    /// platforms); default: every test host of `test_hosts:`.
    pub suites: Vec<String>,
    /// Keep the test hosts afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Keep the test hosts that failed.
    #[arg(long)]
    pub keep_failed: bool,
    /// Test hosts worked on at once (default: `concurrency` in redgreen.yml, else 50).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// The reporters: JUnit has a testsuite per phase (red, converge,
    /// green, idempotence); Cucumber JSON holds the green phase; html is a
    /// self-contained page with a host × scenario grid.
    #[command(flatten)]
    pub report: ReportArgs,
    /// Write the one format without a file (default: pretty) to this file
    /// (the terminal still shows progress and the summary).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
}

pub(super) async fn run(cli: &Cli, args: &TestArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    let overrides = Overrides::from_pairs(&args.vars.vars)?;
    let mut flags = Diags::default();
    let destinations = Kind::Cycle
        .check(&args.report.formats, args.out.as_ref())
        .map_err(|diag| flags.push(diag))
        .ok();
    let suite = workflow::check(&project, &overrides, flags)?;
    let destinations = destinations.expect("problems were reported above");
    if suite.features.is_empty() {
        return Err(Diag::plain("no features to test: there is no .feature file under features/")
            .help("the red-green cycle needs features that say how the hosts must look (see docs/features.md)")
            .into());
    }
    // The summary shows no command behind a failed step; -v shows how the
    // test hosts are made and each converge's resources.
    let super::TestHostRun {
        driver,
        specs,
        settings,
    } = super::test_host_run(&project, &args.suites, args.concurrency, overrides)?;
    let keep = Keep {
        all: args.keep,
        failed: args.keep_failed,
    };
    let reporters = Reporters::open(&destinations)?;
    let reporter = report::live::Cycle::new(cli.verbose > 0);
    let report = cycle::run(
        &project,
        driver.as_ref(),
        &specs,
        &suite,
        &settings,
        keep,
        &reporter,
    )
    .await?;
    // The summary is always shown: on stdout with pretty, else on stderr.
    if !reporters.pretty_on_stdout() {
        crate::output::eprint(&summary(&report));
    }
    let files = reporters.files();
    reporters.finish(Results::Cycle {
        suite: &suite,
        report: &report,
        root: &project.root,
    });
    for file in files {
        crate::errln!("wrote {}", file.display());
    }
    if report.interrupted {
        return Ok(settings.interrupt.exit_code());
    }
    Ok(report.exit_code())
}
