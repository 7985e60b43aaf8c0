//! `redgreen plan` and `redgreen converge`: plans shown and saved, removals
//! held back unless a saved plan or `--allow-removals` approves them, and
//! rollouts in batches gated by the features.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{Cli, Failure, RunArgs, interrupt_on_signals, load};
use crate::config::{Overrides, Project};
use crate::diagnostic::Diag;
use crate::engine::saved::SavedPlan;
use crate::engine::{self, Approval, Mode, Observer};
use crate::report::{self, Format};
use crate::verify::Suite;
use crate::workflow::rollout::{self, Rollout, Size};
use crate::workflow::targets;

/// `converge` flags.
#[derive(Debug, Args, Clone)]
pub struct ConvergeArgs {
    /// Which hosts.
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
    let mut diags = project.validate(&overrides);
    crate::cli::verify::check_features(&project, &mut diags);
    diags.into_result()?;
    let targets = targets::resolve(&project, &args.selection())?;
    let jobs = engine::jobs(&project, targets, &overrides)?;
    let options = options(&project, args, Mode::Plan, true, Approval::default());
    let pretty = args.format == Format::Pretty;
    let result = engine::run(&project, jobs, &options, observer(pretty, true)).await;
    let mut text = match args.format {
        Format::Pretty => report::recap(&result) + &report::removals_note(&result),
        Format::Json => report::json(&result) + "\n",
    };
    if let Some(path) = &args.out {
        let saved = SavedPlan::new(
            &result,
            &project.root,
            &options.revision,
            &args.vars.vars,
            &args.tags,
        );
        super::write_output(Some(path), &saved.to_json())?;
        if pretty {
            text.push_str(&format!(
                "\nSaved the plan to {0}; `redgreen converge --plan {0}` applies exactly this plan.\n",
                path.display()
            ));
        }
    }
    crate::output::print(&text);
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
    let mut diags = project.validate(&overrides);
    let rollout = rollout_of(args).unwrap_or_else(|diag| {
        diags.push(diag);
        None
    });
    // Everything is checked before the first connection, features too.
    let suite = Suite::load(&project, &[])
        .map_err(|found| diags.0.extend(found.0))
        .ok();
    diags.into_result()?;
    let targets = targets::resolve(&project, &run.selection())?;
    let jobs = engine::jobs(&project, targets, &overrides)?;
    let approval = match saved {
        Some(plan) => Approval::Saved(plan),
        None if args.allow_removals => Approval::Everything,
        None => Approval::NoRemovals,
    };
    let options = options(&project, &run, Mode::Converge, args.diff, approval);
    let live = run.format == Format::Pretty && run.out.is_none();
    let observer = observer(live, false);

    let (text, code) = match (rollout, suite) {
        (Some(rollout), Some(suite)) => {
            let features = rollout::Features {
                suite: &suite,
                options: verify_options(&project, &run, cli.verbose),
            };
            let result =
                rollout::run(&project, jobs, &options, observer, &rollout, &features).await;
            let text = match run.format {
                Format::Pretty => {
                    let mut text = String::new();
                    if !live {
                        for host in &result.converge.hosts {
                            text.push_str(&report::converge_text(host));
                        }
                        text.push_str(&report::rollout::features_text(&result.hosts));
                    }
                    text.push_str(&report::recap(&result.converge));
                    text.push_str(&report::rollout::summary(&result));
                    text
                }
                Format::Json => crate::secrets::to_json(&result) + "\n",
            };
            (text, result.exit_code())
        }
        _ => {
            let result = engine::run(&project, jobs, &options, observer).await;
            let text = match run.format {
                Format::Pretty => {
                    let mut text = String::new();
                    if !live {
                        for host in &result.hosts {
                            text.push_str(&report::converge_text(host));
                        }
                    }
                    text.push_str(&report::recap(&result));
                    text
                }
                Format::Json => report::json(&result) + "\n",
            };
            (text, result.exit_code())
        }
    };
    let text = crate::secrets::redact(&text).into_owned();
    super::write_output(run.out.as_deref(), &text)?;
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

/// `--canary`, `--batch`, `--max-fail` and `--verify` as a rollout, if any.
fn rollout_of(args: &ConvergeArgs) -> Result<Option<Rollout>, Diag> {
    let size = |flag: &str, text: &str| {
        Size::parse(text).map_err(|e| {
            Diag::plain(format!("{flag} {text}: {e}")).help(format!(
                "{flag} takes a number of hosts (2) or a percentage of all the hosts (25%)"
            ))
        })
    };
    let batch = args
        .batch
        .as_deref()
        .map(|b| size("--batch", b))
        .transpose()?;
    if let (Some(Size::Hosts(0) | Size::Percent(0)), Some(text)) = (batch, &args.batch) {
        return Err(
            Diag::plain(format!("--batch {text}: a batch needs at least one host"))
                .help("--batch 2 converges two hosts at a time; --batch 25% a quarter of them"),
        );
    }
    if args.canary == Some(0) {
        return Err(
            Diag::plain("--canary 0: the canary needs at least one host")
                .help("--canary 1 converges one host, and runs its features, before any other"),
        );
    }
    let max_fail = args
        .max_fail
        .as_deref()
        .map(|m| size("--max-fail", m))
        .transpose()?;
    if args.canary.is_none() && batch.is_none() {
        if let Some(text) = &args.max_fail {
            return Err(Diag::plain(format!(
                "--max-fail {text} bounds the failures of a rollout, but this converge is not one"
            ))
            .help("add --canary N or --batch SIZE to roll out in batches"));
        }
        return Ok(args.verify.then(Rollout::verify_only));
    }
    Ok(Some(Rollout {
        canary: args.canary.unwrap_or(0),
        batch,
        max_fail: max_fail.unwrap_or(Size::Hosts(0)),
        gated: true,
    }))
}

fn options(
    project: &Project,
    args: &RunArgs,
    mode: Mode,
    want_diff: bool,
    approval: Approval,
) -> engine::Options {
    engine::Options {
        mode,
        concurrency: project.inventory.defaults.concurrency(args.concurrency),
        want_diff,
        command_timeout: project.inventory.defaults.command_timeout(),
        tags: args.tags.clone(),
        interrupt: interrupt_on_signals(),
        revision: crate::ledger::Revision::of(&project.root),
        approval,
    }
}

fn verify_options(project: &Project, args: &RunArgs, verbose: u8) -> crate::verify::Options {
    crate::verify::Options {
        tags: None,
        concurrency: project.inventory.defaults.concurrency(args.concurrency),
        command_timeout: project.inventory.defaults.command_timeout(),
        verbose: verbose > 0,
        fail_fast: false,
        wait_within: true,
    }
}

fn observer(live: bool, plan: bool) -> Arc<dyn Observer> {
    if live {
        Arc::new(report::Pretty::new(plan))
    } else {
        Arc::new(engine::Quiet)
    }
}
