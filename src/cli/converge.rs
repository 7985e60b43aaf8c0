//! `redgreen plan` and `redgreen converge`: plans shown and saved, removals
//! held back unless a saved plan or `--allow-removals` approves them, and
//! rollouts in batches gated by the features.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{Cli, Failure, RunArgs, interrupt_on_signals, load};
use crate::config::{Overrides, Project};
use crate::diagnostic::{Diag, Diags};
use crate::engine::saved::SavedPlan;
use crate::engine::{self, Approval, Mode};
use crate::report::reporters::{Kind, Reporters, Results};
use crate::report::{self, Reporter};
use crate::workflow::rollout::{self, Rollout};
use crate::workflow::{self, Settings, shard, targets};

/// `converge` flags.
#[derive(Debug, Args, Clone)]
pub struct ConvergeArgs {
    /// Which hosts, and how.
    #[command(flatten)]
    pub run: RunArgs,
    /// Show the diff of every changed file.
    #[arg(long)]
    pub diff: bool,
    /// Apply exactly this saved plan (from `redgreen plan --out FILE`): its
    /// hosts, vars and tags. A host that changed since is refused.
    #[arg(long, value_name = "FILE", conflicts_with = "allow_removals")]
    pub plan: Option<PathBuf>,
    /// Apply removals (anything with state: absent, a directory removed
    /// recursively) without a saved plan.
    #[arg(long)]
    pub allow_removals: bool,
    /// Run the features on the hosts once they converged (smoke tests) and
    /// record how they ended in each host's ledger.
    #[arg(long)]
    pub verify: bool,
    /// Roll out: converge the first N hosts and run their features before
    /// any other host is touched.
    #[arg(long, value_name = "N")]
    pub canary: Option<usize>,
    /// Roll out in batches of SIZE hosts, or PCT% of all the hosts (rounded
    /// up), each gated by the features.
    #[arg(long, value_name = "SIZE|PCT")]
    pub batch: Option<String>,
    /// Stop the rollout once more than N hosts, or PCT% of all the hosts
    /// (rounded down), failed (default: 0).
    #[arg(long, value_name = "N|PCT")]
    pub max_fail: Option<String>,
}

/// `redgreen plan`: what converge would change; with `--out FILE`, saved.
pub(super) async fn plan(cli: &Cli, args: &RunArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    let overrides = Overrides::from_pairs(&args.vars.vars)?;
    // Everything is checked before the first connection, features too.
    workflow::check(&project, &overrides, Diags::default())?;
    let targets = targets::resolve(&project, &args.selection())?;
    let targets = shard::partition(targets, args.partition, |t| &t.name);
    let jobs = engine::jobs(&project, targets, &overrides)?;
    let settings = settings(&project, args, overrides, cli.verbose);
    let options = settings.engine(&project, Mode::Plan, true, &args.tags, Approval::default());
    // `--out` saves the plan: the reports go where `--format` says.
    let destinations = Kind::Run.check(&args.report.formats, None)?;
    let reporters = Reporters::open(&destinations)?;
    let live = reporters.pretty_on_stdout();
    let reporter = reporter(live, true);
    let result = engine::run(&project, jobs, &options, &|e| reporter.engine(e)).await;
    reporters.finish(Results::Plan { report: &result });
    if let Some(path) = &args.out {
        let saved = SavedPlan::new(
            &result,
            &project.root,
            &options.revision,
            &args.vars.vars,
            &args.tags,
        );
        super::write_output(Some(path), report::Format::Json, &saved.to_json(), false)?;
        if live {
            crate::output::print(&format!(
                "\nSaved the plan to {0}; `redgreen converge --plan {0}` applies exactly this plan.\n",
                path.display()
            ));
        }
    }
    if options.interrupt.is_set() {
        return Ok(options.interrupt.exit_code());
    }
    Ok(result.exit_code())
}

