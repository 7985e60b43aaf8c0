//! `redgreen hosts create | destroy | list | ssh`.

use std::io::IsTerminal;

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressDrawTarget};

use super::{Cli, Failure, HostsCommand};
use crate::config::inventory::DriverKind;
use crate::config::{Overrides, Project, test_host_name};
use crate::diagnostic::Diag;
use crate::driver::{self, Driver, TestHostSpec};
use crate::exit;

pub use crate::report::spinner;

/// The driver for the project's test hosts.
pub(crate) fn driver(project: &Project) -> Result<Box<dyn Driver>, Failure> {
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
pub(crate) fn specs(project: &Project, names: &[String]) -> Result<Vec<TestHostSpec>, Failure> {
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
    for (host, _) in test_hosts.hosts.iter() {
        for platform in &test_hosts.platforms {
            let name = test_host_name(&host.value, &platform.value.name.value);
            if names.is_empty() || names.iter().any(|n| *n == name || *n == host.value) {
                let platform = &platform.value;
                let image = platform
                    .image
                    .as_ref()
                    .map(|i| i.value.clone())
                    .unwrap_or_default();
                specs.push(TestHostSpec {
                    name,
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
        }
    }
    for name in names {
        if !specs.iter().any(|s| s.name == *name) && !test_hosts.hosts.names().any(|h| h == name) {
            let known = project.test_host_names();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            let (best, list) = crate::diagnostic::suggestion(name, &known);
            let message = match best {
                Some(best) => format!("unknown test host '{name}', did you mean '{best}'?"),
                None => format!("unknown test host '{name}'"),
            };
            return Err(Diag::plain(message).help(list).into());
        }
    }
    Ok(specs)
}

pub(super) async fn run(cli: &Cli, command: &HostsCommand) -> Result<i32, Failure> {
    let project = Project::load(&cli.dir)?;
    match command {
        HostsCommand::Create { names } => {
            let overrides = Overrides {
                secrets_optional: true,
                ..Overrides::default()
            };
            project.validate(&overrides).into_result()?;
            let docker = driver(&project)?;
            let specs = specs(&project, names)?;
            create(docker.as_ref(), &specs).await
        }
        HostsCommand::Destroy { names } => {
            let docker = driver(&project)?;
            destroy(docker.as_ref(), names).await
        }
        HostsCommand::List => {
            let docker = driver(&project)?;
            let state = docker.state();
            let running = docker.instances().await.unwrap_or_default();
            crate::outln!("{:<32} {:<12} {:<16} IMAGE", "TEST HOST", "STATE", "SSH");
            for name in project.test_host_names() {
                let record = state.record(&name);
                let status = match &record {
                    Some(r) => running
                        .iter()
                        .find(|i| i.id == r.container)
                        .map_or("gone".to_string(), |i| i.state.clone()),
                    None => "not created".to_string(),
                };
                crate::outln!(
                    "{:<32} {:<12} {:<16} {}",
                    name,
                    status,
                    record
                        .as_ref()
                        .map_or("-".to_string(), |r| format!("{}:{}", r.address, r.port)),
                    record.as_ref().map_or("-", |r| r.image.as_str()),
                );
            }
            Ok(exit::OK)
        }
        HostsCommand::Ssh { name, command } => {
            let docker = driver(&project)?;
            let Some(record) = docker.state().record(name) else {
                return Err(Failure::Other(
                    exit::BAD_INPUT,
                    format!("test host {name} is not created; run `redgreen hosts create {name}`"),
                ));
            };
            let mut argv = docker.state().ssh_command(&record);
            argv.extend(command.iter().cloned());
            let status = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .status()
                .map_err(|e| Failure::Other(exit::FAILED, format!("cannot run ssh: {e}")))?;
            Ok(match status.code() {
                Some(255) => exit::UNREACHABLE,
                Some(code) => code,
                None => exit::FAILED,
            })
        }
    }
}

/// Create test hosts in parallel, with a progress line each.
pub(crate) async fn create(docker: &dyn Driver, specs: &[TestHostSpec]) -> Result<i32, Failure> {
    let bars = MultiProgress::new();
    if !std::io::stderr().is_terminal() {
        bars.set_draw_target(ProgressDrawTarget::hidden());
    }
    let results: Vec<_> = futures::stream::iter(specs)
        .map(|spec| {
            let bar = bars.add(spinner(&spec.name));
            async move {
                let progress = |step: &str| bar.set_message(step.to_string());
                let result = docker.create(spec, &progress).await;
                bar.finish_and_clear();
                (spec, result)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut code = exit::OK;
    for (spec, result) in results {
        match result {
            Ok(record) => {
                crate::outln!(
                    "created {} ({}{}{}) in {:.1}s",
                    record.name,
                    record.address,
                    if record.systemd { ", systemd" } else { "" },
                    record
                        .accel
                        .as_ref()
                        .map_or(String::new(), |a| format!(", VM on {}", a.to_uppercase())),
                    record.boot_seconds
                );
                if let Some(note) = &record.accel_note {
                    crate::outln!("  {}: {note}", record.name);
                }
            }
            Err(err) => {
                crate::errln!("error: cannot create {}: {err}", spec.name);
                code = exit::FAILED;
            }
        }
    }
    Ok(code)
}

/// Destroy the named test hosts (all when none is named), and any container of
/// the project left without a record.
pub(crate) async fn destroy(docker: &dyn Driver, names: &[String]) -> Result<i32, Failure> {
    let state = docker.state();
    let records: Vec<_> = state
        .records()
        .into_iter()
        .filter(|r| {
            names.is_empty()
                || names
                    .iter()
                    .any(|n| *n == r.name || r.name.starts_with(&format!("{n}-")))
        })
        .collect();
    let mut code = exit::OK;
    let results: Vec<_> = futures::stream::iter(&records)
        .map(|record| async move { (record, docker.destroy(record).await) })
        .buffer_unordered(8)
        .collect()
        .await;
    for (record, result) in results {
        match result {
            Ok(()) => crate::outln!("destroyed {}", record.name),
            Err(err) => {
                crate::errln!("error: cannot destroy {}: {err}", record.name);
                code = exit::FAILED;
            }
        }
    }
    if names.is_empty() {
        for instance in docker.instances().await.unwrap_or_default() {
            if docker.remove_instance(&instance.id).await.is_ok() {
                crate::outln!("removed leftover test host {}", instance.id);
            }
        }
    }
    docker.cleanup().await;
    Ok(code)
}
