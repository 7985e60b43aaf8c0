//! `redgreen watch`: the inner loop. Test hosts stay up; on every saved
//! recipe, template, file, feature or redgreen.yml, what the change can
//! affect runs again, and the result shows red or green with the time from
//! the save to the result.
//!
//! What runs again, and why that is sound:
//! * only feature files changed: those features are verified again, on every
//!   test host (a feature does not change a host, so no converge is needed);
//! * a recipe changed: the test hosts that apply it (directly or through an
//!   include) converge and verify again;
//! * a file under files/ changed: the test hosts with a `file` resource
//!   whose `source` is that file;
//! * anything else (a template, which may be a partial of any other;
//!   redgreen.yml; features/steps.yml): every test host.
//!
//! A save with a mistake in it is reported with the file and line, and
//! nothing runs until the next save.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use notify_debouncer_mini::{DebounceEventResult, new_debouncer_opt, notify};
use owo_colors::{OwoColorize, Stream};

use crate::config::{Overrides, Project};
use crate::diagnostic::Diags;
use crate::driver::{Driver, TestHostSpec};
use crate::engine::{self, HostOutcome, Mode, Status};
use crate::resource;
use crate::transport::Target;
use crate::verify::{self, Outcome, Suite};
use crate::workflow::cycle;

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Hosts worked on at once.
    pub concurrency: usize,
    /// How long one script may take.
    pub command_timeout: Duration,
    /// How long an SSH connection may take.
    pub connect_timeout: Duration,
    /// `--var` values.
    pub overrides: Overrides,
    /// Set by Ctrl-C, SIGTERM or SIGHUP: the watch stops once the round
    /// that runs ends.
    pub interrupt: Arc<engine::Interrupt>,
}

/// The folders and files whose changes matter.
const WATCHED: &[&str] = &["recipes", "templates", "files", "features", "redgreen.yml"];

/// Which part of a project a changed path is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Changed {
    /// A feature file (relative path).
    Feature(PathBuf),
    /// A recipe, by name.
    Recipe(String),
    /// A file under files/ (relative to files/).
    File(String),
    /// Something that may affect every host.
    Everything(String),
}

/// What a project path means to the loop; None for what does not matter
/// (editor swap files, .redgreen/, target/).
fn classify(relative: &Path) -> Option<Changed> {
    let text = relative.to_string_lossy().replace('\\', "/");
    let name = relative.file_name()?.to_string_lossy().into_owned();
    if name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") {
        return None;
    }
    if text == "redgreen.yml" {
        return Some(Changed::Everything(text));
    }
    if let Some(rest) = text.strip_prefix("features/") {
        return Some(if rest.ends_with(".feature") {
            Changed::Feature(relative.to_path_buf())
        } else {
            Changed::Everything(text)
        });
    }
    if let Some(rest) = text.strip_prefix("recipes/") {
        let recipe = rest
            .strip_suffix(".yml")
            .or_else(|| rest.strip_suffix(".yaml"))?;
        return Some(Changed::Recipe(recipe.to_string()));
    }
    if let Some(rest) = text.strip_prefix("files/") {
        return Some(Changed::File(rest.to_string()));
    }
    if text.starts_with("templates/") {
        return Some(Changed::Everything(text));
    }
    None
}

/// The test hosts a set of changes can affect (all of them for `Everything`).
fn affected(
    project: &Project,
    targets: &[Target],
    changes: &BTreeSet<Changed>,
    overrides: &Overrides,
) -> Vec<String> {
    let everything = changes.iter().any(|c| matches!(c, Changed::Everything(_)));
    let jobs = engine::jobs(project, targets.to_vec(), overrides).unwrap_or_default();
    jobs.iter()
        .filter(|job| {
            everything
                || changes.iter().any(|change| match change {
                    Changed::Recipe(name) => job.resources.recipes.contains(name),
                    Changed::File(name) => job.resources.resources.iter().any(|r| {
                        resource::sources(&r.resource.value)
                            .iter()
                            .any(|source| source.value == *name)
                    }),
                    Changed::Feature(_) | Changed::Everything(_) => false,
                })
        })
        .map(|job| job.target.name.clone())
        .collect()
}

