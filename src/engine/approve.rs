//! Stage 3, the approval: whether a converge may apply a host's plan,
//! checked after its plan and before anything is applied there. A refused
//! host is left untouched (not even its ledger is written).

use std::collections::BTreeMap;

use std::time::Duration;

use super::{Approval, ResourceReport, Status};
use crate::resource::evidence::{self, Sign};

/// Why a host's plan is not approved.
pub(super) struct Refusal {
    /// For the host's line: what to do.
    pub reason: String,
    /// For each resource not applied.
    pub short: String,
}

/// Whether `approval` refuses this host's plan (before anything is applied).
pub(super) fn refusal(
    approval: &Approval,
    host: &str,
    answers: &BTreeMap<String, String>,
    planned: &[&ResourceReport],
) -> Option<Refusal> {
    match approval {
        Approval::Everything => None,
        Approval::NoRemovals => {
            let removals: Vec<&str> = planned
                .iter()
                .filter(|r| r.status == Status::WouldChange && r.removes)
                .map(|r| r.title.as_str())
                .collect();
            if removals.is_empty() {
                return None;
            }
            Some(Refusal {
                reason: format!(
                    "the plan removes {} ({}) and removals are applied only from a saved plan; run `redgreen plan --out plan.json`, review it, then `redgreen converge --plan plan.json` (or converge with --allow-removals); nothing was changed",
                    if removals.len() == 1 {
                        "1 thing".to_string()
                    } else {
                        format!("{} things", removals.len())
                    },
                    removals.join(", ")
                ),
                short: "this host's plan removes something that is not in a saved plan".into(),
            })
        }
        Approval::Saved(plan) => {
            let differences = plan.differences(host, answers, planned);
            if differences.is_empty() {
                return None;
            }
            Some(Refusal {
                reason: format!(
                    "the host changed since the plan was saved, so the plan is not what would be applied: {}; run `redgreen plan --out FILE` again and review it; nothing was changed",
                    differences.join("; ")
                ),
                short: "the host changed since the plan was saved".into(),
            })
        }
    }
}

/// Whether the `unused_for` guard refuses this host's plan: a removal whose
/// thing the host shows used within its window (`windows`, beside each
/// resource, None without `unused_for`) is refused, unless the saved plan
/// being applied showed that same use (the same kinds of evidence) for it,
/// and so was approved knowing it.
pub(super) fn used_recently(
    approval: &Approval,
    host: &str,
    planned: &[(&ResourceReport, Option<Duration>)],
) -> Option<Refusal> {
    let mut used = Vec::new();
    for (report, window) in planned {
        let Some(window) = window else { continue };
        if report.status != Status::WouldChange || !report.removes {
            continue;
        }
        let recent: Vec<&Sign> = report
            .evidence
            .iter()
            .filter(|s| s.used_within(*window))
            .collect();
        if recent.is_empty() || seen_in_saved_plan(approval, host, report, &recent, *window) {
            continue;
        }
        let signs: Vec<Sign> = recent.into_iter().cloned().collect();
        used.push(format!(
            "{} was used within unused_for {}: {}",
            report.title,
            evidence::age(window.as_secs()),
            evidence::describe(&signs)
        ));
    }
    if used.is_empty() {
        return None;
    }
    Some(Refusal {
        reason: format!(
            "{}; a removal guarded by `unused_for` is applied only when the host shows no use within it, or from a saved plan that showed this use and was approved (`redgreen plan --out plan.json`, review it, `redgreen converge --plan plan.json`); nothing was changed",
            used.join("; ")
        ),
        short: "the host shows a removal's thing in use within its `unused_for`".into(),
    })
}

/// True when the saved plan being applied showed, for this removal, use of
/// every kind `recent` shows now.
fn seen_in_saved_plan(
    approval: &Approval,
    host: &str,
    report: &ResourceReport,
    recent: &[&Sign],
    window: Duration,
) -> bool {
    let Approval::Saved(plan) = approval else {
        return false;
    };
    let title = crate::secrets::redact(&report.title);
    let Some(saved) = plan
        .hosts
        .iter()
        .find(|h| h.host == host)
        .and_then(|h| h.resources.iter().find(|r| r.title == title))
    else {
        return false;
    };
    recent.iter().all(|now| {
        saved
            .evidence
            .iter()
            .any(|then| then.what() == now.what() && then.used_within(window))
    })
}
