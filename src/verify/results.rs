//! What a verify run finds: one [`ScenarioResult`] per (scenario, host),
//! with every step, and one [`HostSummary`] per host; the data that
//! `redgreen test` reads and every report is written from.

use serde::Serialize;

/// How a scenario ended on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step passed.
    Passed,
    /// A step failed.
    Failed,
    /// A step was skipped (no step failed).
    Skipped,
    /// The host could not be reached.
    Unreachable,
    /// A step failed, but a waiver (waivers.yml) accepts it until its date:
    /// shown, not red.
    Waived,
}

/// The step that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepFailure {
    /// The step as written (`Then the file "/etc/motd" should ...`).
    pub step: String,
    /// Its line in the feature file.
    pub line: usize,
    /// What was expected and what was found.
    pub message: String,
    /// The command that checked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// One scenario on one host.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// The feature's name.
    pub feature: String,
    /// The feature file, relative to the project.
    pub file: String,
    /// The scenario's line (for an outline, its example's row).
    pub line: usize,
    /// The rule it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The scenario's name.
    pub scenario: String,
    /// The host.
    pub host: String,
    /// How it ended.
    pub status: Outcome,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<StepFailure>,
    /// The waiver that accepts its failure: its reason, date and place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
    /// Every step, the background's first: those after a failed step (or on
    /// a host that could not be reached) are skipped.
    pub steps: Vec<StepResult>,
    /// `Scenario` or `Scenario Outline` (for Cucumber JSON).
    #[serde(skip)]
    pub keyword: String,
    /// The scenario's column.
    #[serde(skip)]
    pub column: usize,
    /// Its tags, `host:HOST` among them (for Cucumber JSON).
    #[serde(skip)]
    pub tags: Vec<String>,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It passed.
    Passed,
    /// It failed.
    Failed,
    /// It did not run: a step before it failed, or the host could not be
    /// reached.
    Skipped,
}

/// One step of a scenario on a host.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// `Given`, `When`, `Then`, `And` or `But`.
    pub keyword: String,
    /// The step's text after the keyword.
    pub text: String,
    /// Its line in the feature file.
    pub line: usize,
    /// How it ended.
    pub status: StepStatus,
    /// Wall time, in seconds.
    pub seconds: f64,
}

impl ScenarioResult {
    /// `features/web.feature:12`: the scenario, whatever the host.
    pub fn id(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// How many of its steps ended with `status`.
    pub fn steps_with(&self, status: StepStatus) -> usize {
        self.steps.iter().filter(|s| s.status == status).count()
    }
}

/// How a host did.
#[derive(Debug, Clone, Serialize)]
pub struct HostSummary {
    /// The host.
    pub host: String,
    /// Whether it could be reached.
    #[serde(flatten)]
    pub outcome: Reached,
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that failed.
    pub failed: usize,
    /// Scenarios skipped.
    pub skipped: usize,
    /// Commands run on the host (a DataTable step is one).
    pub round_trips: usize,
}

/// Whether a host could be reached during a run (in JSON: `outcome`, and
/// the `reason` when it could not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum Reached {
    /// It was reached.
    Ok,
    /// It could not be reached (or the connection broke), and why.
    Unreachable(String),
}

impl HostSummary {
    /// Why it could not be reached, when it could not.
    pub fn unreachable(&self) -> Option<&str> {
        match &self.outcome {
            Reached::Ok => None,
            Reached::Unreachable(reason) => Some(reason),
        }
    }
}

/// Every result of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// One per (scenario, host), in file, line and host order.
    pub scenarios: Vec<ScenarioResult>,
    /// One per host of the run.
    pub hosts: Vec<HostSummary>,
}

impl Report {
    /// 3 if a host was unreachable, else 1 if a scenario failed, else 0.
    pub fn exit_code(&self) -> i32 {
        let mut code = crate::exit::OK;
        for scenario in &self.scenarios {
            code = code.max(match scenario.status {
                Outcome::Passed | Outcome::Skipped | Outcome::Waived => crate::exit::OK,
                Outcome::Failed => crate::exit::FAILED,
                Outcome::Unreachable => crate::exit::UNREACHABLE,
            });
        }
        if self.hosts.iter().any(|h| h.unreachable().is_some()) {
            code = code.max(crate::exit::UNREACHABLE);
        }
        code
    }

    /// True when every scenario passed on every host.
    pub fn passed(&self) -> bool {
        self.exit_code() == crate::exit::OK
    }

    /// How many scenarios ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.scenarios
            .iter()
            .filter(|s| s.status == outcome)
            .count()
    }
}

/// Steps by how they ended, over some scenarios: they add up to every step
/// those scenarios have (skipped ones included, as in every Cucumber).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StepCounts {
    /// Every step.
    pub total: usize,
    /// Steps that passed.
    pub passed: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Steps that did not run.
    pub skipped: usize,
}

impl StepCounts {
    /// The counts of these scenarios' steps.
    pub fn of<'s>(scenarios: impl IntoIterator<Item = &'s ScenarioResult>) -> StepCounts {
        let mut counts = StepCounts::default();
        for scenario in scenarios {
            counts.total += scenario.steps.len();
            counts.passed += scenario.steps_with(StepStatus::Passed);
            counts.failed += scenario.steps_with(StepStatus::Failed);
            counts.skipped += scenario.steps_with(StepStatus::Skipped);
        }
        counts
    }
}
