//! `redgreen hosts create | destroy | list | ssh`.

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressDrawTarget};

use super::{Cli, Failure, HostsCommand};
use crate::config::{Overrides, Project};
use crate::driver::{Driver, TestHostSpec};
use crate::exit;
use crate::report::spinner_in;
use crate::workflow::test_hosts;

pub(super) async fn run(cli: &Cli, command: &HostsCommand) -> Result<i32, Failure> {
    let project = Project::load(&cli.dir)?;
    match command {
        HostsCommand::Create { names, install } => {
            let overrides = Overrides {
                secrets_optional: true,
                ..Overrides::default()
            };
            project.validate(&overrides).into_result()?;
            let docker = test_hosts::driver(&project)?;
            let specs = test_hosts::specs(&project, names)?;
            super::prepare(docker.as_ref(), &specs, *install).await?;
            create(docker.as_ref(), &specs).await
        }
        HostsCommand::Destroy { names } => {
            let docker = test_hosts::driver(&project)?;
            destroy(docker.as_ref(), names).await
        }
        HostsCommand::List => {
            let docker = test_hosts::driver(&project)?;
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
        HostsCommand::Cache { action } => {
            let driver = test_hosts::driver(&project)?;
            let snapshots = driver
                .snapshots()
                .await
                .map_err(|e| Failure::Other(exit::FAILED, e.to_string()))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            match action {
                None => {
                    // The layer last: a part of a recipe is named at length.
                    let wide = |f: fn(&crate::driver::Snapshot) -> usize, min: usize| {
                        snapshots.iter().map(f).max().unwrap_or(0).max(min)
                    };
                    let (image, host) = (wide(|s| s.image.len(), 8), wide(|s| s.host.len(), 9));
                    crate::outln!(
                        "{:<image$} {:<host$} {:>8} {:>9}  AFTER",
                        "SNAPSHOT",
                        "TEST HOST",
                        "AGE",
                        "SIZE"
                    );
                    for s in &snapshots {
                        crate::outln!(
                            "{:<image$} {:<host$} {:>8} {:>7}MB  {}",
                            s.image,
                            s.host,
                            humantime::format_duration(std::time::Duration::from_secs(
                                now.saturating_sub(s.created)
                            ))
                            .to_string()
                            .split(' ')
                            .next()
                            .unwrap_or(""),
                            s.bytes / 1_000_000,
                            s.recipe,
                        );
                    }
                    Ok(exit::OK)
                }
                Some(super::CacheCommand::Prune {
                    older_than,
                    max_size,
                }) => {
                    let doomed = test_hosts::to_prune(&snapshots, now, *older_than, *max_size);
                    let mut code = exit::OK;
                    for snapshot in &doomed {
                        if let Err(e) = driver.remove_snapshot(snapshot).await {
                            crate::errln!("{}: {e}", snapshot.image);
                            code = exit::FAILED;
                        }
                    }
                    crate::outln!(
                        "removed {} of {} snapshot(s)",
                        doomed.len(),
                        snapshots.len()
                    );
                    Ok(code)
                }
            }
        }
        HostsCommand::Ssh { name, command } => {
            let docker = test_hosts::driver(&project)?;
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
    if !crate::output::progress() {
        bars.set_draw_target(ProgressDrawTarget::hidden());
    }
    let results: Vec<_> = futures::stream::iter(specs)
        .map(|spec| {
            let bar = spinner_in(&bars, &spec.name);
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
