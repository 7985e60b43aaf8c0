//! The red-green cycle of `redgreen test`, as it reports: each test host
//! through the phases ([`HostCycle`]), each scenario before and after
//! converge ([`ScenarioCycle`]), what each phase did ([`PhaseSummary`]), and
//! the summary for people.

use std::collections::BTreeMap;

use owo_colors::{OwoColorize, Stream};
use serde::Serialize;

use crate::engine::{self, ResourceReport, Status};
use crate::verify::{self, Outcome};

/// The phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Creating the test host.
    Create,
    /// Verify before converge (expected red).
    Red,
    /// The first converge.
    Converge,
    /// Verify after converge (must be green).
    Green,
    /// The second converge (must change nothing).
    Idempotence,
    /// Destroying the test host.
    Destroy,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 6] = [
        Phase::Create,
        Phase::Red,
        Phase::Converge,
        Phase::Green,
        Phase::Idempotence,
        Phase::Destroy,
    ];

    /// The phase as shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Phase::Create => "create",
            Phase::Red => "verify (red)",
            Phase::Converge => "converge",
            Phase::Green => "verify (green)",
            Phase::Idempotence => "converge again",
            Phase::Destroy => "destroy",
        }
    }
}

/// One scenario on one host, before and after converge.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioCycle {
    /// `features/web.feature:12`.
    pub id: String,
    /// The feature's name.
    pub feature: String,
    /// The scenario's name.
    pub scenario: String,
    /// The host.
    pub host: String,
    /// Before converge.
    pub red: Option<Outcome>,
    /// After converge.
    pub green: Option<Outcome>,
    /// Why it failed after converge.
    pub failure: Option<verify::StepFailure>,
    /// Why it was red before converge (red for the right reason?).
    pub red_failure: Option<verify::StepFailure>,
}

impl ScenarioCycle {
    /// It passed before anything was converged: it does not test what the
    /// recipes do.
    pub fn already_green(&self) -> bool {
        self.red == Some(Outcome::Passed)
    }
}

/// One test host through the cycle.
#[derive(Debug, Clone, Serialize)]
pub struct HostCycle {
    /// `HOST-PLATFORM`.
    pub host: String,
    /// The platform.
    pub platform: String,
    /// Seconds each phase took for this host.
    pub phases: BTreeMap<Phase, f64>,
    /// Scenarios that passed / ran before converge.
    pub red: Counts,
    /// Scenarios that passed / ran after converge.
    pub green: Counts,
    /// The first converge's result.
    pub converge: Option<engine::HostReport>,
    /// Resources that changed in the second converge (empty: idempotent).
    pub not_idempotent: Vec<ResourceReport>,
    /// Whether the second converge ran.
    pub idempotence_checked: bool,
    /// What went wrong, phase by phase.
    pub problems: Vec<Problem>,
    /// Kept after the run (not destroyed).
    pub kept: bool,
    /// The first converge recipe by recipe, when snapshots were used:
    /// which recipes came from the cache and which were applied.
    pub layers: Vec<Layer>,
}

/// One layer of the first converge of a test host, with snapshots: a
/// recipe, or a part of one.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    /// The recipe.
    pub recipe: String,
    /// When the recipe is split: which part (`to package nginx-light`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// Its snapshot was reused: it was not applied.
    pub from_cache: bool,
    /// Seconds applying it took (0 from the cache).
    pub seconds: f64,
}

/// `base, webserver from cache; app applied in 1.2s`. A recipe whose parts
/// all came from the cache (or were all applied) is named once; one split
/// between the two is named with its parts: `webserver (to package
/// nginx-light) from cache; webserver (from directory /srv/www) applied`.
pub fn layers_text(layers: &[Layer]) -> String {
    let named = |from_cache: bool| -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for layer in layers.iter().filter(|l| l.from_cache == from_cache) {
            let split = layers
                .iter()
                .any(|l| l.recipe == layer.recipe && l.from_cache != from_cache);
            let name = match (&layer.part, split) {
                (Some(part), true) => format!("{} ({part})", layer.recipe),
                _ => layer.recipe.clone(),
            };
            if names.last() != Some(&name) {
                names.push(name);
            }
        }
        names
    };
    let (cached, applied) = (named(true), named(false));
    let seconds: f64 = layers.iter().map(|l| l.seconds).sum();
    let mut parts = Vec::new();
    if !cached.is_empty() {
        parts.push(format!("{} from cache", cached.join(", ")));
    }
    if applied.is_empty() {
        parts.push("nothing applied".to_string());
    } else {
        parts.push(format!("{} applied in {seconds:.1}s", applied.join(", ")));
    }
    parts.join("; ")
}

