//! What a plan or converge reports: per resource ([`ResourceReport`]), per
//! host ([`HostReport`], how it ended as a [`HostOutcome`]), per run
//! ([`RunReport`]), with the exit code the specification gives.

use serde::{Deserialize, Serialize};

use super::Mode;
use super::ledger::Ledger;
use crate::resource::{Change, Facts};

/// What happened to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Already as it should be.
    Ok,
    /// Would change (plan).
    WouldChange,
    /// Changed.
    Changed,
    /// Failed.
    Failed,
    /// Not applied (`when` did not hold, or an earlier resource failed).
    Skipped,
}

impl Status {
    /// The word shown in output.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::WouldChange => "change",
            Status::Changed => "changed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One resource's result on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceReport {
    /// Its type.
    pub kind: String,
    /// How it is shown (`file /etc/motd`, or its label).
    pub title: String,
    /// Where it is declared: `recipes/web.yml:12:5`.
    pub declared: String,
    /// What happened.
    pub status: Status,
    /// What changes (planned) or changed.
    pub changes: Vec<Change>,
    /// True when a change deletes something ([`Change::is_removal`]).
    #[serde(default)]
    pub removes: bool,
    /// Why it failed or was skipped.
    pub message: Option<String>,
    /// Why it is removed (`reason:`), on a removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the host showed of the use of what it removes, on a removal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<crate::resource::evidence::Sign>,
    /// The features that must pass before it is applied (`after:`), on a
    /// removal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// How a host ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum HostOutcome {
    /// Everything applied (or planned).
    Ok,
    /// Something failed on the host.
    Failed(String),
    /// The host could not be reached.
    Unreachable(String),
    /// Ctrl-C came before the host's work started or before its changes
    /// were applied.
    Interrupted(String),
    /// Its plan was not approved (removals without a saved plan, or a host
    /// that changed since its plan was saved); nothing was applied.
    Refused(String),
}

/// One host's result.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    /// The host's name.
    pub host: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: HostOutcome,
    /// Every resource, in order.
    pub resources: Vec<ResourceReport>,
    /// The handlers that were notified, in the order they run.
    pub handlers: Vec<ResourceReport>,
    /// Things worth knowing about this run (commands without a guard, ...).
    pub notes: Vec<String>,
    /// Scripts run on the host (round trips after connecting).
    pub round_trips: usize,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Facts, once probed.
    pub facts: Option<Facts>,
    /// The ledger on the host after this run (written by it, or found
    /// unchanged), for recording the features' result after a verify.
    #[serde(skip)]
    pub ledger: Option<Ledger>,
    /// What the probe found, per subject (see [`crate::resource::query::answers`]), for
    /// saved plans.
    #[serde(skip)]
    pub answers: std::collections::BTreeMap<String, String>,
}

impl HostReport {
    /// A host whose work has not started.
    pub fn new(host: &str) -> HostReport {
        HostReport {
            host: host.to_string(),
            outcome: HostOutcome::Ok,
            resources: Vec::new(),
            handlers: Vec::new(),
            notes: Vec::new(),
            round_trips: 0,
            seconds: 0.0,
            facts: None,
            ledger: None,
            answers: Default::default(),
        }
    }

    /// How many resources and handlers ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.resources
            .iter()
            .chain(&self.handlers)
            .filter(|r| r.status == status)
            .count()
    }
}

/// Every host's result.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Plan or converge.
    pub mode: Mode,
    /// Hosts, in the order they were given.
    pub hosts: Vec<HostReport>,
}

impl RunReport {
    /// The exit code the spec gives: 3 if a host was unreachable, else 1 if
    /// anything failed, else 0.
    pub fn exit_code(&self) -> i32 {
        let mut code = crate::exit::OK;
        for host in &self.hosts {
            let c = match host.outcome {
                HostOutcome::Ok => crate::exit::OK,
                HostOutcome::Failed(_) | HostOutcome::Refused(_) => crate::exit::FAILED,
                HostOutcome::Unreachable(_) => crate::exit::UNREACHABLE,
                HostOutcome::Interrupted(_) => crate::exit::INTERRUPTED,
            };
            code = code.max(c);
        }
        code
    }
}
