//! `redgreen status`: per host, what was last converged there (commit, time,
//! result) and whether its features last passed, read from each host's
//! ledger in one round trip; per group, which commits are deployed, so that
//! hosts that drifted from the rest of their group stand out.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde::Serialize;

use std::path::PathBuf;

use clap::Args;

use super::{Cli, ConnectionKind, Failure};
use crate::config::Project;
use crate::engine::ledger::{self, Ledger, Revision};
use crate::exit;
use crate::transport::Script;
use crate::transport::Target;
use crate::workflow::targets::{self, Selection};

/// One host's line of the status.
#[derive(Debug, Clone, Serialize)]
struct HostStatus {
    host: String,
    groups: Vec<String>,
    /// The ledger, when the host has one.
    ledger: Option<Ledger>,
    /// Why the host could not be read.
    unreachable: Option<String>,
    /// Its commit differs from most of its group's.
    drifted: bool,
}

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
    /// Output format.
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
    let targets = targets::resolve(&project, &selection)?;
    let revision = Revision::of(&project.root);
    let concurrency = project.inventory.defaults.concurrency(args.concurrency);
    let mut hosts: Vec<HostStatus> = futures::stream::iter(targets)
        .map(read_ledger)
        .buffered(concurrency)
        .collect()
        .await;
    mark_drift(&mut hosts);

    let code = if hosts.iter().any(|h| h.unreachable.is_some()) {
        exit::UNREACHABLE
    } else {
        exit::OK
    };
    let text = match args.format {
        StatusFormat::Json => {
            let value = serde_json::json!({
                "repository": { "commit": revision.commit, "dirty": revision.dirty },
                "hosts": hosts,
            });
            crate::secrets::to_json(&value) + "\n"
        }
        StatusFormat::Pretty => pretty(&revision, &hosts),
    };
    super::write_output(args.out.as_deref(), &text)?;
    Ok(code)
}

async fn read_ledger(target: Target) -> HostStatus {
    let mut status = HostStatus {
        host: target.name.clone(),
        groups: target.groups.clone(),
        ledger: None,
        unreachable: None,
        drifted: false,
    };
    let script = format!("{}{}echo @end\n", crate::shell::PRELUDE, ledger::PROBE);
    match crate::transport::connect(&target).await {
        Ok(transport) => {
            match transport.run(&Script::root(script)).await {
                Ok(output) => {
                    status.ledger = ledger::read(&crate::shell::parse_lines(&output.stdout_text()));
                }
                Err(err) => status.unreachable = Some(err.to_string()),
            }
            transport.close().await;
        }
        Err(err) => status.unreachable = Some(err.to_string()),
    }
    status
}

/// Mark the hosts whose commit is not the one most hosts of a group share.
fn mark_drift(hosts: &mut [HostStatus]) {
    let fleet = group_commits(hosts);
    for host in hosts.iter_mut() {
        let Some(ledger) = &host.ledger else {
            continue;
        };
        let mine = ledger::short(ledger.commit.as_deref(), ledger.dirty);
        host.drifted = host.groups.iter().any(|group| {
            fleet
                .get(group)
                .and_then(|commits| commits.iter().max_by_key(|(_, hosts)| hosts.len()))
                .is_some_and(|(majority, _)| *majority != mine)
        });
    }
}

/// group → commit → hosts at that commit.
fn group_commits(hosts: &[HostStatus]) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut groups: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for host in hosts {
        let commit = match &host.ledger {
            Some(ledger) => ledger::short(ledger.commit.as_deref(), ledger.dirty),
            None if host.unreachable.is_some() => "unreachable".into(),
            None => "never converged".into(),
        };
        for group in &host.groups {
            groups
                .entry(group.clone())
                .or_default()
                .entry(commit.clone())
                .or_default()
                .push(host.host.clone());
        }
    }
    groups
}