impl HostCycle {
    /// Green after converge, idempotent, and nothing else went wrong.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The resources whose first converge failed.
    pub fn failed_resources(&self) -> impl Iterator<Item = &ResourceReport> {
        self.converge
            .iter()
            .flat_map(|c| &c.resources)
            .filter(|r| r.status == Status::Failed)
    }
}

/// Passed / total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that ran.
    pub total: usize,
}

/// The whole cycle.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    /// Every test host.
    pub hosts: Vec<HostCycle>,
    /// Every (scenario, host).
    pub scenarios: Vec<ScenarioCycle>,
    /// Seconds of each phase: as long as its slowest host took (the same
    /// figures as the progress lines).
    pub phases: BTreeMap<Phase, f64>,
    /// A host could not be reached (or created).
    pub unreachable: bool,
    /// The run was interrupted.
    pub interrupted: bool,
    /// Every result of the green phase, steps and all (for Cucumber JSON).
    #[serde(skip)]
    pub green_run: verify::Report,
}

impl CycleReport {
    /// 0 green and idempotent everywhere; 1 something failed; 3 a host could
    /// not be reached; 130 interrupted.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            return crate::exit::INTERRUPTED;
        }
        let mut code = crate::exit::OK;
        if self.hosts.iter().any(|h| !h.passed()) {
            code = crate::exit::FAILED;
        }
        if self.unreachable {
            code = crate::exit::UNREACHABLE;
        }
        code
    }

    /// Scenarios that passed before converge.
    pub fn already_green(&self) -> Vec<&ScenarioCycle> {
        self.scenarios
            .iter()
            .filter(|s| s.already_green())
            .collect()
    }
}

/// What went wrong with a test host in one phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The driver could not create it.
    NotCreated(String),
    /// Its converge failed, or its plan was refused.
    ConvergeFailed(String),
    /// It could not be reached during a phase.
    Unreachable {
        /// The phase.
        phase: Phase,
        /// Why.
        reason: String,
    },
    /// A scenario failed after converge.
    ScenarioFailed {
        /// The scenario's name.
        scenario: String,
        /// `features/web.feature:12`.
        id: String,
    },
    /// The second converge changed these resources again.
    NotIdempotent(Vec<String>),
    /// The second converge failed.
    SecondConvergeFailed(String),
}

impl Problem {
    /// True when the host could not be made or reached (said again at the
    /// end of the summary).
    pub fn is_reachability(&self) -> bool {
        matches!(self, Problem::NotCreated(_) | Problem::Unreachable { .. })
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::NotCreated(why) => write!(f, "could not be created: {why}"),
            Problem::ConvergeFailed(why) => write!(f, "converge failed: {why}"),
            Problem::Unreachable {
                phase: Phase::Converge,
                reason,
            } => write!(f, "unreachable during converge: {reason}"),
            Problem::Unreachable {
                phase: Phase::Idempotence,
                reason,
            } => write!(f, "unreachable during the second converge: {reason}"),
            Problem::Unreachable { phase, reason } => {
                write!(f, "unreachable during {}: {reason}", phase.title())
            }
            Problem::ScenarioFailed { scenario, id } => {
                write!(f, "scenario failed after converge: {scenario} ({id})")
            }
            Problem::NotIdempotent(titles) => {
                write!(f, "not idempotent: {} changed again", titles.join(", "))
            }
            Problem::SecondConvergeFailed(why) => write!(f, "the second converge failed: {why}"),
        }
    }
}

/// In JSON, a problem is its sentence.
impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What a phase did, for its progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseSummary {
    /// So many of the test hosts were created.
    Created {
        /// Created.
        created: usize,
        /// Asked for.
        of: usize,
    },
    /// The features before converge.
    Red {
        /// Scenarios that ran.
        scenarios: usize,
        /// Failed or unreachable.
        failed: usize,
        /// Passed (already green).
        passed: usize,
    },
    /// A converge.
    Converged {
        /// Resources changed.
        changed: usize,
        /// Resources failed.
        failed: usize,
        /// Hosts unreachable.
        unreachable: usize,
    },
    /// The features after converge.
    Green {
        /// Scenarios that ran.
        scenarios: usize,
        /// Passed.
        passed: usize,
        /// Failed or unreachable.
        failed: usize,
    },
    /// The second converge: so many resources changed again.
    Idempotence {
        /// Resources changed again.
        changed: usize,
    },
    /// The test hosts were destroyed, but those kept.
    Destroyed {
        /// Destroyed.
        destroyed: usize,
        /// Kept.
        kept: Vec<String>,
    },
}

