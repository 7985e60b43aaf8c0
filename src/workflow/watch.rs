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
use std::time::{Duration, Instant, SystemTime};

use notify_debouncer_mini::{DebounceEventResult, new_debouncer_opt, notify};

use super::{Settings, test_hosts};
use crate::config::{Overrides, Project};
use crate::diagnostic::Diags;
use crate::driver::{Driver, TestHostSpec};
use crate::engine::{self, HostOutcome, Status};
use crate::report::watch::{Converged, Ended, Round, Took, Watch};
use crate::report::{Event, Reporter};
use crate::resource;
use crate::transport::Target;
use crate::verify::{self, Outcome, Suite};

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
    settings: &Settings,
    reporter: &dyn Reporter,
) -> Result<i32, Diags> {
    let project = super::load(root, &settings.overrides)?.0;
    let say = |watch: Watch<'_>| reporter.event(Event::Watch(watch));
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
        let host = spec.name.as_str();
        say(if up {
            Watch::Using { host }
        } else {
            Watch::Creating { host }
        });
        let quiet = |_: &str| {};
        match driver.create(spec, &quiet).await {
            Ok(record) => targets.push(test_hosts::target_of(
                &project,
                driver,
                &record,
                settings.connect_timeout,
            )),
            Err(err) => say(Watch::CannotCreate {
                host,
                error: &err.to_string(),
            }),
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
    say(Watch::Watching {
        hosts: targets.len(),
    });
    let root_abs = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    // Events also come for reads (redgreen's own) and for saves that change
    // nothing: only a path whose content differs from before counts.
    let mut seen = Snapshot::of(&root_abs);

    // The first round: converge and verify everything.
    let everything: BTreeSet<Changed> = [Changed::Everything("start".into())].into();
    let first = round(
        root,
        driver,
        &targets,
        Save {
            changes: &everything,
            at: None,
            what: "start",
        },
        settings,
        reporter,
    )
    .await;
    say(Watch::Round(&first));

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
                let done = round(root, driver, &targets, Save { changes: &changes, at: Some(saved_at), what: &what }, settings, reporter).await;
                say(Watch::Round(&done));
            }
            _ = settings.interrupt.wait() => break,
        }
    }
    drop(debouncer);
    say(Watch::Stopped);
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

/// What a round is about: the changes seen, when the last was saved (none
/// for the first round), and their names.
struct Save<'a> {
    changes: &'a BTreeSet<Changed>,
    at: Option<SystemTime>,
    what: &'a str,
}

/// One round: reload, converge what the change affects, verify. It says
/// `running…` first, and each host's progress as it converges.
async fn round(
    root: &Path,
    driver: &dyn Driver,
    created: &[Target],
    save: Save<'_>,
    settings: &Settings,
    reporter: &dyn Reporter,
) -> Round {
    let Save {
        changes,
        at: saved_at,
        what,
    } = save;
    reporter.event(Event::Watch(Watch::Running { what }));
    let started = Instant::now();
    let clock = crate::engine::ledger::now();
    let mut round = Round {
        time: clock.get(11..19).unwrap_or(&clock).to_string(),
        what: what.to_string(),
        converge: None,
        ended: Ended::Verified {
            unaffected: true,
            passed: 0,
            failed: Vec::new(),
            took: Took::InAll(0.0),
        },
    };
    let (project, suite) = match super::load(root, &settings.overrides) {
        Ok(loaded) => loaded,
        Err(diags) => {
            round.ended = Ended::Mistake(diags);
            return round;
        }
    };
    // redgreen.yml may have changed the test hosts' groups and vars.
    let all_targets: Vec<Target> = created
        .iter()
        .map(|t| match driver.state().record(&t.name) {
            Some(record) => {
                test_hosts::target_of(&project, driver, &record, settings.connect_timeout)
            }
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

    // Converge the hosts the change can affect.
    let hosts: Vec<String> = if only_features {
        Vec::new()
    } else {
        affected(&project, all_targets, changes, &settings.overrides)
    };
    let converge_targets: Vec<Target> = all_targets
        .iter()
        .filter(|t| hosts.contains(&t.name))
        .cloned()
        .collect();
    if !converge_targets.is_empty() {
        let jobs = engine::jobs(&project, converge_targets.clone(), &settings.overrides)
            .unwrap_or_default();
        // A Ctrl-C during a round stops the watch once the round is done,
        // not the round's converge.
        let options = settings.test_host_converge(&project, false, Default::default());
        let report = super::contract::converge(
            &project,
            &suite,
            jobs,
            &options,
            &settings.features(true),
            &|event| reporter.engine(event),
        )
        .await;
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
        round.converge = Some(Converged {
            hosts: converge_targets.len(),
            changed: report.hosts.iter().map(|h| h.count(Status::Changed)).sum(),
            failed,
        });
    }

    // Verify what the change can affect.
    let (suite, verify_targets): (Suite, Vec<Target>) = if only_features {
        match Suite::load(&project, &features_only) {
            Ok(suite) => (suite, all_targets.to_vec()),
            Err(diags) => {
                round.ended = Ended::Mistake(diags);
                return round;
            }
        }
    } else {
        (suite, converge_targets)
    };
    let report = if verify_targets.is_empty() || suite.features.is_empty() {
        verify::Report::default()
    } else {
        verify::run_features(&suite, &verify_targets, &settings.features(true), None).await
    };
    // The first round follows no save: it says how long it took.
    let took = match saved_at {
        Some(saved_at) => Took::FromSave(
            SystemTime::now()
                .duration_since(saved_at)
                .unwrap_or_else(|_| started.elapsed())
                .as_secs_f64(),
        ),
        None => Took::InAll(started.elapsed().as_secs_f64()),
    };
    round.ended = Ended::Verified {
        unaffected: verify_targets.is_empty(),
        passed: report.count(Outcome::Passed),
        failed: report
            .scenarios
            .into_iter()
            .filter(|s| matches!(s.status, Outcome::Failed | Outcome::Unreachable))
            .collect(),
        took,
    };
    round
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