fn pretty(revision: &Revision, hosts: &[HostStatus]) -> String {
    let mut out = match &revision.commit {
        Some(_) => format!("The repository is at {}.\n\n", revision.short()),
        None => "The project is not in a git repository with a commit: converges record no commit (`git init` and commit to see which commit each host runs).\n\n".to_string(),
    };
    let width = crate::report::host_width(hosts.iter().map(|h| h.host.as_str()));
    out.push_str(&format!(
        "  {:<width$}  {:<14}  {:<20}  {:<6}  FEATURES\n",
        "HOST", "COMMIT", "CONVERGED AT", "RESULT"
    ));
    for host in hosts {
        match (&host.ledger, &host.unreachable) {
            (_, Some(reason)) => out.push_str(&format!(
                "  {:<width$}  unreachable: {}\n",
                host.host,
                reason.lines().next().unwrap_or("")
            )),
            (None, None) => out.push_str(&format!("  {:<width$}  never converged\n", host.host)),
            (Some(ledger), None) => {
                let commit = ledger::short(ledger.commit.as_deref(), ledger.dirty);
                let features = match &ledger.features {
                    Some(f) => format!(
                        "{} ({}/{}) at {}",
                        f.result,
                        f.passed,
                        f.passed + f.failed,
                        ledger::short(f.commit.as_deref(), false)
                    ),
                    None => "-".into(),
                };
                out.push_str(&format!(
                    "  {:<width$}  {:<14}  {:<20}  {:<6}  {features}{}\n",
                    host.host,
                    commit,
                    ledger.converged_at,
                    ledger.result,
                    if host.drifted {
                        "   ← drifted from its group"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    let groups = group_commits(hosts);
    if !groups.is_empty() {
        out.push_str("\nGroups\n");
        for (group, commits) in groups {
            let total: usize = commits.values().map(Vec::len).sum();
            // The commit most hosts are at first: the others drifted from it.
            let mut commits: Vec<(&String, &Vec<String>)> = commits.iter().collect();
            commits
                .sort_by_key(|(commit, names)| (std::cmp::Reverse(names.len()), commit.as_str()));
            let parts: Vec<String> = commits
                .iter()
                .map(|(commit, names)| {
                    if commits.len() == 1 {
                        format!("all at {commit}")
                    } else {
                        format!("{} at {commit} ({})", names.len(), names.join(", "))
                    }
                })
                .collect();
            out.push_str(&format!(
                "  {group}: {total} host{}, {}\n",
                if total == 1 { "" } else { "s" },
                parts.join("; ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, commit: &str) -> HostStatus {
        HostStatus {
            host: name.into(),
            groups: vec!["web".into()],
            ledger: Some(Ledger {
                host: name.into(),
                commit: Some(commit.into()),
                dirty: false,
                recipes: vec![],
                converged_at: "2026-11-26T07:00:00Z".into(),
                result: "ok".into(),
                redgreen: "0.1.0".into(),
                features: None,
            }),
            unreachable: None,
            drifted: false,
        }
    }

    #[test]
    fn the_host_off_the_groups_commit_stands_out() {
        let mut hosts = vec![
            host("web1", "aaaaaaa1"),
            host("web2", "aaaaaaa1"),
            host("web3", "bbbbbbb2"),
        ];
        mark_drift(&mut hosts);
        assert_eq!(
            hosts.iter().map(|h| h.drifted).collect::<Vec<_>>(),
            [false, false, true]
        );
        let text = pretty(&Revision::default(), &hosts);
        assert!(
            text.contains("web: 3 hosts, 2 at aaaaaaa (web1, web2); 1 at bbbbbbb (web3)"),
            "{text}"
        );
        assert!(text.contains("← drifted from its group"), "{text}");
        assert!(
            text.starts_with("The project is not in a git repository with a commit"),
            "{text}"
        );
        let at = Revision {
            commit: Some("0123456789abcdef".into()),
            dirty: true,
        };
        assert!(pretty(&at, &hosts).starts_with("The repository is at 0123456+dirty.\n"));
    }
}