impl std::fmt::Display for PhaseSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PhaseSummary::Created { created, of } => write!(f, "{created} of {of} created"),
            PhaseSummary::Red {
                scenarios,
                failed,
                passed,
            } => write!(
                f,
                "{scenarios} scenario(s): {failed} failed, {passed} passed{}",
                if *passed > 0 {
                    " (already green: see below)"
                } else {
                    ""
                }
            ),
            PhaseSummary::Converged {
                changed,
                failed,
                unreachable,
            } => {
                write!(f, "{changed} change(s)")?;
                if *failed > 0 {
                    write!(f, ", {failed} failed")?;
                }
                if *unreachable > 0 {
                    write!(f, ", {unreachable} host(s) unreachable")?;
                }
                Ok(())
            }
            PhaseSummary::Green {
                scenarios,
                passed,
                failed,
            } => write!(
                f,
                "{scenarios} scenario(s): {passed} passed, {failed} failed"
            ),
            PhaseSummary::Idempotence { changed: 0 } => f.write_str("nothing changed"),
            PhaseSummary::Idempotence { changed } => {
                write!(f, "{changed} resource(s) changed again: not idempotent")
            }
            PhaseSummary::Destroyed { destroyed, kept } if kept.is_empty() => {
                write!(f, "{destroyed} destroyed")
            }
            PhaseSummary::Destroyed { destroyed, kept } => {
                write!(f, "{destroyed} destroyed, kept {}", kept.join(", "))
            }
        }
    }
}

/// The summary for people: a line per host, then what needs attention.
pub fn summary(report: &CycleReport) -> String {
    let mut out = String::from("\nSummary\n");
    let width = report
        .hosts
        .iter()
        .map(|h| h.host.len())
        .max()
        .unwrap_or(4)
        .max(9);
    out.push_str(&format!(
        "  {:<width$}  {:>13}  {:>13}  {:>10}  {}\n",
        "TEST HOST",
        "RED (before)",
        "GREEN (after)",
        "IDEMPOTENT",
        Phase::ALL.map(|p| p.title()).join(" / ")
    ));
    for host in &report.hosts {
        let times = Phase::ALL
            .map(|p| {
                host.phases
                    .get(&p)
                    .map_or("-".to_string(), |s| format!("{s:.1}s"))
            })
            .join(" / ");
        let red = format!(
            "{}/{} failed",
            host.red.total - host.red.passed,
            host.red.total
        );
        let green = format!("{}/{} passed", host.green.passed, host.green.total);
        let idempotent = if !host.idempotence_checked {
            "-"
        } else if host.not_idempotent.is_empty() {
            "yes"
        } else {
            "NO"
        };
        let line = format!(
            "  {:<width$}  {red:>13}  {green:>13}  {idempotent:>10}  {times}",
            host.host
        );
        if host.passed() {
            out.push_str(
                &line
                    .if_supports_color(Stream::Stdout, |l| l.green())
                    .to_string(),
            );
        } else {
            out.push_str(
                &line
                    .if_supports_color(Stream::Stdout, |l| l.red())
                    .to_string(),
            );
        }
        out.push('\n');
    }

    let layered: Vec<&HostCycle> = report
        .hosts
        .iter()
        .filter(|h| !h.layers.is_empty())
        .collect();
    if !layered.is_empty() {
        out.push_str("\nConverge (snapshots):\n");
        for host in layered {
            out.push_str(&format!(
                "  {:<width$}  {}\n",
                host.host,
                layers_text(&host.layers)
            ));
        }
    }

    let already = report.already_green();
    if !already.is_empty() {
        out.push_str(
            "\nAlready green before converge (these scenarios do not test what the recipes do):\n",
        );
        for scenario in already {
            out.push_str(&format!(
                "  {}  {}: {}  on {}\n",
                scenario.id, scenario.feature, scenario.scenario, scenario.host
            ));
        }
    }
    let failed: Vec<_> = report
        .scenarios
        .iter()
        .filter(|s| matches!(s.green, Some(Outcome::Failed) | Some(Outcome::Unreachable)))
        .collect();
    if !failed.is_empty() {
        out.push_str("\nStill red after converge:\n");
        for scenario in failed {
            out.push_str(&format!(
                "  {}  {}: {}  on {}\n",
                scenario.id, scenario.feature, scenario.scenario, scenario.host
            ));
            if let Some(failure) = &scenario.failure {
                out.push_str(&format!("      {} (line {})\n", failure.step, failure.line));
                // Every line of the message keeps its place under the step.
                for line in failure.message.lines() {
                    out.push_str(&format!("      {line}\n"));
                }
            }
        }
    }
    for host in &report.hosts {
        for resource in host.failed_resources() {
            out.push_str(&format!(
                "\n{}: {} failed ({}): {}\n",
                host.host,
                resource.title,
                resource.declared,
                resource.message.clone().unwrap_or_default()
            ));
        }
        if !host.not_idempotent.is_empty() {
            out.push_str(&format!(
                "\n{}: not idempotent, the second converge changed:\n",
                host.host
            ));
            for resource in &host.not_idempotent {
                let changes: Vec<String> =
                    resource.changes.iter().map(ToString::to_string).collect();
                out.push_str(&format!(
                    "  {}  ({})  {}\n",
                    resource.title,
                    resource.declared,
                    changes.join(", ")
                ));
                for change in &resource.changes {
                    if let crate::resource::Change::Content {
                        diff: Some(diff), ..
                    } = change
                    {
                        for line in diff.lines() {
                            out.push_str(&format!("      {line}\n"));
                        }
                    }
                }
            }
        }
        for problem in host.problems.iter().filter(|p| p.is_reachability()) {
            out.push_str(&format!("\n{}: {problem}\n", host.host));
        }
    }
    let verdict = if report.interrupted {
        "INTERRUPTED".to_string()
    } else if report.hosts.iter().all(|h| h.passed()) {
        "PASSED: red before converge, green after, and idempotent".to_string()
    } else {
        let failing: Vec<&str> = report
            .hosts
            .iter()
            .filter(|h| !h.passed())
            .map(|h| h.host.as_str())
            .collect();
        format!("FAILED on {}", failing.join(", "))
    };
    out.push_str(&format!("\n{verdict}\n"));
    out
}

