//! Layered converge snapshots (Docker's build cache, applied to converges):
//! after each recipe of a test host is applied, `test` saves the host; the
//! next run converges from the deepest saved layer whose key matches and
//! applies only the recipes after it.
//!
//! The key of layer `i` says everything that could make the host differ
//! after recipes `1..=i`: redgreen's version, the project, the image's id, the platform, and for
//! every recipe so far, in order, its name and text, the text of every
//! template and file under files/ it names (templates with the partials they
//! name), the variables any of those texts names, and the host's name and
//! groups and the machine's size when a text reads `host.` or `facts.`
//! (other facts come from the image). Names are found by their appearance
//! in the text: a name that appears in a comment makes the key stricter,
//! never looser; a template or variable named only by a computed
//! expression (`lookup`) is not seen. A change to a template of the first
//! recipe therefore changes every key after it.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::config::{HostResources, Project};
use crate::driver::{Driver, TestHostSpec};
use crate::engine::{self, EngineOptions, HostOutcome, HostReport, Job};
use crate::report::{Event, Reporter};
use crate::resource::{Kind, PlannedResource};
use crate::transport::Target;

/// One recipe of a test host and the key of the host after it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The recipe.
    pub recipe: String,
    /// The key (hex), the snapshot's tag.
    pub key: String,
}

/// What a test host is, besides its recipes.
#[derive(Debug, Clone)]
pub struct Base<'a> {
    /// The project's id (snapshots are never shared across projects).
    pub project: &'a str,
    /// The id of the image the test host is made from.
    pub image_id: &'a str,
    /// The platform.
    pub platform: &'a str,
    /// The test host's name.
    pub host: &'a str,
    /// Its groups.
    pub groups: &'a [String],
}

/// The layers of a test host, one per recipe in the order they apply.
pub fn layers(project: &Project, base: &Base<'_>, resources: &HostResources<'_>) -> Vec<Layer> {
    let mut hash = Sha256::new();
    // A redgreen that applies resources differently starts over.
    for part in [
        env!("CARGO_PKG_VERSION"),
        base.project,
        base.image_id,
        base.platform,
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let files = crate::files::walk::files(&project.root, &project.root.join("files"));
    let mut layers = Vec::new();
    for recipe in &resources.recipes {
        let Some(loaded) = project.recipes.get(recipe) else {
            continue;
        };
        let mut texts = vec![loaded.source.text.to_string()];
        // Templates it names, and the partials those name, once each.
        let mut seen = BTreeSet::new();
        let mut i = 0;
        while i < texts.len() {
            let text = texts[i].clone();
            for name in project.templates.names() {
                let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
                if (text.contains(name) || text.contains(&format!("> {stem}")))
                    && seen.insert(name.to_string())
                    && let Some(source) = project.templates.source(name)
                {
                    texts.push(format!("template {name}\n{}", source.text));
                }
            }
            i += 1;
        }
        for path in &files {
            let relative = path
                .strip_prefix(project.root.join("files"))
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned();
            if texts.iter().any(|t| t.contains(&relative)) {
                let bytes = std::fs::read(path).unwrap_or_default();
                texts.push(format!("file {relative}\n"));
                hash.update(&bytes);
            }
        }
        for text in &texts {
            hash.update(text.as_bytes());
            hash.update([0]);
        }
        // The variables these texts name, with their values (secrets too:
        // only their hash reaches the key).
        for (name, value) in &resources.vars {
            if texts.iter().any(|t| t.contains(name.as_str())) {
                hash.update(format!("var {name}={value}\n").as_bytes());
            }
        }
        if texts
            .iter()
            .any(|t| t.contains("host.") || t.contains("facts."))
        {
            hash.update(format!("host {} {:?}\n", base.host, base.groups).as_bytes());
            hash.update(machine_size().as_bytes());
        }
        let key: String = hash
            .clone()
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        layers.push(Layer {
            recipe: recipe.clone(),
            key,
        });
    }
    layers
}

/// CPUs and memory, which container test hosts share with the machine.
fn machine_size() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_string))
        .unwrap_or_default();
    format!("{cpus} {memory}\n")
}

/// Resources whose state lives in the running host, not in its files: a
/// host made from a snapshot has them again only once converged (services
/// started, kernel parameters set).
pub fn lives_in_memory(kind: Kind) -> bool {
    matches!(kind, Kind::Service | Kind::Sysctl)
}

/// What a layered converge of one test host did.
pub struct Layered {
    /// The converge, every part of it in one report.
    pub report: HostReport,
    /// Recipe by recipe: from the cache or applied.
    pub layers: Vec<crate::report::cycle::Layer>,
    /// The host to go on with: made again from a snapshot when one was used.
    pub target: Target,
}