/// Run the loop until Ctrl-C.
pub async fn run(
    root: &Path,
    driver: &dyn Driver,
    specs: &[TestHostSpec],
    options: &Options,
) -> Result<i32, Diags> {
    let project = load(root, &options.overrides)?.0;
    // Test hosts that are up are used as they are; the others are made.
    let running: Vec<String> = driver
        .instances()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.state == "running")
        .map(|i| i.id)
        .collect();
    let mut targets = Vec::new();
    for spec in specs {
        let up = driver
            .state()
            .record(&spec.name)
            .is_some_and(|r| running.contains(&r.container));
        if up {
            crate::outln!("using {} (already up)", spec.name);
        } else {
            crate::outln!("creating {}...", spec.name);
        }
        let quiet = |_: &str| {};
        match driver.create(spec, &quiet).await {
            Ok(record) => targets.push(cycle::target_of(
                &project,
                driver,
                &record,
                options.connect_timeout,
            )),
            Err(err) => crate::errln!("cannot create {}: {err}", spec.name),
        }
    }
    if targets.is_empty() {
        return Ok(crate::exit::UNREACHABLE);
    }

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
    // Links are not followed: one to `/` (or a loop) would have the watcher
    // walk the whole machine. Reading the project follows them only inside
    // it (config::walk), and a round reads everything again anyway.
    let config = notify_debouncer_mini::Config::default()
        .with_timeout(Duration::from_millis(150))
        .with_notify_config(notify::Config::default().with_follow_symlinks(false));
    let mut debouncer = new_debouncer_opt::<_, notify::RecommendedWatcher>(
        config,
        move |result: DebounceEventResult| {
            if let Ok(events) = result {
                let _ = tx.send(events.into_iter().map(|e| e.path).collect());
            }
        },
    )
    .map_err(|e| {
        Diags::from(crate::diagnostic::Diag::plain(format!(
            "cannot watch the project: {e}"
        )))
    })?;
    for watched in WATCHED {
        let path = root.join(watched);
        if path.exists() {
            let mode = if path.is_dir() {
                notify::RecursiveMode::Recursive
            } else {
                notify::RecursiveMode::NonRecursive
            };
            debouncer.watcher().watch(&path, mode).map_err(|e| {
                Diags::from(crate::diagnostic::Diag::plain(format!(
                    "cannot watch {}: {e}",
                    path.display()
                )))
            })?;
        }
    }
    // A Ctrl-C (or SIGTERM, SIGHUP) that comes while a round runs is kept
    // and stops the watch when that round ends.
    crate::outln!(
        "watching recipes/, templates/, files/, features/ and redgreen.yml on {} test host(s); Ctrl-C to stop",
        targets.len()
    );
    let root_abs = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    // Events also come for reads (redgreen's own) and for saves that change
    // nothing: only a path whose content differs from before counts.
    let mut seen = Snapshot::of(&root_abs);

    // The first round: converge and verify everything.
    let everything: BTreeSet<Changed> = [Changed::Everything("start".into())].into();
    round(root, driver, &targets, &everything, None, "start", options).await;

    loop {
        tokio::select! {
            batch = rx.recv() => {
                let Some(mut paths) = batch else { break };
                // Saves come in bursts (write, rename, chmod): take all that is there.
                while let Ok(more) = rx.try_recv() {
                    paths.extend(more);
                }
                let mut changes = BTreeSet::new();
                let mut saved_at = SystemTime::UNIX_EPOCH;
                let mut names = BTreeSet::new();
                for path in paths {
                    let relative = path.strip_prefix(&root_abs).or_else(|_| path.strip_prefix(root)).map(Path::to_path_buf).unwrap_or(path.clone());
                    if !seen.update(&root_abs, &relative) {
                        continue;
                    }
                    if let Some(change) = classify(&relative) {
                        names.insert(relative.to_string_lossy().into_owned());
                        changes.insert(change);
                        if let Ok(modified) = std::fs::metadata(&path).and_then(|m| m.modified()) {
                            saved_at = saved_at.max(modified);
                        }
                    }
                }
                if changes.is_empty() {
                    continue;
                }
                if saved_at == SystemTime::UNIX_EPOCH {
                    saved_at = SystemTime::now();
                }
                let what = names.into_iter().collect::<Vec<_>>().join(", ");
                round(root, driver, &targets, &changes, Some(saved_at), &what, options).await;
            }
            _ = options.interrupt.wait() => break,
        }
    }
    drop(debouncer);
    crate::outln!("\nstopped; the test hosts are kept (`redgreen hosts destroy` removes them)");
    Ok(crate::exit::OK)
}

