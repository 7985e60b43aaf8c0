//! `redgreen status`: per host, what was last converged there (commit, time,
//! result) and whether its features last passed, read from each host's
//! ledger in one round trip; per group, which commits are deployed, so that
//! hosts that drifted from the rest of their group stand out.

use std::path::PathBuf;

use clap::Args;

use super::{Cli, ConnectionKind, Failure};
use crate::config::Project;
use crate::engine::ledger::Revision;
use crate::exit;
use crate::report;
use crate::workflow::status;
use crate::workflow::targets::{self, Selection};

/// `status` flags: which hosts, and the output.
#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    /// A host, test host or group name (default: every host), or a server
    /// that is not in redgreen.yml: ssh://[USER@]HOST[:PORT] with --group.
    pub target: Option<String>,
    /// These hosts, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// The hosts of this group.
    #[arg(long)]
    pub group: Option<String>,
    /// The created test hosts instead of the hosts under `hosts:`.
    #[arg(long)]
    pub test_hosts: bool,
    /// Hosts read at once (default: `concurrency` in redgreen.yml, else 50).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// pretty (a table), json (one document with every host's ledger) or
    /// html (the dashboard of `redgreen serve`, once: features, drift and
    /// deployed commits; runs the features and a plan).
    #[arg(long, value_enum, default_value = "pretty")]
    pub format: StatusFormat,
    /// Write the status to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// ssh (default) or local: read this machine's ledger instead.
    #[arg(long, value_enum, default_value = "ssh")]
    pub connection: ConnectionKind,
    /// Accept and record the key of a host seen for the first time.
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

/// Formats of the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    /// A table per host, then per group, for people.
    Pretty,
    /// One JSON document: the repository's commit and every host's ledger.
    Json,
    /// The dashboard of `redgreen serve`, written once.
    Html,
}

impl From<StatusFormat> for crate::report::Format {
    fn from(format: StatusFormat) -> Self {
        match format {
            StatusFormat::Pretty => crate::report::Format::Pretty,
            StatusFormat::Json => crate::report::Format::Json,
            StatusFormat::Html => crate::report::Format::Html,
        }
    }
}

pub(super) async fn run(cli: &Cli, args: &StatusArgs) -> Result<i32, Failure> {
    let project = Project::load(&cli.dir)?;
    let selection = Selection {
        target: args.target.clone(),
        hosts: args.hosts.clone(),
        group: args.group.clone(),
        test_hosts: args.test_hosts,
        local: args.connection == ConnectionKind::Local,
        accept_new_host_keys: args.accept_new_host_keys,
    };
    if args.format == StatusFormat::Html {
        return super::serve::status_html(cli, &selection, args.concurrency, args.out.as_deref())
            .await;
    }
    let targets = targets::resolve(&project, &selection)?;
    let revision = Revision::of(&project.root);
    let concurrency = project.inventory.defaults.concurrency(args.concurrency);
    let hosts = status::read(targets, concurrency).await;

    let code = if hosts.iter().any(|h| h.unreachable.is_some()) {
        exit::UNREACHABLE
    } else {
        exit::OK
    };
    let text = report::status::text(args.format.into(), &revision, &hosts);
    super::write_output(args.out.as_deref(), args.format.into(), &text, false)?;
    Ok(code)
}