/// Converge one test host from its deepest snapshot: the host (which ran
/// the red phase on the fresh image) is made again from the snapshot, what
/// lives in memory of the cached recipes is converged (services, kernel
/// parameters), then each remaining recipe is applied and saved.
pub async fn converge<'p>(
    project: &'p Project,
    driver: &dyn Driver,
    spec: &TestHostSpec,
    job: Job<'p>,
    options: &EngineOptions,
    connect_timeout: std::time::Duration,
    reporter: &dyn Reporter,
) -> Layered {
    let run = |target: Target, resources: Vec<PlannedResource<'p>>| {
        let job = Job {
            target,
            resources: HostResources {
                resources,
                ..job.resources.clone()
            },
        };
        async move {
            engine::run(project, vec![job], options, &|e| reporter.engine(e))
                .await
                .hosts
                .pop()
                .expect("one job, one host")
        }
    };
    let started = std::time::Instant::now();
    let Some(image_id) = driver.image_id(&spec.image).await else {
        let all = job.resources.resources.clone();
        return Layered {
            report: run(job.target.clone(), all).await,
            layers: Vec::new(),
            target: job.target.clone(),
        };
    };
    let base = Base {
        project: &driver.state().id,
        image_id: &image_id,
        platform: &spec.platform,
        host: &spec.name,
        groups: &job.target.groups,
    };
    let layers = layers(project, &base, &job.resources);
    let mut depth = 0;
    for (i, layer) in layers.iter().enumerate().rev() {
        if driver.has_snapshot(&layer.key).await {
            depth = i + 1;
            break;
        }
    }
    let of_recipe = |recipe: &str| {
        let source = project.recipes.get(recipe).map(|r| &r.source);
        job.resources
            .resources
            .iter()
            .filter(|p| source.is_some_and(|s| std::ptr::eq(p.source, s)))
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut target = job.target.clone();
    let mut record = driver.state().record(&spec.name);
    if depth > 0 {
        let from = TestHostSpec {
            image: driver.snapshot_image(&layers[depth - 1].key),
            ..spec.clone()
        };
        if let Some(old) = &record {
            let _ = driver.destroy(old).await;
        }
        let show = |step: &str| {
            reporter.event(Event::Creating {
                host: &spec.name,
                step,
            })
        };
        // A snapshot that cannot be started: from the fresh image, all of it.
        let made = match driver.create(&from, &show).await {
            Ok(made) => Ok(made),
            Err(_) => {
                depth = 0;
                driver.create(spec, &show).await
            }
        };
        record = made.ok();
        if let Some(made) = &record {
            target = crate::workflow::test_hosts::target_of(project, driver, made, connect_timeout);
        }
    }
    let mut parts: Vec<HostReport> = Vec::new();
    let mut done = Vec::new();
    if depth > 0 {
        let in_memory: Vec<PlannedResource<'p>> = layers[..depth]
            .iter()
            .flat_map(|l| of_recipe(&l.recipe))
            .filter(|p| lives_in_memory(p.kind()))
            .collect();
        if !in_memory.is_empty() {
            parts.push(run(target.clone(), in_memory).await);
        }
        for layer in &layers[..depth] {
            done.push(crate::report::cycle::Layer {
                recipe: layer.recipe.clone(),
                from_cache: true,
                seconds: 0.0,
            });
        }
    }
    for layer in &layers[depth..] {
        if parts.last().is_some_and(|p| p.outcome != HostOutcome::Ok) {
            break;
        }
        let part = run(target.clone(), of_recipe(&layer.recipe)).await;
        done.push(crate::report::cycle::Layer {
            recipe: layer.recipe.clone(),
            from_cache: false,
            seconds: part.seconds,
        });
        if part.outcome == HostOutcome::Ok
            && let Some(record) = &record
        {
            let _ = driver.snapshot(record, &layer.key, &layer.recipe).await;
        }
        parts.push(part);
    }
    let mut report = match merge(parts) {
        Some(report) => report,
        // Nothing to apply and nothing in memory: an empty converge still
        // records the ledger and says how the host is.
        None => run(target.clone(), Vec::new()).await,
    };
    // Making the host again from its snapshot is part of this converge.
    report.seconds = started.elapsed().as_secs_f64();
    Layered {
        report,
        layers: done,
        target,
    }
}

/// Several converges of one host as one.
fn merge(parts: Vec<HostReport>) -> Option<HostReport> {
    let mut parts = parts.into_iter();
    let mut whole = parts.next()?;
    for part in parts {
        if whole.outcome == HostOutcome::Ok {
            whole.outcome = part.outcome;
        }
        whole.resources.extend(part.resources);
        whole.handlers.extend(part.handlers);
        whole.notes.extend(part.notes);
        whole.round_trips += part.round_trips;
        whole.seconds += part.seconds;
        whole.facts = part.facts.or(whole.facts);
        whole.ledger = part.ledger.or(whole.ledger);
        whole.answers.extend(part.answers);
    }
    Some(whole)
}
