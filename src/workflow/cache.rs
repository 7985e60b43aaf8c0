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
use crate::driver::{Driver, TestHostRecord, TestHostSpec};
use crate::engine::{self, EngineOptions, HostOutcome, HostReport, Job};
use crate::report::Reporter;
use crate::resource::{Kind, PlannedResource};
use crate::transport::Target;

/// A part of the converge of a test host — a recipe, or a part of one that
/// ends with a package transaction — and the key of the host after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The recipe.
    pub recipe: String,
    /// When the recipe is split: which part (`to package nginx-light`,
    /// `from directory /srv/www`).
    pub part: Option<String>,
    /// The key (hex), the snapshot's tag.
    pub key: String,
    /// Its resources: indices into the host's planned resources.
    pub resources: Vec<usize>,
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

/// The layers of a test host in the order they apply: one per recipe, and
/// a recipe with a package transaction before other resources is split
/// after it (installing packages is what costs seconds, so a change below
/// it in the recipe does not install them again).
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
    let keyed = Keyed {
        project,
        base,
        vars: &resources.vars,
        files: crate::files::walk::files(&project.root, &project.root.join("files")),
    };
    let mut layers = Vec::new();
    for recipe in &resources.recipes {
        let Some(loaded) = project.recipes.get(recipe) else {
            continue;
        };
        let text = loaded.source.text.as_str();
        let of_recipe: Vec<usize> = (0..resources.resources.len())
            .filter(|&i| std::ptr::eq(resources.resources[i].source, &loaded.source))
            .collect();
        let splits = package_splits(&resources.resources, &of_recipe, text);
        let mut from = 0;
        for &(end, line) in &splits {
            // The recipe up to the next resource: a change below it leaves
            // this key as it is.
            let prefix: String = text
                .split_inclusive('\n')
                .take(line.saturating_sub(1))
                .collect();
            let mut part = hash.clone();
            keyed.add(&mut part, &prefix);
            part.update(b"part\0");
            let last = &resources.resources[of_recipe[end]];
            layers.push(Layer {
                recipe: recipe.clone(),
                part: Some(format!("to {}", last.identity())),
                key: hex(&part),
                resources: of_recipe[from..=end].to_vec(),
            });
            from = end + 1;
        }
        keyed.add(&mut hash, text);
        layers.push(Layer {
            recipe: recipe.clone(),
            part: (from > 0)
                .then(|| format!("from {}", resources.resources[of_recipe[from]].identity())),
            key: hex(&hash),
            resources: of_recipe[from..].to_vec(),
        });
    }
    layers
}

/// Where a recipe's resources (`of_recipe`, indices into `planned`) split:
/// after each package transaction (consecutive `package` resources) that
/// other resources follow, as (position in `of_recipe` of its last package,
/// line of the next resource). Only where the next resource starts on a
/// line of its own in block style, so that the text before that line holds
/// all of the package resources (a flow-style list is never split).
fn package_splits(
    planned: &[PlannedResource<'_>],
    of_recipe: &[usize],
    text: &str,
) -> Vec<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut splits = Vec::new();
    for (at, pair) in of_recipe.windows(2).enumerate() {
        let (this, next) = (&planned[pair[0]], &planned[pair[1]]);
        if this.kind() != Kind::Package || next.kind() == Kind::Package {
            continue;
        }
        let (this_line, next_line) = (line_of(this), line_of(next));
        let block = next_line
            .checked_sub(1)
            .and_then(|i| lines.get(i))
            .map(|l| l.trim_start())
            .is_some_and(|l| l.starts_with("- ") || l.starts_with(&format!("{}:", next.kind())));
        if this_line > 0 && next_line > this_line && block {
            splits.push((at, next_line));
        }
    }
    splits
}

/// The line a planned resource's type is written on (0: not known).
fn line_of(resource: &PlannedResource<'_>) -> usize {
    usize::try_from(resource.resource.value.kind.referenced.line()).unwrap_or(0)
}

