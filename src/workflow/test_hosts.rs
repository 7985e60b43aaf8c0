//! The project's test hosts: which driver makes them, which ones a command
//! names, and how to reach one once it is made.

use std::time::Duration;

use super::Failure;
use crate::config::Project;
use crate::config::inventory::DriverKind;
use crate::diagnostic::Diag;
use crate::driver::{self, Driver, TestHostRecord, TestHostSpec};
use crate::exit;
use crate::transport::Target;

/// The driver for the project's test hosts.
pub fn driver(project: &Project) -> Result<Box<dyn Driver>, Failure> {
    let kind = project
        .inventory
        .test_hosts
        .as_ref()
        .and_then(|t| t.driver.as_ref())
        .map_or(DriverKind::Docker, |d| d.value);
    driver::for_project(kind, &project.root)
        .map_err(|e| Failure::Other(exit::BAD_INPUT, e.to_string()))
}

/// Every declared test host, or the ones named (full name or host name).
pub fn specs(project: &Project, names: &[String]) -> Result<Vec<TestHostSpec>, Failure> {
    let Some(test_hosts) = &project.inventory.test_hosts else {
        return Err(Failure::Other(
            exit::BAD_INPUT,
            "redgreen.yml has no test_hosts: section".into(),
        ));
    };
    let qemu = test_hosts
        .driver
        .as_ref()
        .is_some_and(|d| d.value == DriverKind::Qemu);
    let mut specs = Vec::new();
    for test_host in project.test_hosts() {
        let named = names.is_empty()
            || names
                .iter()
                .any(|n| *n == test_host.name || *n == test_host.entry_name.value);
        if !named {
            continue;
        }
        let platform = &test_host.platform.value;
        let image = platform
            .image
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default();
        specs.push(TestHostSpec {
            name: test_host.name,
            platform: platform.name.value.clone(),
            // A VM's disk image is a file of the project.
            image: if qemu && !image.is_empty() {
                project.root.join(image).display().to_string()
            } else {
                image
            },
            bootstrap: platform.bootstrap.as_ref().map(|b| b.value.clone()),
            memory_mb: platform.memory.as_ref().map(|m| m.value),
            cpus: platform.cpus.as_ref().map(|c| c.value),
            hostname: None,
        });
    }
    for name in names {
        if !specs.iter().any(|s| s.name == *name) && !test_hosts.hosts.names().any(|h| h == name) {
            let known = project.test_host_names();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(Diag::unknown_plain("test host", name, &known).into());
        }
    }
    Ok(specs)
}

/// The test hosts a test or watch works on: the ones named, at least one.
pub fn named(project: &Project, names: &[String]) -> Result<Vec<TestHostSpec>, Failure> {
    let specs = specs(project, names)?;
    if specs.is_empty() {
        return Err(Failure::Other(
            exit::BAD_INPUT,
            "no test hosts: add test_hosts (platforms and hosts) to redgreen.yml".into(),
        ));
    }
    Ok(specs)
}

/// The target of test host `name` at `address`, with its entry's groups
/// and vars, reached through `connection` (None: not made yet).
fn target(
    project: &Project,
    name: &str,
    address: &str,
    connection: Option<crate::transport::Connection>,
) -> Target {
    let test_host = project.test_hosts().into_iter().find(|t| t.name == name);
    let entry = test_host.map(|t| t.entry.clone()).unwrap_or_default();
    Target {
        name: name.to_string(),
        groups: entry.groups.iter().map(|g| g.value.clone()).collect(),
        vars: entry.vars.values.clone(),
        connection,
        address: address.to_string(),
    }
}

/// The target for a created test host. Its connection is kept as the
/// project's are (`keep_connections`): the phases of `test` and the rounds of
/// `watch` reuse one master instead of a handshake each.
pub fn target_of(
    project: &Project,
    driver: &dyn Driver,
    record: &TestHostRecord,
    connect_timeout: Duration,
) -> Target {
    let mut connection = driver.state().connection(record, connect_timeout);
    connection.keep = super::targets::keep(project);
    target(project, &record.name, &record.address, Some(connection))
}

/// The target of a test host before it is made, for expanding its
/// resources (problems with them come before any host is made).
pub fn planned(project: &Project, spec: &TestHostSpec) -> Target {
    target(project, &spec.name, "127.0.0.1", None)
}

/// Which snapshots `hosts cache prune` removes (`snapshots` newest first):
/// without limits all; else those older than `older_than`, and the oldest
/// beyond `max_mb` megabytes in all.
pub fn to_prune(
    snapshots: &[driver::Snapshot],
    now: u64,
    older_than: Option<Duration>,
    max_mb: Option<u64>,
) -> Vec<driver::Snapshot> {
    if older_than.is_none() && max_mb.is_none() {
        return snapshots.to_vec();
    }
    let mut total = 0u64;
    snapshots
        .iter()
        .filter(|s| {
            total += s.bytes;
            let old = older_than.is_some_and(|age| now.saturating_sub(s.created) > age.as_secs());
            let over = max_mb.is_some_and(|mb| total > mb * 1_000_000);
            old || over
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(name: &str, created: u64, mb: u64) -> driver::Snapshot {
        driver::Snapshot {
            image: name.into(),
            host: "web-debian-12".into(),
            recipe: "base".into(),
            created,
            bytes: mb * 1_000_000,
        }
    }

    #[test]
    fn prune_by_age_and_size() {
        let newest_first = [
            snapshot("a", 1000, 200),
            snapshot("b", 900, 200),
            snapshot("c", 100, 200),
        ];
        let names = |v: Vec<driver::Snapshot>| v.into_iter().map(|s| s.image).collect::<Vec<_>>();
        assert_eq!(
            names(to_prune(&newest_first, 1000, None, None)),
            ["a", "b", "c"]
        );
        assert_eq!(
            names(to_prune(
                &newest_first,
                1000,
                Some(Duration::from_secs(500)),
                None
            )),
            ["c"]
        );
        assert_eq!(names(to_prune(&newest_first, 1000, None, Some(450))), ["c"]);
        assert_eq!(
            names(to_prune(&newest_first, 1000, None, Some(150))),
            ["a", "b", "c"]
        );
        assert!(
            to_prune(
                &newest_first,
                1000,
                Some(Duration::from_secs(5000)),
                Some(1000)
            )
            .is_empty()
        );
    }
}
