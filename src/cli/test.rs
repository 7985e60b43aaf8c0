//! `redgreen test [SUITE…]`: the red-green cycle on fresh test hosts.

use std::path::PathBuf;

use clap::Args;

use super::{Cli, Failure, ReportArgs, VarArgs, load};
use crate::config::{Overrides, Project};
use crate::diagnostic::{Diag, Diags};
use crate::report::reporters::{Kind, Reporters, Results};
use crate::report::{self, cycle::summary};
use crate::workflow::cycle::{self, Keep};
use crate::workflow::{self, shard};

/// `test` flags.
#[derive(Debug, Args, Clone)]
pub struct TestArgs {
    /// Suites to run: a suite is an entry under `test_hosts.hosts` (HOST,
    /// on every platform), or one test host (`HOST-PLATFORM`); default: every
    /// test host of `test_hosts:`.
    pub suites: Vec<String>,
    /// Print the CI matrix (suites × platforms, one test host each) and
    /// run nothing; with --format json, as `{"include": [{"suite",
    /// "platform", "test_host"}, …]}` for a CI matrix.
    #[arg(long)]
    pub list: bool,
    /// Only the test hosts of this platform (a name under
    /// `test_hosts.platforms`); repeatable.
    #[arg(long, value_name = "NAME")]
    pub platform: Vec<String>,
    /// Only the K-th of N shards of the selected test hosts, for N CI jobs:
    /// the test host names sorted, then dealt round-robin (1 ≤ K ≤ N).
    #[arg(long, value_name = "K/N")]
    pub partition: Option<workflow::shard::Partition>,
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
    /// Converge each test host from its deepest matching converge snapshot,
    /// made while the red phase runs on the fresh host, and save the layers
    /// that took 2 s or more (docs/cache.md). The default.
    #[arg(long, conflicts_with = "no_cache")]
    pub cache: bool,
    /// Converge every recipe on every test host from the fresh image: no
    /// converge snapshot is used or saved (a CI machine that keeps no
    /// images between jobs, or a run that must prove the recipes from
    /// nothing).
    #[arg(long)]
    pub no_cache: bool,
    /// `--no-install`.
    #[command(flatten)]
    pub install: super::InstallArgs,
}

/// The matrix cells the suites, platforms and partition select (at least
/// one suite or platform named must exist).
fn cells(project: &Project, args: &TestArgs) -> Result<Vec<shard::Cell>, Failure> {
    let known = shard::platforms(project);
    for name in &args.platform {
        if !known.contains(name) {
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(Diag::unknown_plain("platform", name, &known)
                .help(format!(
                    "--platform takes a name under test_hosts.platforms in redgreen.yml: {}",
                    known.join(", ")
                ))
                .into());
        }
    }
    // Unknown suites are refused here, with the closest name.
    workflow::test_hosts::specs(project, &args.suites)?;
    let cells: Vec<shard::Cell> = shard::matrix(project)
        .into_iter()
        .filter(|c| {
            args.suites.is_empty()
                || args
                    .suites
                    .iter()
                    .any(|s| *s == c.suite || *s == c.test_host)
        })
        .filter(|c| args.platform.is_empty() || args.platform.contains(&c.platform))
        .collect();
    Ok(shard::partition(cells, args.partition, |c| &c.test_host))
}

/// `test --list`: the matrix, for people or as JSON for a CI matrix.
fn list(project: &Project, args: &TestArgs) -> Result<i32, Failure> {
    let cells = cells(project, args)?;
    let json = args.report.formats.iter().any(|f| f == "json");
    if args
        .report
        .formats
        .iter()
        .any(|f| f != "json" && f != "pretty")
    {
        return Err(Diag::plain("test --list prints pretty or json to stdout")
            .help("use --list --format json for a CI matrix")
            .into());
    }
    match json {
        true => crate::output::data(&report::format::json(
            &serde_json::json!({ "include": cells }),
        )),
        false => {
            let width = report::host_width(cells.iter().map(|c| c.test_host.as_str()));
            let suite = cells
                .iter()
                .map(|c| c.suite.len())
                .max()
                .unwrap_or(0)
                .max(5);
            let mut text = format!("{:<suite$}  {:<width$}  PLATFORM\n", "SUITE", "HOST");
            for cell in &cells {
                text.push_str(&format!(
                    "{:<suite$}  {:<width$}  {}\n",
                    cell.suite, cell.test_host, cell.platform
                ));
            }
            crate::output::print(&text);
        }
    }
    Ok(crate::exit::OK)
}

pub(super) async fn run(cli: &Cli, args: &TestArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    if args.list {
        return list(&project, args);
    }
    let cells = cells(&project, args)?;
    if cells.is_empty() {
        let what = match args.partition {
            Some(partition) => format!("partition {partition} holds none of them"),
            None => "none matches".to_string(),
        };
        crate::noteln!("no test host to run: {what}");
        return Ok(crate::exit::OK);
    }
    let names: Vec<String> = cells.into_iter().map(|c| c.test_host).collect();
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
        mut settings,
    } = super::test_host_run(&project, &names, args.concurrency, overrides)?;
    super::prepare(driver.as_ref(), &specs, args.install).await?;
    settings.snapshots = !args.no_cache;
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
    // Under --quiet, only when the cycle failed.
    if !reporters.pretty_on_stdout() && (!crate::output::quiet() || report.exit_code() != 0) {
        crate::output::eprint(&summary(&report));
    }
    let files = reporters.files();
    reporters.finish(Results::Cycle {
        suite: &suite,
        report: &report,
        root: &project.root,
    });
    for file in files {
        crate::noteln!("wrote {}", file.display());
    }
    if report.interrupted {
        return Ok(settings.interrupt.exit_code());
    }
    Ok(report.exit_code())
}
