//! Which hosts a command works on: TARGET, `--hosts`, `--group`, `--test-hosts`.
//!
//! Names are looked up among the hosts under `hosts:` and the test hosts of
//! `test_hosts:` (by full name `HOST-PLATFORM`, or by HOST for all its
//! platforms). A group selects its hosts under `hosts:`, or its test hosts
//! when it has no host there or `--test-hosts` is given. Without a target, the
//! hosts under `hosts:` are used, or the created test hosts when there are
//! none (or with `--test-hosts`).

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::{ConnectionKind, Failure, RunArgs};
use crate::config::diagnostic::suggestion;
use crate::config::inventory::{Become, HostEntry};
use crate::config::{Diag, Project, test_host_name};
use crate::driver::State;
use crate::engine::Target;
use crate::exit;
use crate::transport::Connection;

/// A host that could be selected.
struct Candidate<'p> {
    name: String,
    /// For test hosts: the host entry's name (without the platform).
    base: Option<String>,
    groups: Vec<String>,
    vars: Map<String, Value>,
    entry: Option<&'p HostEntry>,
}

/// Resolve the selection into targets, or explain what is wrong.
pub fn resolve(project: &Project, args: &RunArgs) -> Result<Vec<Target>, Failure> {
    let inventory = &project.inventory;
    let real: Vec<Candidate<'_>> = inventory
        .hosts
        .iter()
        .map(|(name, entry)| Candidate {
            name: name.value.clone(),
            base: None,
            groups: entry.groups.iter().map(|g| g.value.clone()).collect(),
            vars: entry.vars.values.clone(),
            entry: Some(entry),
        })
        .collect();
    let mut test: Vec<Candidate<'_>> = Vec::new();
    if let Some(test_hosts) = &inventory.test_hosts {
        for (name, entry) in test_hosts.hosts.iter() {
            for platform in &test_hosts.platforms {
                test.push(Candidate {
                    name: test_host_name(&name.value, &platform.value.name.value),
                    base: Some(name.value.clone()),
                    groups: entry.groups.iter().map(|g| g.value.clone()).collect(),
                    vars: entry.vars.values.clone(),
                    entry: None,
                });
            }
        }
    }
    let state = State::of(&project.root);

    let mut names: Vec<String> = args.hosts.clone();
    let mut groups: Vec<String> = args.group.iter().cloned().collect();
    if let Some(target) = &args.target {
        let is_host = real
            .iter()
            .chain(&test)
            .any(|c| c.name == *target || c.base.as_deref() == Some(target));
        if is_host {
            names.push(target.clone());
        } else if inventory.groups.get(target).is_some() {
            groups.push(target.clone());
        } else {
            names.push(target.clone()); // reported as unknown below
        }
    }

    // Candidates by index: hosts first, then test hosts; selected once each, in order.
    let all: Vec<&Candidate<'_>> = real.iter().chain(&test).collect();
    let is_real = |i: usize| i < real.len();
    let mut chosen: Vec<usize> = Vec::new();
    let add = |i: usize, chosen: &mut Vec<usize>| {
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    };
    for name in &names {
        let matches: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].name == *name || all[i].base.as_deref() == Some(name))
            .collect();
        if matches.is_empty() {
            let known: Vec<&str> = all
                .iter()
                .map(|c| c.name.as_str())
                .chain(inventory.groups.names())
                .collect();
            return Err(unknown("host or group", name, &known).into());
        }
        for i in matches {
            add(i, &mut chosen);
        }
    }
    for group in &groups {
        if inventory.groups.get(group).is_none() {
            let known: Vec<&str> = inventory.groups.names().collect();
            return Err(unknown("group", group, &known).into());
        }
        let members: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].groups.contains(group))
            .collect();
        let any_real = members.iter().any(|&i| is_real(i));
        let use_test = args.test_hosts || !any_real;
        for i in members.into_iter().filter(|&i| is_real(i) != use_test) {
            add(i, &mut chosen);
        }
    }
    if names.is_empty() && groups.is_empty() {
        if args.test_hosts || real.is_empty() {
            let created: Vec<String> = state.records().into_iter().map(|r| r.name).collect();
            for i in (real.len()..all.len()).filter(|&i| created.contains(&all[i].name)) {
                add(i, &mut chosen);
            }
            if chosen.is_empty() {
                return Err(Failure::Other(
                    exit::BAD_INPUT,
                    "no hosts to work on: redgreen.yml has no `hosts:` and no test host is created (run `redgreen hosts create`)".into(),
                ));
            }
        } else {
            for i in 0..real.len() {
                add(i, &mut chosen);
            }
        }
    }
    let selected: Vec<&Candidate<'_>> = chosen.into_iter().map(|i| all[i]).collect();

    let defaults = &inventory.defaults;
    let connect_timeout = defaults.connect_timeout();
    let mut targets = Vec::new();
    for c in selected {
        let (address, connection) = match c.entry {
            Some(entry) => {
                let connection = Connection {
                    name: c.name.clone(),
                    address: entry.address.value.clone(),
                    port: entry
                        .port
                        .as_ref()
                        .or(defaults.port.as_ref())
                        .map(|p| p.value),
                    // root unless said otherwise (non-root logins use sudo).
                    user: Some(
                        entry
                            .user
                            .as_ref()
                            .or(defaults.user.as_ref())
                            .map_or_else(|| "root".to_string(), |u| u.value.clone()),
                    ),
                    identity: entry
                        .identity
                        .as_ref()
                        .or(defaults.identity.as_ref())
                        .map(|i| expand_home(&i.value)),
                    ssh_config: entry
                        .ssh_config
                        .as_ref()
                        .or(defaults.ssh_config.as_ref())
                        .map(|c| project.root.join(expand_home(&c.value))),
                    known_hosts: None,
                    become_: entry
                        .become_
                        .as_ref()
                        .or(defaults.become_.as_ref())
                        .map_or(Become::Sudo, |b| b.value),
                    connect_timeout,
                    accept_new_host_key: args.accept_new_host_keys,
                };
                (entry.address.value.clone(), connection)
            }
            None => {
                let Some(record) = state.record(&c.name) else {
                    return Err(Failure::Other(
                        exit::BAD_INPUT,
                        format!(
                            "test host {} is not created; run `redgreen hosts create {}`",
                            c.name, c.name
                        ),
                    ));
                };
                (
                    record.address.clone(),
                    state.connection(&record, connect_timeout),
                )
            }
        };
        targets.push(Target {
            name: c.name.clone(),
            groups: c.groups.clone(),
            vars: c.vars.clone(),
            connection: (args.connection == ConnectionKind::Ssh).then_some(connection),
            address,
        });
    }
    Ok(targets)
}

fn unknown(what: &str, name: &str, known: &[&str]) -> Diag {
    let (best, list) = suggestion(name, known);
    let message = match best {
        Some(best) => format!("unknown {what} '{name}', did you mean '{best}'?"),
        None => format!("unknown {what} '{name}'"),
    };
    Diag::plain(message).help(list)
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}