/// What each watched file holds (a hash of its content), to tell a real
/// change from an event without one.
struct Snapshot(std::collections::BTreeMap<PathBuf, Option<String>>);

impl Snapshot {
    fn of(root: &Path) -> Snapshot {
        let mut snapshot = Snapshot(Default::default());
        for watched in WATCHED {
            let path = root.join(watched);
            if path.is_file() {
                snapshot.update(root, Path::new(watched));
            } else {
                for file in crate::files::walk::files(root, &path) {
                    if let Ok(relative) = file.strip_prefix(root) {
                        let relative = relative.to_path_buf();
                        snapshot
                            .0
                            .insert(relative.clone(), fingerprint(&root.join(&relative)));
                    }
                }
            }
        }
        snapshot
    }

    /// Record the path's current content; true when it differs from before.
    fn update(&mut self, root: &Path, relative: &Path) -> bool {
        let now = fingerprint(&root.join(relative));
        let before = self.0.insert(relative.to_path_buf(), now.clone());
        before.flatten() != now
    }
}

/// The sha256 of a file's content; None when it is not a readable file.
fn fingerprint(path: &Path) -> Option<String> {
    if !path.is_file() {
        return None;
    }
    std::fs::read(path)
        .ok()
        .map(|data| crate::resource::file::sha256_hex(&data))
}

/// Load and check the project and its features.
fn load(root: &Path, overrides: &Overrides) -> Result<(Project, Suite), Diags> {
    let project = Project::load(root)?;
    let mut diags = project.validate(overrides);
    let suite = match Suite::load(&project, &[]) {
        Ok(suite) => Some(suite),
        Err(found) => {
            diags.0.extend(found.0);
            None
        }
    };
    diags.into_result()?;
    Ok((project, suite.expect("problems were returned above")))
}

