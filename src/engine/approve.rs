//! Stage 3, the approval: whether a converge may apply a host's plan,
//! checked after its plan and before anything is applied there. A refused
//! host is left untouched (not even its ledger is written).

use std::collections::BTreeMap;

use super::{Approval, ResourceReport, Status};

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