#[cfg(test)]
mod layer_tests {
    use super::*;

    fn layer(recipe: &str, from_cache: bool, seconds: f64) -> Layer {
        Layer {
            recipe: recipe.into(),
            part: None,
            from_cache,
            seconds,
        }
    }

    fn part(recipe: &str, part: &str, from_cache: bool, seconds: f64) -> Layer {
        Layer {
            part: Some(part.into()),
            ..layer(recipe, from_cache, seconds)
        }
    }

    #[test]
    fn names_a_split_recipe_by_its_parts_only_where_the_cache_ends() {
        let layers = [
            layer("base", true, 0.0),
            part("web", "to package nginx", true, 0.0),
            part("web", "from file /srv/index.html", false, 0.4),
        ];
        assert_eq!(
            layers_text(&layers),
            "base, web (to package nginx) from cache; web (from file /srv/index.html) applied in 0.4s"
        );
        let all_cached = [
            part("web", "to package nginx", true, 0.0),
            part("web", "from file /srv/index.html", true, 0.0),
        ];
        assert_eq!(layers_text(&all_cached), "web from cache; nothing applied");
        let all_applied = [
            part("web", "to package nginx", false, 3.0),
            part("web", "from file /srv/index.html", false, 0.5),
            layer("app", false, 0.5),
        ];
        assert_eq!(layers_text(&all_applied), "web, app applied in 4.0s");
    }

    #[test]
    fn says_what_came_from_the_cache() {
        let layers = [
            layer("base", true, 0.0),
            layer("webserver", true, 0.0),
            layer("app", false, 1.24),
        ];
        assert_eq!(
            layers_text(&layers),
            "base, webserver from cache; app applied in 1.2s"
        );
        assert_eq!(
            layers_text(&[layer("base", true, 0.0)]),
            "base from cache; nothing applied"
        );
        assert_eq!(
            layers_text(&[layer("base", false, 2.0), layer("app", false, 1.0)]),
            "base, app applied in 3.0s"
        );
    }
}