/// The first 16 bytes of a hash, in hex.
fn hex(hash: &Sha256) -> String {
    hash.clone()
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a key is made of, besides a recipe's text.
struct Keyed<'a> {
    project: &'a Project,
    base: &'a Base<'a>,
    vars: &'a serde_json::Map<String, serde_json::Value>,
    files: Vec<std::path::PathBuf>,
}

impl Keyed<'_> {
    /// Add a recipe's text (or the first part of it) to `hash`, with the
    /// templates and files it names, the variables all of these name, and
    /// the host when they read `host.` or `facts.`.
    fn add(&self, hash: &mut Sha256, text: &str) {
        let project = self.project;
        let mut texts = vec![text.to_string()];
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
        for path in &self.files {
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
        for (name, value) in self.vars {
            if texts.iter().any(|t| t.contains(name.as_str())) {
                hash.update(format!("var {name}={value}\n").as_bytes());
            }
        }
        if texts
            .iter()
            .any(|t| t.contains("host.") || t.contains("facts."))
        {
            hash.update(format!("host {} {:?}\n", self.base.host, self.base.groups).as_bytes());
            hash.update(machine_size().as_bytes());
        }
    }
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

/// A layer is saved once what was applied since the last saved one took
/// this long: about what saving costs (`docker commit` took 1.6–2.5 s on
/// our machines, whatever the size of the change). A cheaper layer is
/// applied again next time rather than saved.
pub const SAVE_AFTER_SECONDS: f64 = 2.0;

/// [`SAVE_AFTER_SECONDS`], or `REDGREEN_SNAPSHOT_AFTER` (seconds; 0 saves
/// every layer).
fn save_after_seconds() -> f64 {
    std::env::var("REDGREEN_SNAPSHOT_AFTER")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(SAVE_AFTER_SECONDS)
}

/// The layers of a test host, how many of them the deepest snapshot holds,
/// and the host made from that snapshot (beside the fresh one, which runs
/// the red phase meanwhile).
pub struct Prepared {
    /// Every layer, in order.
    pub layers: Vec<Layer>,
    /// How many of them the snapshot holds (0: none).
    pub depth: usize,
    /// The host made from the snapshot, under [`twin_name`] until it takes
    /// the fresh host's place.
    pub twin: Option<TestHostRecord>,
}

/// The name of a test host made from a snapshot until the fresh one is
/// gone (its hostname inside is the test host's own).
pub fn twin_name(host: &str) -> String {
    format!("{host}.next")
}

/// Find the deepest snapshot of a test host's layers and make a host from
/// it. None when the driver keeps no snapshots or the image is not there
/// yet (it is being made: no snapshot can have its id).
pub async fn prepare(
    project: &Project,
    driver: &dyn Driver,
    spec: &TestHostSpec,
    target: &Target,
    resources: &HostResources<'_>,
    progress: &(dyn for<'s> Fn(&'s str) + Sync),
) -> Option<Prepared> {
    let image_id = driver.image_id(&spec.image).await?;
    let base = Base {
        project: &driver.state().id,
        image_id: &image_id,
        platform: &spec.platform,
        host: &spec.name,
        groups: &target.groups,
    };
    let layers = layers(project, &base, resources);
    let mut depth = 0;
    for (i, layer) in layers.iter().enumerate().rev() {
        if driver.has_snapshot(&layer.key).await {
            depth = i + 1;
            break;
        }
    }
    let mut twin = None;
    if depth > 0 {
        let from = TestHostSpec {
            name: twin_name(&spec.name),
            hostname: Some(spec.name.clone()),
            image: driver.snapshot_image(&layers[depth - 1].key),
            ..spec.clone()
        };
        // A snapshot that cannot be started: from the fresh image, all of it.
        match driver.create(&from, progress).await {
            Ok(made) => twin = Some(made),
            Err(_) => depth = 0,
        }
    }
    Some(Prepared {
        layers,
        depth,
        twin,
    })
}

/// What a layered converge of one test host did.
pub struct Layered {
    /// The converge, every part of it in one report.
    pub report: HostReport,
    /// Layer by layer: from the cache or applied.
    pub layers: Vec<crate::report::cycle::Layer>,
    /// The host to go on with: the one made from a snapshot when one was used.
    pub target: Target,
}

