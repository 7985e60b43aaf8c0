//! `redgreen serve` and `status --format html`: one round's [`Board`] (every
//! host's features, drift and ledger) as the health answers, Prometheus
//! metrics, JSON and the HTML dashboard.

mod dashboard;
mod metrics;

pub use dashboard::{board_html, html};
pub use metrics::metrics;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::ledger::{self, Ledger};

/// How one scenario ended on one host, waivers applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cell {
    /// Every step passed.
    Passed,
    /// A step failed.
    Failed,
    /// A step failed, but a waiver accepts it until its date.
    Waived,
    /// Skipped.
    Skipped,
    /// The host could not be reached.
    Unreachable,
}

impl Cell {
    /// The word shown.
    pub fn word(self) -> &'static str {
        match self {
            Cell::Passed => "passed",
            Cell::Failed => "failed",
            Cell::Waived => "waived",
            Cell::Skipped => "skipped",
            Cell::Unreachable => "unreachable",
        }
    }
}

/// One scenario on one host.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioCell {
    /// `features/web.feature:12`.
    pub id: String,
    /// The feature's name.
    pub feature: String,
    /// The scenario's name.
    pub scenario: String,
    /// How it ended.
    pub status: Cell,
    /// Why it failed (also when waived).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The waiver that accepts it: reason, until and place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
}

/// One resource a converge would change now.
#[derive(Debug, Clone, Serialize)]
pub struct Drifted {
    /// `file /etc/motd`.
    pub resource: String,
    /// Where it is declared.
    pub declared: String,
}

/// One host after a round.
#[derive(Debug, Clone, Serialize)]
pub struct HostBoard {
    /// The host.
    pub host: String,
    /// Its groups.
    pub groups: Vec<String>,
    /// Why it could not be reached (or took too long), when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    /// Why the plan failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_failed: Option<String>,
    /// Every scenario that selects it.
    pub scenarios: Vec<ScenarioCell>,
    /// What a converge would change now.
    pub drift: Vec<Drifted>,
    /// The plan, as `redgreen plan` shows it (with diffs).
    pub plan: String,
    /// Its ledger.
    pub ledger: Option<Ledger>,
    /// Its commit differs from most of its group's.
    pub off_group: bool,
    /// How long its round took, in seconds.
    pub seconds: f64,
}

impl HostBoard {
    /// True when it was reached and no scenario failed (waived ones do
    /// not count).
    pub fn healthy(&self) -> bool {
        self.unreachable.is_none() && self.plan_failed.is_none() && self.failed().next().is_none()
    }

    /// Its failed scenarios (not the waived ones).
    pub fn failed(&self) -> impl Iterator<Item = &ScenarioCell> {
        self.scenarios
            .iter()
            .filter(|s| matches!(s.status, Cell::Failed | Cell::Unreachable))
    }

    /// Why it is not healthy, in one line.
    pub fn why(&self) -> Option<String> {
        if let Some(reason) = &self.unreachable {
            return Some(format!(
                "unreachable: {}",
                reason.lines().next().unwrap_or("")
            ));
        }
        if let Some(reason) = &self.plan_failed {
            return Some(format!("plan failed: {reason}"));
        }
        let failed: Vec<String> = self
            .failed()
            .map(|s| format!("{} ({})", s.scenario, s.id))
            .collect();
        (!failed.is_empty()).then(|| format!("failed: {}", failed.join(", ")))
    }
}

/// Everything one round found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Board {
    /// The round's number, from 1; 0 before the first round ended.
    pub round: u64,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// How long it took, in seconds.
    pub seconds: f64,
    /// The repository's commit serve runs from (short).
    pub repository: String,
    /// Every selected host, in order.
    pub hosts: Vec<HostBoard>,
}

/// A host's health, as `/healthz` shows it.
#[derive(Debug, Serialize)]
pub struct Health {
    /// True when every host's last round passed.
    pub healthy: bool,
    /// The round it is from (0: none yet).
    pub round: u64,
    /// The hosts that did not pass, and why.
    pub failed: BTreeMap<String, String>,
}

