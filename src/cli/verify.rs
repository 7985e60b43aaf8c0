//! `redgreen verify` and `redgreen steps`.

use std::path::PathBuf;

use clap::Args;

use super::{Cli, ConnectionKind, Failure, load, print_diags};
use crate::config::{Overrides, Project};
use crate::diagnostic::{Diag, Diags};
use crate::exit;
use crate::verify::{self, Library, Suite};
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
    /// A reporter, repeatable: pretty, json, junit, cucumber-json, html;
    /// NAME:FILE writes to FILE. When none writes to stdout, pretty does.
    #[arg(long = "format", value_name = "NAME[:FILE]")]
    pub formats: Vec<String>,
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
}

/// True when `name` names a host, test host or group of the project.
fn is_host_or_group(project: &Project, name: &str) -> bool {
    let inventory = &project.inventory;
    inventory.hosts.iter().any(|(n, _)| n.value == name)
        || inventory.groups.get(name).is_some()
        || project.test_host_names().iter().any(|n| n == name)
        || inventory
            .test_hosts
            .as_ref()
            .is_some_and(|t| t.hosts.iter().any(|(n, _)| n.value == name))
}

/// TARGET and FEATURES…: a first word that is no host or group but looks
/// like a path is a feature.
fn split_target(project: &Project, args: &VerifyArgs) -> (Option<String>, Vec<PathBuf>) {
    let mut features = args.features.clone();
    match &args.target {
        Some(target)
            if !is_host_or_group(project, target)
                && !targets::is_ad_hoc(target)
                && (target.ends_with(".feature")
                    || target.contains('/')
                    || project.root.join(target).exists()) =>
        {
            features.insert(0, PathBuf::from(target));
            (None, features)
        }
        other => (other.clone(), features),
    }
}

/// `redgreen verify`.
pub(super) async fn verify(cli: &Cli, args: &VerifyArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    // Features need no secrets: check the rest without them.
    let mut diags = project.validate(&Overrides {
        secrets_optional: true,
        ..Overrides::default()
    });
    let outputs = verify::report::outputs(&args.formats, args.out.as_ref());
    let tags = args.tags.as_deref().map(verify::parse_tags).transpose();
    let (target, features) = split_target(&project, args);
    let suite = Suite::load(&project, &features);
    let mut take = |diag: Diag| diags.push(diag);
    let outputs = outputs.map_err(&mut take).ok();
    let tags = tags.map_err(&mut take).ok().flatten();
    let suite = match suite {
        Ok(suite) => Some(suite),
        Err(found) => {
            diags.0.extend(found.0);
            None
        }
    };
    diags.into_result()?;
    let (Some(outputs), Some(suite)) = (outputs, suite) else {
        unreachable!("problems were reported above");
    };
    if suite.features.is_empty() {
        return Err(
            Diag::plain("no features to run: there is no .feature file under features/")
                .help("write one (see docs/features.md), or name feature files after the target")
                .into(),
        );
    }
    let run_args = Selection {
        target,
        hosts: args.hosts.clone(),
        group: args.group.clone(),
        test_hosts: args.test_hosts,
        local: args.connection == ConnectionKind::Local,
        accept_new_host_keys: args.accept_new_host_keys,
    };
    let targets = targets::resolve(&project, &run_args)?;
    let defaults = &project.inventory.defaults;
    let options = verify::Options {
        tags,
        concurrency: defaults.concurrency(args.concurrency),
        command_timeout: defaults.command_timeout(),
        verbose: cli.verbose > 0,
        fail_fast: args.fail_fast,
        wait_within: true,
    };
    let report = verify::run(&suite, &targets, &options, &outputs).await?;
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

/// The features of a project for `validate`: their problems join `diags`;
/// returns how many feature files and scenarios there are.
pub(super) fn check_features(project: &Project, diags: &mut Diags) -> (usize, usize) {
    match Suite::load(project, &[]) {
        Ok(suite) => (suite.features.len(), suite.scenario_count()),
        Err(found) => {
            diags.0.extend(found.0);
            (0, 0)
        }
    }
}

/// `redgreen steps`: every phrase, built-in and from features/steps.yml.
pub(super) fn steps(cli: &Cli) -> i32 {
    let mut library = Library::builtin();
    let diags = verify::user_steps::load(&cli.dir, &mut library);
    if !diags.is_empty() {
        print_diags(&diags);
        return exit::BAD_INPUT;
    }
    crate::output::print(&verify::steps_text(&library));
    exit::OK
}
