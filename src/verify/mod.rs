//! Verify: Gherkin features run against hosts, with the cucumber crate.
//!
//! * [`library`] holds every step phrase, built-in ([`steps`]) and from
//!   `features/steps.yml` ([`user_steps`]), and matches steps to them;
//! * [`features`] loads feature files, checks every step before any host is
//!   touched, and expands each scenario once per host it selects;
//! * [`world`] is the cucumber World: one scenario on one host;
//! * `run` drives cucumber; `collect` turns its events into [`results`]
//!   and typed [`Event`]s, which [`crate::report`] turns into output.
//!
//! [`Suite::load`] reads and checks; [`run_features`] runs and returns one
//! result per (scenario, host). Both are what `redgreen verify` and
//! `redgreen test` are made of.

mod collect;
mod dispatch;
pub mod features;
pub mod library;
pub mod results;
mod run;
mod select;
pub mod steps;
pub mod user_steps;
pub mod world;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gherkin::tagexpr::TagOperation;

pub use features::FeatureFile;
pub use library::Library;
pub use results::{
    HostSummary, Outcome, Reached, Report, ScenarioResult, StepCounts, StepFailure, StepResult,
    StepStatus,
};

use crate::config::{Project, test_host_name};
use crate::diagnostic::{Diag, Diags};
use crate::transport::Target;

/// Features and steps, loaded and checked.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The feature files, in path order.
    pub features: Vec<FeatureFile>,
    /// Every phrase: built-in, then the user's.
    pub library: Arc<Library>,
    /// Test host name → the entry name `@host:` tags may use for it too.
    aliases: BTreeMap<String, String>,
    /// waivers.yml: failures shown as waived until their date.
    pub waivers: Vec<crate::config::waivers::Waiver>,
}

/// Every phrase a project's features may use: the built-ins, then
/// `features/steps.yml`, with the problems found in steps.yml.
pub fn project_library(root: &std::path::Path) -> (Library, Diags) {
    let mut library = Library::builtin();
    let diags = user_steps::load(root, &mut library);
    (library, diags)
}

/// The names `@host:` and `@group:` tags may use in a project, and for each
/// test host (`HOST-PLATFORM`) the entry name (`HOST`) its tags may use too.
pub fn tag_names(project: &Project) -> (features::Names, BTreeMap<String, String>) {
    let inventory = &project.inventory;
    let mut names = features::Names {
        hosts: inventory
            .hosts
            .iter()
            .map(|(n, _)| n.value.clone())
            .collect(),
        groups: inventory.groups.names().map(str::to_string).collect(),
    };
    let mut aliases = BTreeMap::new();
    if let Some(test_hosts) = &inventory.test_hosts {
        for (entry, _) in test_hosts.hosts.iter() {
            names.hosts.push(entry.value.clone());
            for platform in &test_hosts.platforms {
                let full = test_host_name(&entry.value, &platform.value.name.value);
                names.hosts.push(full.clone());
                aliases.insert(full, entry.value.clone());
            }
        }
    }
    (names, aliases)
}

impl Suite {
    /// Load the features (every `*.feature` under `features/`, or the given
    /// files and directories) and `features/steps.yml`, and check every step,
    /// every DocString and DataTable a step needs, every argument that can be
    /// checked without a host, and every `@host:`/`@group:` tag. Touches no
    /// host.
    pub fn load(project: &Project, selection: &[PathBuf]) -> Result<Suite, Diags> {
        let (library, mut diags) = project_library(&project.root);
        let files = features::find(&project.root, selection)?;
        let (features, found) = features::load(&files);
        diags.0.extend(found.0);
        let (names, aliases) = tag_names(project);
        diags
            .0
            .extend(features::validate(&features, &library, Some(&names)).0);
        let waivers = crate::config::waivers::load(&project.root)
            .map_err(|found| diags.0.extend(found.0))
            .unwrap_or_default();
        diags.into_result()?;
        Ok(Suite {
            features,
            library: Arc::new(library),
            aliases,
            waivers,
        })
    }

