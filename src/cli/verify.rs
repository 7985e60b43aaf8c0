//! `redgreen verify` and `redgreen steps`.

use std::path::PathBuf;

use clap::Args;

use super::{Cli, ConnectionKind, Failure, ReportArgs, load, print_diags};
use crate::config::Overrides;
use crate::diagnostic::Diag;
use crate::exit;
use crate::report;
use crate::report::reporters::{Kind, Reporters, Results};
use crate::verify::{self, Suite};
use crate::workflow::Settings;
use crate::workflow::targets::{self, Selection};

/// `verify` flags.
#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    /// A host, test host or group name (default: every host), or a server
    /// that is not in redgreen.yml: ssh://[USER@]HOST[:PORT] with --group; a
    /// path to a .feature file or directory here is taken as the first of
    /// FEATURES.
    pub target: Option<String>,
    /// Feature files or directories, relative to the project (default: features/).
    pub features: Vec<PathBuf>,
    /// These hosts, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// The hosts of this group (for an ssh:// target: the group whose
    /// recipes and features it takes).
    #[arg(long)]
    pub group: Option<String>,
    /// The created test hosts instead of the hosts under `hosts:`.
    #[arg(long)]
    pub test_hosts: bool,
    /// Hosts connected at once (default: `concurrency` in redgreen.yml, else 50).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Only scenarios whose tags match this expression: "@smoke and not @slow".
    #[arg(long, value_name = "EXPRESSION")]
    pub tags: Option<String>,
    /// The reporters.
    #[command(flatten)]
    pub report: ReportArgs,
    /// Write the one format without a file (default: pretty) to this file
    /// instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Stop starting scenarios after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// ssh (default) or local: run on this machine instead.
    #[arg(long, value_enum, default_value = "ssh")]
    pub connection: ConnectionKind,
    /// Accept and record the key of a host seen for the first time.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Only the K-th of N shards of the selected hosts, for N CI jobs: the
    /// host names sorted, then dealt round-robin (1 ≤ K ≤ N).
    #[arg(long, value_name = "K/N")]
    pub partition: Option<crate::workflow::shard::Partition>,
}

/// `redgreen verify`.
pub(super) async fn verify(cli: &Cli, args: &VerifyArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    // Features need no secrets: check the rest without them.
    let mut diags = project.validate(&Overrides {
        secrets_optional: true,
        ..Overrides::default()
    });
    let destinations = Kind::Verify.check(&args.report.formats, args.out.as_ref());
    let tags = args.tags.as_deref().map(verify::parse_tags).transpose();
    let (target, features) = targets::split_target(&project, args.target.as_ref(), &args.features);
    let suite = Suite::load(&project, &features);
    let mut take = |diag: Diag| diags.push(diag);
    let destinations = destinations.map_err(&mut take).ok();
    let tags = tags.map_err(&mut take).ok().flatten();
    let suite = match suite {
        Ok(suite) => Some(suite),
        Err(found) => {
            diags.0.extend(found.0);
            None
        }
    };
    diags.into_result()?;
    let (Some(destinations), Some(suite)) = (destinations, suite) else {
        unreachable!("problems were reported above");
    };
    if suite.features.is_empty() {
        return Err(
            Diag::plain("no features to run: there is no .feature file under features/")
                .help("write one (see docs/features.md), or name feature files after the target")
                .into(),
        );
    }
    let selection = Selection {
        target,
        hosts: args.hosts.clone(),
        group: args.group.clone(),
        test_hosts: args.test_hosts,
        local: args.connection == ConnectionKind::Local,
        accept_new_host_keys: args.accept_new_host_keys,
    };
    let targets = targets::resolve(&project, &selection)?;
    let targets = crate::workflow::shard::partition(targets, args.partition, |t| &t.name);
    let settings = Settings::new(
        &project,
        args.concurrency,
        Overrides::default(),
        // A signal ends verify at once (see `signals`).
        Default::default(),
        cli.verbose > 0,
    );
    let options = verify::VerifyOptions {
        tags,
        fail_fast: args.fail_fast,
        ..settings.features(true)
    };
    // Every destination is opened before the run, so that a bad path stops
    // it before any host is touched; pretty's writes live.
    let mut reporters = Reporters::open(&destinations)?;
    let pretty = reporters.take_pretty();
    let recap = pretty.as_ref().is_some_and(|(_, stdout)| *stdout);
    let live = pretty.map(|(out, stdout)| {
        // Colour only on stdout, and there only where it supports it.
        report::verify::Pretty::new(out, stdout, settings.verbose)
    });
    let listener = live
        .as_ref()
        .map(|live| move |e: verify::Event<'_>| live.verify(e));
    let report = verify::run_features(
        &suite,
        &targets,
        &options,
        listener.as_ref().map(|l| l as verify::Listener<'_>),
    )
    .await;
    if recap {
        crate::output::report(&report::verify::recap(&report), report.exit_code() != 0);
    }
    reporters.finish(Results::Verify {
        suite: &suite,
        report: &report,
    });
    if report.scenarios.is_empty() {
        crate::errln!(
            "no scenario to run: none selects these hosts{}",
            if args.tags.is_some() {
                " and matches --tags"
            } else {
                ""
            }
        );
    }
    Ok(report.exit_code())
}

/// `redgreen steps`: every phrase, built-in and from features/steps.yml.
pub(super) fn steps(cli: &Cli) -> i32 {
    let (library, diags) = verify::project_library(&cli.dir);
    if !diags.is_empty() {
        print_diags(&diags);
        return exit::BAD_INPUT;
    }
    crate::output::print(&report::steps::steps_text(&library));
    exit::OK
}