/// How a layered converge applies its layers: the engine's options, the
/// connect timeout of a host made from a snapshot, and where events go.
#[derive(Clone, Copy)]
pub struct Applying<'a> {
    /// The engine's options.
    pub options: &'a EngineOptions,
    /// How long connecting to the host may take.
    pub connect_timeout: std::time::Duration,
    /// Where progress goes.
    pub reporter: &'a dyn Reporter,
}

/// Converge one test host (its job, and what [`prepare`] made of it) from
/// its deepest snapshot: the fresh host (which ran the red phase) goes, the
/// one made from the snapshot takes its place, what lives in memory of the cached layers is converged
/// (services, kernel parameters) with the first layer left to apply, then
/// each remaining layer is applied, and saved when it was worth it
/// ([`SAVE_AFTER_SECONDS`]).
pub async fn converge<'p>(
    project: &'p Project,
    driver: &dyn Driver,
    spec: &TestHostSpec,
    (job, prepared): (Job<'p>, Option<Prepared>),
    applying: &Applying<'_>,
) -> Layered {
    let Applying {
        options,
        connect_timeout,
        reporter,
    } = *applying;
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
    let prepared = match prepared {
        Some(prepared) => prepared,
        // The image was made by this run: no snapshot of it yet.
        None => match prepare(project, driver, spec, &job.target, &job.resources, &|_| {}).await {
            Some(prepared) => prepared,
            None => {
                let all = job.resources.resources.clone();
                return Layered {
                    report: run(job.target.clone(), all).await,
                    layers: Vec::new(),
                    target: job.target.clone(),
                };
            }
        },
    };
    let Prepared {
        layers,
        depth,
        twin,
    } = prepared;
    let of = |layer: &Layer| -> Vec<PlannedResource<'p>> {
        layer
            .resources
            .iter()
            .map(|&i| job.resources.resources[i].clone())
            .collect()
    };
    // The host made from the snapshot goes on under the test host's name.
    let (target, record) = match &twin {
        Some(twin) => {
            let named = TestHostRecord {
                name: spec.name.clone(),
                ..twin.clone()
            };
            (
                crate::workflow::test_hosts::target_of(project, driver, &named, connect_timeout),
                Some(named),
            )
        }
        None => (job.target.clone(), driver.state().record(&spec.name)),
    };
    let apply = async {
        let mut parts: Vec<HostReport> = Vec::new();
        let mut done = Vec::new();
        let shown = |layer: &Layer, from_cache: bool, seconds: f64| crate::report::cycle::Layer {
            recipe: layer.recipe.clone(),
            part: layer.part.clone(),
            from_cache,
            seconds,
        };
        // What lives in memory of the cached layers goes with the first
        // layer to apply: one converge.
        let mut in_memory: Vec<PlannedResource<'p>> = layers[..depth]
            .iter()
            .flat_map(&of)
            .filter(|p| lives_in_memory(p.kind()))
            .collect();
        for layer in &layers[..depth] {
            done.push(shown(layer, true, 0.0));
        }
        let save_after = save_after_seconds();
        let mut unsaved = 0.0;
        for layer in &layers[depth..] {
            if parts.last().is_some_and(|p| p.outcome != HostOutcome::Ok) {
                break;
            }
            let mut resources = std::mem::take(&mut in_memory);
            resources.extend(of(layer));
            let part = run(target.clone(), resources).await;
            done.push(shown(layer, false, part.seconds));
            unsaved += part.seconds;
            let name = match &layer.part {
                Some(part) => format!("{} ({part})", layer.recipe),
                None => layer.recipe.clone(),
            };
            if part.outcome == HostOutcome::Ok
                && unsaved >= save_after
                && let Some(record) = &record
                && (driver.has_snapshot(&layer.key).await
                    || driver.snapshot(record, &layer.key, &name).await.is_ok())
            {
                unsaved = 0.0;
            }
            parts.push(part);
        }
        if !in_memory.is_empty() {
            parts.push(run(target.clone(), in_memory).await);
        }
        (parts, done)
    };
    // The fresh host goes while the other converges.
    let gone = async {
        if twin.is_some()
            && let Some(fresh) = driver.state().record(&spec.name)
        {
            let _ = driver.destroy(&fresh).await;
        }
    };
    let ((), (parts, done)) = futures::join!(gone, apply);
    if let Some(twin) = &twin {
        let _ = driver.state().rename(twin, &spec.name);
    }
    let mut report = match merge(parts) {
        Some(report) => report,
        // Nothing to apply and nothing in memory: an empty converge still
        // records the ledger and says how the host is.
        None => run(target.clone(), Vec::new()).await,
    };
    // From the first layer applied to the last (the host made from the
    // snapshot was made with the fresh one).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The layers of host `h` whose one group has recipes `a` and `b`:
    /// (recipe, part, how many resources).
    fn layers_of(a: &str, b: &str) -> Vec<(String, Option<String>, usize, String)> {
        let (_dir, project) = crate::config::testing::project(&[
            (
                "redgreen.yml",
                "hosts:\n  h: { address: 127.0.0.1, groups: [g] }\ngroups:\n  g: { recipes: [a, b] }\n",
            ),
            ("recipes/a.yml", a),
            ("recipes/b.yml", b),
        ]);
        let (_, resources) = crate::config::testing::expand(&project, &["g".into()]);
        let base = Base {
            project: "p",
            image_id: "sha256:1",
            platform: "debian-12",
            host: "h",
            groups: &["g".into()],
        };
        layers(&project, &base, &resources)
            .into_iter()
            .map(|l| (l.recipe, l.part, l.resources.len(), l.key))
            .collect()
    }

    const A: &str = "resources:\n  - file: /etc/a\n    content: a\n";
    const B: &str = "resources:\n  - package: [curl, jq]\n  - package: hello\n  - file: /etc/b\n    content: b\n  - link: /etc/c\n    to: /etc/b\n";

    fn shape(
        layers: &[(String, Option<String>, usize, String)],
    ) -> Vec<(&str, Option<&str>, usize)> {
        layers
            .iter()
            .map(|(r, p, n, _)| (r.as_str(), p.as_deref(), *n))
            .collect()
    }

    #[test]
    fn a_recipe_splits_after_its_package_transaction() {
        let layers = layers_of(A, B);
        assert_eq!(
            shape(&layers),
            [
                ("a", None, 1),
                ("b", Some("to package hello"), 2),
                ("b", Some("from file /etc/b"), 2),
            ]
        );
    }

    #[test]
    fn an_edit_below_the_packages_keeps_their_key_and_one_above_changes_it() {
        let before = layers_of(A, B);
        let below = layers_of(A, &B.replace("content: b", "content: bb"));
        assert_eq!(before[0].3, below[0].3);
        assert_eq!(before[1].3, below[1].3, "the package part kept its key");
        assert_ne!(before[2].3, below[2].3);
        let above = layers_of(A, &B.replace("hello", "hello-traditional"));
        assert_ne!(before[1].3, above[1].3);
        // A change to the first recipe changes every key after it.
        let first = layers_of(&A.replace("content: a", "content: aa"), B);
        for (old, new) in before.iter().zip(&first) {
            assert_ne!(old.3, new.3);
        }
    }

    #[test]
    fn no_split_without_other_resources_after_the_packages_or_in_flow_style() {
        let only = "resources:\n  - file: /etc/b\n    content: b\n  - package: hello\n";
        assert_eq!(shape(&layers_of(A, only)), [("a", None, 1), ("b", None, 2)]);
        let flow = "resources: [{package: hello}, {file: /etc/b, content: b}]\n";
        assert_eq!(shape(&layers_of(A, flow)), [("a", None, 1), ("b", None, 2)]);
        let flow_lines = "resources: [\n  {package: hello},\n  {file: /etc/b, content: b}\n]\n";
        assert_eq!(
            shape(&layers_of(A, flow_lines)),
            [("a", None, 1), ("b", None, 2)]
        );
    }
}
