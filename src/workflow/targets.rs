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

use super::Failure;
use crate::config::Project;
use crate::config::inventory::HostEntry;
use crate::diagnostic::Diag;
use crate::diagnostic::suggestion;
use crate::driver::State;
use crate::exit;
use crate::transport::Become;
use crate::transport::Target;
use crate::transport::{Connection, Keep};

/// Which hosts a command asked for, as given on its command line.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// TARGET: a host, test host or group name, or `ssh://...`.
    pub target: Option<String>,
    /// `--hosts`.
    pub hosts: Vec<String>,
    /// `--group`.
    pub group: Option<String>,
    /// `--test-hosts`.
    pub test_hosts: bool,
    /// `--connection local`: run on this machine instead of over SSH.
    pub local: bool,
    /// `--accept-new-host-keys`.
    pub accept_new_host_keys: bool,
}

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
pub fn resolve(project: &Project, args: &Selection) -> Result<Vec<Target>, Failure> {
    if let Some(text) = args.target.as_deref().filter(|t| is_ad_hoc(t)) {
        return Ok(vec![ad_hoc(project, args, text)?]);
    }
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
    let test: Vec<Candidate<'_>> = project
        .test_hosts()
        .into_iter()
        .map(|test_host| Candidate {
            name: test_host.name,
            base: Some(test_host.entry_name.value.clone()),
            groups: test_host
                .entry
                .groups
                .iter()
                .map(|g| g.value.clone())
                .collect(),
            vars: test_host.entry.vars.values.clone(),
            entry: None,
        })
        .collect();
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

    let connect_timeout = inventory.defaults.connect_timeout();
    let mut targets = Vec::new();
    for c in selected {
        let (address, connection) = match c.entry {
            Some(entry) => {
                let connection =
                    connection(project, args, &c.name, &entry.address.value, Some(entry));
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
                let mut connection = state.connection(&record, connect_timeout);
                connection.keep = keep(project);
                (record.address.clone(), connection)
            }
        };
        targets.push(Target {
            name: c.name.clone(),
            groups: c.groups.clone(),
            vars: c.vars.clone(),
            connection: (!args.local).then_some(connection),
            address,
        });
    }
    Ok(targets)
}

/// How to reach a host under `hosts:` (with its `entry`) or an ad-hoc one:
/// only what redgreen.yml says (the entry, else `defaults:`); the ssh_config
/// decides the rest, as with plain ssh.
fn connection(
    project: &Project,
    args: &Selection,
    name: &str,
    address: &str,
    entry: Option<&HostEntry>,
) -> Connection {
    let defaults = &project.inventory.defaults;
    Connection {
        name: name.to_string(),
        address: address.to_string(),
        port: entry
            .and_then(|e| e.port.as_ref())
            .or(defaults.port.as_ref())
            .map(|p| p.value),
        user: entry
            .and_then(|e| e.user.as_ref())
            .or(defaults.user.as_ref())
            .map(|u| u.value.clone()),
        identity: entry
            .and_then(|e| e.identity.as_ref())
            .or(defaults.identity.as_ref())
            .map(|i| in_project(project, &i.value)),
        ssh_config: entry
            .and_then(|e| e.ssh_config.as_ref())
            .or(defaults.ssh_config.as_ref())
            .map(|c| in_project(project, &c.value)),
        known_hosts: None,
        become_: entry
            .and_then(|e| e.become_.as_ref())
            .or(defaults.become_.as_ref())
            .map_or(Become::Sudo, |b| b.value),
        connect_timeout: defaults.connect_timeout(),
        accept_new_host_key: args.accept_new_host_keys,
        keep: keep(project),
    }
}

/// Where and how long the project's connections are kept after redgreen
/// ends, unless that is off.
pub fn keep(project: &Project) -> Option<Keep> {
    let idle = project.inventory.defaults.keep_connections()?;
    Some(Keep::for_project(&project.root, idle))
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

/// `verify`'s TARGET and FEATURES…: a first word that is no host or group
/// but looks like a path is a feature.
pub fn split_target(
    project: &Project,
    target: Option<&String>,
    features: &[PathBuf],
) -> (Option<String>, Vec<PathBuf>) {
    let mut features = features.to_vec();
    match target {
        Some(target)
            if !is_host_or_group(project, target)
                && !is_ad_hoc(target)
                && (target.ends_with(".feature")
                    || target.contains('/')
                    || project.root.join(target).exists()) =>
        {
            features.insert(0, PathBuf::from(target));
            (None, features)
        }
        other => (other.cloned(), features),
    }
}

/// True for a TARGET that is an ad-hoc server: `ssh://...`.
pub fn is_ad_hoc(target: &str) -> bool {
    target.to_ascii_lowercase().starts_with("ssh://")
}

/// A server that is not in the inventory, `ssh://[USER@]HOST[:PORT]`, with
/// the recipes, vars and features of the group `--group` names. USER and
/// PORT win over `defaults:`; the rest is as for a host under `hosts:`.
fn ad_hoc(project: &Project, args: &Selection, text: &str) -> Result<Target, Failure> {
    let url = SshUrl::parse(text)?;
    let Some(group) = &args.group else {
        return Err(Diag::plain(format!(
            "the ad-hoc target {text} needs --group NAME: the group whose recipes and features it takes"
        ))
        .help(format!("e.g. `{text} --group web`"))
        .into());
    };
    let groups = &project.inventory.groups;
    if groups.get(group).is_none() {
        let known: Vec<&str> = groups.names().collect();
        return Err(unknown("group", group, &known).into());
    }
    if !args.hosts.is_empty() {
        return Err(Diag::plain("an ad-hoc target is the only host of its run")
            .help("leave out --hosts, or put the server under `hosts:` in redgreen.yml")
            .into());
    }
    let name = url.name();
    let mut connection = connection(project, args, &name, &url.host, None);
    connection.user = url.user.clone().or(connection.user);
    connection.port = url.port.or(connection.port);
    Ok(Target {
        name,
        groups: vec![group.clone()],
        vars: Map::new(),
        connection: (!args.local).then_some(connection),
        address: url.host,
    })
}

/// `ssh://[USER@]HOST[:PORT]`, read by the `http` crate's URI parser.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SshUrl {
    user: Option<String>,
    /// A name or address (IPv6 without brackets).
    host: String,
    port: Option<u16>,
}