impl Board {
    /// The health of every host, or of `only` that one (None when the
    /// board has no such host).
    pub fn health(&self, only: Option<&str>) -> Option<Health> {
        let hosts: Vec<&HostBoard> = self
            .hosts
            .iter()
            .filter(|h| only.is_none_or(|name| h.host == name))
            .collect();
        if only.is_some() && hosts.is_empty() && self.round > 0 {
            return None;
        }
        let failed: BTreeMap<String, String> = hosts
            .iter()
            .filter_map(|h| h.why().map(|why| (h.host.clone(), why)))
            .collect();
        Some(Health {
            healthy: self.round > 0 && failed.is_empty(),
            round: self.round,
            failed,
        })
    }

    /// The last rollout: the newest converge among the ledgers, its commit
    /// and the hosts at that commit.
    pub fn last_rollout(&self) -> Option<(String, String, Vec<String>)> {
        let newest = self
            .hosts
            .iter()
            .filter_map(|h| h.ledger.as_ref())
            .max_by(|a, b| a.converged_at.cmp(&b.converged_at))?;
        let commit = ledger::short(newest.commit.as_deref(), newest.dirty);
        let hosts = self
            .hosts
            .iter()
            .filter(|h| {
                h.ledger
                    .as_ref()
                    .is_some_and(|l| ledger::short(l.commit.as_deref(), l.dirty) == commit)
            })
            .map(|h| h.host.clone())
            .collect();
        Some((commit, newest.converged_at.clone(), hosts))
    }

    /// group → commit → hosts, the commit most hosts share first.
    pub fn groups(&self) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
        let groups = crate::report::status::by_group_and_commit(
            self.hosts
                .iter()
                .map(|h| (h.host.as_str(), h.groups.as_slice(), commit_of(h))),
        );
        groups
            .into_iter()
            .map(|(group, commits)| {
                let mut commits: Vec<(String, Vec<String>)> = commits.into_iter().collect();
                commits.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
                (group, commits)
            })
            .collect()
    }

    /// Mark the hosts whose commit is not the one most hosts of one of
    /// their groups share.
    pub fn mark_off_group(&mut self) {
        let groups = self.groups();
        for host in &mut self.hosts {
            let mine = commit_of(host);
            host.off_group = host.groups.iter().any(|group| {
                groups
                    .get(group)
                    .and_then(|commits| commits.first())
                    .is_some_and(|(majority, _)| *majority != mine)
            });
        }
    }
}

fn commit_of(host: &HostBoard) -> String {
    crate::report::status::commit_shown(host.ledger.as_ref(), host.unreachable.is_some())
}

/// How a host changed from one round to the next, worth telling someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Turned {
    /// It passed (or was not seen) and now fails.
    Red,
    /// It failed and now passes.
    Green,
    /// Nothing drifted and now a converge would change something.
    Drifted,
}

/// What changed per host between the `before` round (None: the first) and
/// `now`: the first round tells only of red and drifted hosts.
pub fn transitions(before: Option<&Board>, now: &Board) -> Vec<(String, Turned)> {
    let mut out = Vec::new();
    for host in &now.hosts {
        let was = before.and_then(|b| b.hosts.iter().find(|h| h.host == host.host));
        let was_healthy = was.is_none_or(HostBoard::healthy);
        if was_healthy && !host.healthy() {
            out.push((host.host.clone(), Turned::Red));
        }
        if was.is_some_and(|w| !w.healthy()) && host.healthy() {
            out.push((host.host.clone(), Turned::Green));
        }
        if was.is_none_or(|w| w.drift.is_empty()) && !host.drift.is_empty() {
            out.push((host.host.clone(), Turned::Drifted));
        }
    }
    out
}

