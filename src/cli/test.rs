//! `redgreen test [SUITE…]`: the red-green cycle on fresh test hosts.

use std::path::PathBuf;

use clap::Args;

use super::{Cli, Failure, VarArgs, load};
use crate::config::Overrides;
use crate::diagnostic::{Diag, Diags};
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
    /// Output format of the result: pretty (default), json, or html (a
    /// self-contained page with a host × scenario grid).
    #[arg(long, value_enum, default_value = "pretty")]
    pub format: TestFormat,
    /// Write the result to this file (the terminal still shows progress).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
    /// Converge every recipe on every test host: no converge snapshot is
    /// used or saved.
    #[arg(long)]
    pub no_cache: bool,
    /// `--no-install`.
    #[command(flatten)]
    pub install: super::InstallArgs,
}

/// Formats of a test result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    /// A summary for people.
    Pretty,
    /// One JSON document.
    Json,
    /// A self-contained HTML page.
    Html,
}

impl From<TestFormat> for crate::report::Format {
    fn from(format: TestFormat) -> Self {
        match format {
            TestFormat::Pretty => crate::report::Format::Pretty,
            TestFormat::Json => crate::report::Format::Json,
            TestFormat::Html => crate::report::Format::Html,
        }
    }
}

pub(super) async fn run(cli: &Cli, args: &TestArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    let overrides = Overrides::from_pairs(&args.vars.vars)?;
    let suite = workflow::check(&project, &overrides, Diags::default())?;
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
        mut settings,
    } = super::test_host_run(&project, &args.suites, args.concurrency, overrides)?;
    super::prepare(driver.as_ref(), &specs, args.install).await?;
    settings.snapshots = !args.no_cache;
    let keep = Keep {
        all: args.keep,
        failed: args.keep_failed,
    };
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
    let format = report::Format::from(args.format);
    let text = match format {
        report::Format::Html => report::html::cycle(&report, &project.root),
        report::Format::Json => report::format::json(&report),
        _ => summary(&report),
    };
    match &args.out {
        Some(path) => {
            super::write_output(Some(path), &text)?;
            if format != report::Format::Pretty {
                crate::output::eprint(&summary(&report));
            }
            crate::errln!("wrote {}", path.display());
        }
        None => crate::output::print(&text),
    }
    if report.interrupted {
        return Ok(settings.interrupt.exit_code());
    }
    Ok(report.exit_code())
}