impl SshUrl {
    fn parse(text: &str) -> Result<SshUrl, Diag> {
        let bad = |why: &str| {
            Diag::plain(format!("'{text}' is not an ad-hoc target: {why}"))
                .help("write ssh://HOST, ssh://USER@HOST or ssh://USER@HOST:PORT")
        };
        let uri: http::Uri = text.parse().map_err(|e| bad(&format!("{e}")))?;
        let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("it has a path or query after the host"));
        }
        let user = match authority.as_str().rsplit_once('@') {
            Some((user, _)) if user.contains(':') => {
                return Err(bad(
                    "it has a password; redgreen logs in with keys (an agent, `identity:` or the ssh_config)",
                ));
            }
            Some(("", _)) => return Err(bad("the user name before '@' is empty")),
            Some((user, _)) => Some(user.to_string()),
            None => None,
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        // The URI parser leaves out a port it cannot read as a number.
        let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
        let written = host_port
            .rsplit_once(']')
            .map_or(host_port, |(_, after)| after)
            .split_once(':')
            .map(|(_, port)| port);
        let port = match (written, authority.port_u16()) {
            (_, Some(0)) => return Err(bad("port 0 is not a port")),
            (Some(port), None) if !port.is_empty() => {
                return Err(bad(&format!("'{port}' is not a port")));
            }
            (_, port) => port,
        };
        Ok(SshUrl {
            user,
            host: host.to_string(),
            port,
        })
    }

    /// The host's name in output: `HOST`, or `HOST:PORT` off the default port.
    fn name(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }
}

fn unknown(what: &str, name: &str, known: &[&str]) -> Diag {
    let (best, list) = suggestion(name, known);
    let message = match best {
        Some(best) => format!("unknown {what} '{name}', did you mean '{best}'?"),
        None => format!("unknown {what} '{name}'"),
    };
    Diag::plain(message).help(list)
}

/// A path of redgreen.yml: `~/x` in the home directory, a relative path in
/// the project's directory (whatever the current one).
fn in_project(project: &Project, path: &str) -> PathBuf {
    project.root.join(expand_home(path))
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (user, host, port, name), or the message.
    type Parsed = (Option<String>, String, Option<u16>, String);

    fn parse(text: &str) -> Result<Parsed, String> {
        SshUrl::parse(text)
            .map(|u| (u.user.clone(), u.host.clone(), u.port, u.name()))
            .map_err(|d| d.message)
    }

    #[test]
    fn ad_hoc_targets_are_ssh_urls() {
        assert_eq!(
            parse("ssh://deploy@192.0.2.7:2222"),
            Ok((
                Some("deploy".into()),
                "192.0.2.7".into(),
                Some(2222),
                "192.0.2.7:2222".into()
            ))
        );
        assert_eq!(
            parse("ssh://web.example.com"),
            Ok((
                None,
                "web.example.com".into(),
                None,
                "web.example.com".into()
            ))
        );
        assert_eq!(
            parse("ssh://root@[2001:db8::1]:22/"),
            Ok((
                Some("root".into()),
                "2001:db8::1".into(),
                Some(22),
                "[2001:db8::1]:22".into()
            ))
        );
        for bad in [
            "ssh://",
            "ssh://user:secret@host",
            "ssh://@host",
            "ssh://host/path",
            "ssh://host:0",
            "ssh://host:99999",
            "ssh://host?x=1",
        ] {
            let found = parse(bad);
            assert!(
                found
                    .as_ref()
                    .is_err_and(|m| m.contains("is not an ad-hoc target")),
                "{bad}: {found:?}"
            );
        }
        assert!(is_ad_hoc("SSH://host"));
        assert!(!is_ad_hoc("web1"));
    }
}