/// The webhook's JSON event for `host` that `turned` in `board`, with a
/// Slack-compatible `text` (masked).
pub fn event_json(board: &Board, host: &str, turned: Turned) -> String {
    let found = board.hosts.iter().find(|h| h.host == host);
    let why = found.and_then(HostBoard::why);
    let drifted: Vec<&str> = found
        .map(|h| h.drift.iter().map(|d| d.resource.as_str()).collect())
        .unwrap_or_default();
    let text = match turned {
        Turned::Red => format!(
            "redgreen: {host} turned RED ({})",
            why.clone().unwrap_or_default()
        ),
        Turned::Green => format!("redgreen: {host} is GREEN again"),
        Turned::Drifted => format!(
            "redgreen: {host} drifted: a converge would change {}",
            drifted.join(", ")
        ),
    };
    serde_json::to_string(&serde_json::json!({
        "text": crate::secrets::redact(&text),
        "event": turned,
        "host": host,
        "round": board.round,
        "at": board.started_at,
        "why": why.map(|w| crate::secrets::redact(&w).into_owned()),
        "drifted": drifted,
    }))
    .expect("events serialize")
}

/// One line per round for the terminal.
pub fn round_line(board: &Board) -> String {
    let failing: Vec<String> = board
        .hosts
        .iter()
        .filter_map(|h| h.why().map(|why| format!("{}: {why}", h.host)))
        .collect();
    let drifted = board.hosts.iter().filter(|h| !h.drift.is_empty()).count();
    let waived: usize = board
        .hosts
        .iter()
        .map(|h| {
            h.scenarios
                .iter()
                .filter(|s| s.status == Cell::Waived)
                .count()
        })
        .sum();
    let mut line = format!(
        "round {} ({:.1} s): {} host{}, {}",
        board.round,
        board.seconds,
        board.hosts.len(),
        if board.hosts.len() == 1 { "" } else { "s" },
        if failing.is_empty() {
            "all pass".to_string()
        } else {
            format!("{} failing", failing.len())
        }
    );
    if waived > 0 {
        line.push_str(&format!(", {waived} waived"));
    }
    if drifted > 0 {
        line.push_str(&format!(", {drifted} drifted"));
    }
    line.push('\n');
    for failing in failing {
        line.push_str(&format!("  ✘ {failing}\n"));
    }
    line
}

/// The board as one JSON document (masked).
pub fn json(board: &Board) -> String {
    crate::report::format::json(board)
}

/// The health as JSON (masked).
pub fn health_json(health: &Health) -> String {
    crate::report::format::json(health)
}

/// A board of three hosts of one group: passed, waived, failed (off the
/// group's commit).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    fn host(name: &str, status: Cell, commit: &str) -> HostBoard {
        HostBoard {
            host: name.into(),
            groups: vec!["web".into()],
            unreachable: None,
            plan_failed: None,
            scenarios: vec![ScenarioCell {
                id: "features/web.feature:2".into(),
                feature: "web".into(),
                scenario: "it <answers>".into(),
                status,
                message: (status != Cell::Passed).then(|| "not listening".into()),
                waiver: (status == Cell::Waived).then(|| "OPS-1 until 2027-01-31".into()),
            }],
            drift: vec![],
            plan: format!("{name}: no changes\n"),
            ledger: Some(Ledger {
                host: name.into(),
                commit: Some(commit.into()),
                dirty: false,
                recipes: vec![],
                converged_at: "2026-11-26T07:00:00Z".into(),
                result: ledger::Converged::Ok,
                redgreen: "0.1.0".into(),
                features: None,
            }),
            off_group: false,
            seconds: 0.5,
        }
    }

    pub(crate) fn board() -> Board {
        let mut board = Board {
            round: 3,
            hosts: vec![
                host("web1", Cell::Passed, "aaaaaaa1"),
                host("web2", Cell::Waived, "aaaaaaa1"),
                host("web3", Cell::Failed, "bbbbbbb2"),
            ],
            ..Board::default()
        };
        board.mark_off_group();
        board
    }
}

#[cfg(test)]
mod tests {
    use super::testing::board;
    use super::*;

    #[test]
    fn health_names_the_failed_hosts_and_waived_ones_pass() {
        let board = board();
        let health = board.health(None).unwrap();
        assert!(!health.healthy);
        assert_eq!(
            health.failed.keys().collect::<Vec<_>>(),
            ["web3"],
            "{health:?}"
        );
        assert!(board.health(Some("web2")).unwrap().healthy);
        assert!(board.health(Some("nope")).is_none());
        assert!(!Board::default().health(None).unwrap().healthy);
    }
}