/// One round: reload, converge what the change affects, verify, report.
async fn round(
    root: &Path,
    driver: &dyn Driver,
    created: &[Target],
    changes: &BTreeSet<Changed>,
    saved_at: Option<SystemTime>,
    what: &str,
    options: &Options,
) {
    let started = Instant::now();
    let clock = crate::ledger::now();
    let time = clock.get(11..19).unwrap_or(&clock).to_string();
    let (project, suite) = match load(root, &options.overrides) {
        Ok(loaded) => loaded,
        Err(diags) => {
            crate::outln!("[{time}] {what} → a mistake, nothing ran:");
            crate::cli::print_diags(&diags);
            return;
        }
    };
    // redgreen.yml may have changed the test hosts' groups and vars.
    let all_targets: Vec<Target> = created
        .iter()
        .map(|t| match driver.state().record(&t.name) {
            Some(record) => cycle::target_of(&project, driver, &record, options.connect_timeout),
            None => t.clone(),
        })
        .collect();
    let all_targets = all_targets.as_slice();
    let features_only: Vec<PathBuf> = changes
        .iter()
        .filter_map(|c| match c {
            Changed::Feature(path) => Some(path.clone()),
            _ => None,
        })
        .collect();
    let only_features = features_only.len() == changes.len();
    let mut line = format!("[{time}] {what} →");

    // Converge the hosts the change can affect.
    let hosts: Vec<String> = if only_features {
        Vec::new()
    } else {
        affected(&project, all_targets, changes, &options.overrides)
    };
    let converge_targets: Vec<Target> = all_targets
        .iter()
        .filter(|t| hosts.contains(&t.name))
        .cloned()
        .collect();
    let mut converge_failed = false;
    if !converge_targets.is_empty() {
        let jobs = engine::jobs(&project, converge_targets.clone(), &options.overrides)
            .unwrap_or_default();
        let engine_options = engine::Options {
            mode: Mode::Converge,
            concurrency: options.concurrency,
            want_diff: false,
            command_timeout: options.command_timeout,
            tags: Vec::new(),
            interrupt: Arc::new(engine::Interrupt::default()),
            revision: crate::ledger::Revision::of(&project.root),
            // Test hosts are thrown away: removals need no approval there.
            approval: engine::Approval::Everything,
        };
        let report = engine::run(&project, jobs, &engine_options, Arc::new(engine::Quiet)).await;
        let changed: usize = report.hosts.iter().map(|h| h.count(Status::Changed)).sum();
        let failed: Vec<String> = report
            .hosts
            .iter()
            .flat_map(|h| {
                let outcome = match &h.outcome {
                    HostOutcome::Ok | HostOutcome::Interrupted(_) => None,
                    HostOutcome::Failed(reason)
                    | HostOutcome::Unreachable(reason)
                    | HostOutcome::Refused(reason) => Some(format!("{}: {reason}", h.host)),
                };
                outcome.into_iter().chain(
                    h.resources
                        .iter()
                        .filter(|r| r.status == Status::Failed)
                        .map(move |r| {
                            format!(
                                "{}: {} failed: {}",
                                h.host,
                                r.title,
                                r.message.clone().unwrap_or_default()
                            )
                        }),
                )
            })
            .collect();
        converge_failed = !failed.is_empty();
        line.push_str(&format!(
            " converge {} host(s): {changed} changed",
            converge_targets.len()
        ));
        if converge_failed {
            line.push_str(&format!(", failed:\n    {}\n  ", failed.join("\n    ")));
        } else {
            line.push_str(" ·");
        }
    }

    // Verify what the change can affect.
    let (suite, verify_targets): (Suite, Vec<Target>) = if only_features {
        match Suite::load(&project, &features_only) {
            Ok(suite) => (suite, all_targets.to_vec()),
            Err(diags) => {
                crate::outln!("{line} a mistake, nothing ran:");
                crate::cli::print_diags(&diags);
                return;
            }
        }
    } else {
        (suite, converge_targets)
    };
    let verify_options = verify::Options {
        tags: None,
        concurrency: options.concurrency,
        command_timeout: options.command_timeout,
        verbose: false,
        fail_fast: false,
        wait_within: true,
    };
    let report = if verify_targets.is_empty() || suite.features.is_empty() {
        verify::Report::default()
    } else {
        verify::run_features(
            &suite,
            &verify_targets,
            &verify_options,
            verify::Reporters::none(),
        )
        .await
    };
    let passed = report.count(Outcome::Passed);
    let failed: Vec<&verify::ScenarioResult> = report
        .scenarios
        .iter()
        .filter(|s| matches!(s.status, Outcome::Failed | Outcome::Unreachable))
        .collect();
    if verify_targets.is_empty() {
        line.push_str(" no test host is affected");
    } else {
        line.push_str(&format!(
            " verify: {passed} passed, {} failed",
            failed.len()
        ));
    }
    let green = failed.is_empty() && !converge_failed;
    let verdict = if green {
        "GREEN"
            .if_supports_color(Stream::Stdout, |v| v.green())
            .to_string()
    } else {
        "RED"
            .if_supports_color(Stream::Stdout, |v| v.red())
            .to_string()
    };
    // The first round follows no save: it says how long it took.
    let took = match saved_at {
        Some(saved_at) => format!(
            "{:.1}s from save to result",
            SystemTime::now()
                .duration_since(saved_at)
                .unwrap_or_else(|_| started.elapsed())
                .as_secs_f64()
        ),
        None => format!("in {:.1}s", started.elapsed().as_secs_f64()),
    };
    crate::outln!("{line} → {verdict} ({took})");
    for scenario in failed {
        crate::outln!(
            "    ✘ {} {} on {}",
            scenario.id(),
            scenario.scenario,
            scenario.host
        );
        match &scenario.failure {
            Some(failure) => {
                crate::outln!("        {}", failure.step);
                for line in failure.message.lines().take(6) {
                    crate::outln!("        {line}");
                }
            }
            None => crate::outln!("        unreachable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        assert_eq!(
            classify(Path::new("features/web.feature")),
            Some(Changed::Feature("features/web.feature".into()))
        );
        assert_eq!(
            classify(Path::new("features/steps.yml")),
            Some(Changed::Everything("features/steps.yml".into()))
        );
        assert_eq!(
            classify(Path::new("recipes/web/nginx.yml")),
            Some(Changed::Recipe("web/nginx".into()))
        );
        assert_eq!(
            classify(Path::new("files/index.html")),
            Some(Changed::File("index.html".into()))
        );
        assert_eq!(
            classify(Path::new("templates/site.hbs")),
            Some(Changed::Everything("templates/site.hbs".into()))
        );
        assert_eq!(
            classify(Path::new("redgreen.yml")),
            Some(Changed::Everything("redgreen.yml".into()))
        );
        assert_eq!(classify(Path::new("recipes/.web.yml.swp")), None);
        assert_eq!(classify(Path::new("recipes/web.yml~")), None);
        assert_eq!(classify(Path::new(".redgreen/hosts/x.json")), None);
    }
}
