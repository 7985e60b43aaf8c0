//! `redgreen status`: each selected host's ledger, read in one round trip,
//! and the hosts whose commit differs from most of their group's.

use futures::StreamExt;

use crate::engine::ledger;
use crate::report::status::{HostStatus, group_commits};
use crate::transport::{Script, Target};

/// The status of every target, at most `concurrency` read at once, in
/// order, the drifted ones marked.
pub async fn read(targets: Vec<Target>, concurrency: usize) -> Vec<HostStatus> {
    let mut hosts: Vec<HostStatus> = futures::stream::iter(targets)
        .map(read_ledger)
        .buffered(concurrency)
        .collect()
        .await;
    mark_drift(&mut hosts);
    hosts
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ledger::{Ledger, Revision};
    use crate::report::status::pretty;

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
