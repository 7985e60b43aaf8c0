//! `redgreen status` for people and machines: per host, what was last
//! converged there and whether its features last passed; per group, which
//! commits are deployed, so that hosts that drifted stand out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::host_width;
use crate::engine::ledger::{self, Ledger, Revision};

/// One host's line of the status.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    /// The host.
    pub host: String,
    /// Its groups.
    pub groups: Vec<String>,
    /// The ledger, when the host has one.
    pub ledger: Option<Ledger>,
    /// Why the host could not be read.
    pub unreachable: Option<String>,
    /// Its commit differs from most of its group's.
    pub drifted: bool,
}

/// The commit a host runs, as `status` and the dashboard show it.
pub fn commit_shown(ledger: Option<&Ledger>, unreachable: bool) -> String {
    match ledger {
        Some(ledger) => ledger::short(ledger.commit.as_deref(), ledger.dirty),
        None if unreachable => "unreachable".into(),
        None => "never converged".into(),
    }
}

/// group → commit → hosts at that commit, from each host's name, groups and
/// commit.
pub fn by_group_and_commit<'h>(
    hosts: impl IntoIterator<Item = (&'h str, &'h [String], String)>,
) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut groups: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (host, host_groups, commit) in hosts {
        for group in host_groups {
            groups
                .entry(group.clone())
                .or_default()
                .entry(commit.clone())
                .or_default()
                .push(host.to_string());
        }
    }
    groups
}

/// group → commit → hosts at that commit.
pub fn group_commits(hosts: &[HostStatus]) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    by_group_and_commit(hosts.iter().map(|h| {
        (
            h.host.as_str(),
            h.groups.as_slice(),
            commit_shown(h.ledger.as_ref(), h.unreachable.is_some()),
        )
    }))
}

/// The status for people: a line per host, then per group which commits
/// are deployed.
pub fn pretty(revision: &Revision, hosts: &[HostStatus]) -> String {
    let mut out = match &revision.commit {
        Some(_) => format!("The repository is at {}.\n\n", revision.short()),
        None => "The project is not in a git repository with a commit: converges record no commit (`git init` and commit to see which commit each host runs).\n\n".to_string(),
    };
    let width = host_width(hosts.iter().map(|h| h.host.as_str()));
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

/// The status in `format`: for people, [`pretty`]; else one JSON document,
/// the repository's commit and every host's ledger.
pub fn text(format: super::Format, revision: &Revision, hosts: &[HostStatus]) -> String {
    match format {
        super::Format::Pretty => pretty(revision, hosts),
        _ => super::format::json(&serde_json::json!({
            "repository": { "commit": revision.commit, "dirty": revision.dirty },
            "hosts": hosts,
        })),
    }
}