/// `redgreen converge`: apply, perhaps a saved plan, perhaps as a rollout.
pub(super) async fn converge(cli: &Cli, args: &ConvergeArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    let mut run = args.run.clone();
    let saved = match &args.plan {
        None => None,
        Some(path) => {
            let plan = saved_plan(&project, path, &run)?;
            run.hosts = plan.hosts.iter().map(|h| h.host.clone()).collect();
            run.vars.vars = plan.vars.clone();
            run.tags = plan.tags.clone();
            Some(Arc::new(plan))
        }
    };
    let overrides = Overrides::from_pairs(&run.vars.vars)?;
    let mut flags = Diags::default();
    let rollout = Rollout::of_flags(&rollout::Flags {
        canary: args.canary,
        batch: args.batch.clone(),
        max_fail: args.max_fail.clone(),
        verify: args.verify,
    })
    .unwrap_or_else(|diag| {
        flags.push(diag);
        None
    });
    let kind = if rollout.is_some() {
        Kind::Rollout
    } else {
        Kind::Run
    };
    let destinations = kind
        .check(&run.report.formats, run.out.as_ref())
        .map_err(|diag| flags.push(diag))
        .ok();
    // Everything is checked before the first connection, features too.
    let suite = workflow::check(&project, &overrides, flags)?;
    let targets = targets::resolve(&project, &run.selection())?;
    let targets = shard::partition(targets, run.partition, |t| &t.name);
    let jobs = engine::jobs(&project, targets, &overrides)?;
    let approval = match saved {
        Some(plan) => Approval::Saved(plan),
        None if args.allow_removals => Approval::Everything,
        None => Approval::NoRemovals,
    };
    let settings = settings(&project, &run, overrides, cli.verbose);
    let options = settings.engine(&project, Mode::Converge, args.diff, &run.tags, approval);
    let destinations = destinations.expect("problems were reported above");
    let reporters = Reporters::open(&destinations)?;
    let live = reporters.pretty_on_stdout();
    let reporter = reporter(live, false);

    let code = match rollout {
        Some(rollout) => {
            let features = rollout::Features {
                suite: &suite,
                options: settings.features(true),
            };
            let result = rollout::run(
                &project,
                jobs,
                &options,
                reporter.as_ref(),
                &rollout,
                &features,
            )
            .await;
            reporters.finish(Results::Rollout {
                suite: &suite,
                report: &result,
                live,
            });
            result.exit_code()
        }
        None => {
            let result = workflow::contract::converge(
                &project,
                &suite,
                jobs,
                &options,
                &settings.features(true),
                &|e| reporter.engine(e),
            )
            .await;
            reporters.finish(Results::Converge {
                report: &result,
                live,
            });
            result.exit_code()
        }
    };
    if options.interrupt.is_set() {
        return Ok(options.interrupt.exit_code());
    }
    Ok(code)
}

/// Read a saved plan and check it is for this project as it is now, and that
/// nothing else selects hosts, vars or tags.
fn saved_plan(project: &Project, path: &Path, run: &RunArgs) -> Result<SavedPlan, Failure> {
    let shown = path.display().to_string();
    let plan = SavedPlan::read(path, &shown)?;
    let mut given = Vec::new();
    if run.target.is_some() {
        given.push("TARGET");
    }
    if !run.hosts.is_empty() {
        given.push("--hosts");
    }
    if run.group.is_some() {
        given.push("--group");
    }
    if !run.vars.vars.is_empty() {
        given.push("--var");
    }
    if !run.tags.is_empty() {
        given.push("--tags");
    }
    if !given.is_empty() {
        return Err(Diag::plain(format!(
            "--plan applies the hosts, vars and tags of the saved plan; {} cannot change them",
            given.join(", ")
        ))
        .help(format!(
            "drop {}, or make the plan again with them: `redgreen plan ... --out {shown}`",
            given.join(", ")
        ))
        .into());
    }
    if plan.hosts.is_empty() {
        return Err(
            Diag::plain(format!("{shown} plans no host: there is nothing to apply")).into(),
        );
    }
    plan.check_project(&project.root, &shown)?;
    Ok(plan)
}

/// The settings of a plan or converge.
fn settings(project: &Project, args: &RunArgs, overrides: Overrides, verbose: u8) -> Settings {
    Settings::new(
        project,
        args.concurrency,
        overrides,
        interrupt_on_signals(),
        verbose > 0,
    )
}

/// Live progress on the terminal, or nothing (JSON, or `--out`).
fn reporter(live: bool, plan: bool) -> Box<dyn Reporter> {
    if live {
        Box::new(report::live::Converge::new(plan))
    } else {
        Box::new(report::Quiet)
    }
}
