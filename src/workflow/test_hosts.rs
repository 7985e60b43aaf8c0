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

/// The target for a created test host.
pub fn target_of(
    project: &Project,
    driver: &dyn Driver,
    record: &TestHostRecord,
    connect_timeout: Duration,
) -> Target {
    let connection = driver.state().connection(record, connect_timeout);
    target(project, &record.name, &record.address, Some(connection))
}

/// The target of a test host before it is made, for expanding its
/// resources (problems with them come before any host is made).
pub fn planned(project: &Project, spec: &TestHostSpec) -> Target {
    target(project, &spec.name, "127.0.0.1", None)
}