    /// The names a target answers to in `@host:` tags.
    fn aliases_of(&self, name: &str) -> Vec<String> {
        let mut out = vec![name.to_string()];
        out.extend(self.aliases.get(name).cloned());
        out
    }

    /// How many scenarios the features have (before expansion per host).
    pub fn scenario_count(&self) -> usize {
        self.features
            .iter()
            .map(|f| {
                f.feature.scenarios.len()
                    + f.feature
                        .rules
                        .iter()
                        .map(|r| r.scenarios.len())
                        .sum::<usize>()
            })
            .sum()
    }
}

/// Parse a tag expression (`@smoke and not @slow`).
pub fn parse_tags(expression: &str) -> Result<TagOperation, Diag> {
    expression.parse::<TagOperation>().map_err(|e| {
        Diag::plain(format!("invalid tag expression '{expression}': {e}"))
            .help("tag expressions combine @tags with and, or, not and parentheses: \"@smoke and not @slow\"")
    })
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Only scenarios whose tags (with `@host:NAME`) match.
    pub tags: Option<TagOperation>,
    /// Hosts connecting at once.
    pub concurrency: usize,
    /// How long one command may take.
    pub command_timeout: Duration,
    /// Show the command that checked a failed step.
    pub verbose: bool,
    /// Stop starting scenarios after the first failure.
    pub fail_fast: bool,
    /// Try a `within N seconds` step again until it passes or the time is
    /// up; when false (the red phase of `test`, where red is expected), it
    /// is checked once.
    pub wait_within: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            tags: None,
            concurrency: 50,
            command_timeout: Duration::from_secs(600),
            verbose: false,
            fail_fast: false,
            wait_within: true,
        }
    }
}

/// What a run says while it runs, in file order (scenarios on different
/// hosts run at once; these come as cucumber's `Normalize` orders them).
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A feature's first scenario is about to be told.
    FeatureStarted {
        /// `Feature` (or the keyword of its language).
        keyword: &'a str,
        /// The feature's name.
        name: &'a str,
    },
    /// A scenario is done on a host.
    ScenarioDone(&'a ScenarioResult),
    /// Every scenario is done.
    Finished,
}

/// Where a run's events go.
pub type Listener<'a> = &'a (dyn Fn(Event<'_>) + Sync);

/// Run the suite's features against `targets`: every scenario once on every
/// host it selects, scenarios on different hosts concurrently. Returns one
/// result per (scenario, host); `listener`, when given, hears the run as it
/// goes. Verify never prints.
///
/// The future is not `Send` (cucumber runs every scenario as a future on the
/// calling task): await it where you are, or in `spawn_blocking` with
/// `Handle::block_on`. Run one suite for many hosts rather than many suites
/// at once: cucumber silences the process's panic hook while it runs.
pub async fn run_features(
    suite: &Suite,
    targets: &[Target],
    options: &VerifyOptions,
    listener: Option<Listener<'_>>,
) -> Report {
    run::execute(suite, targets, options, listener).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_example_matches_only_its_own_phrase() {
        let library = Library::builtin();
        for phrase in &library.phrases {
            let first = phrase.example.lines().next().unwrap();
            let found = library.find(first);
            assert_eq!(found.len(), 1, "{first}");
            assert_eq!(found[0].0.text, phrase.text, "{first}");
            if let Some(check) = phrase.check_args {
                assert_eq!(check(&found[0].1.values), Ok(()), "{first}");
            }
        }
    }

    #[test]
    fn every_should_has_its_should_not() {
        let library = Library::builtin();
        for phrase in library
            .phrases
            .iter()
            .filter(|p| p.text.contains(" should "))
        {
            let first = phrase.example.lines().next().unwrap();
            let negated = first.replacen(" should ", " should not ", 1);
            let found = library.find(&negated);
            assert_eq!(found.len(), 1, "{negated}");
            assert!(!found[0].1.should, "{negated}");
            let within = match first.strip_suffix(':') {
                Some(body) => format!("{body} within 5 seconds:"),
                None => format!("{first} within 5 seconds"),
            };
            assert_eq!(library.find(&within).len(), 1, "{within}");
        }
    }
}
