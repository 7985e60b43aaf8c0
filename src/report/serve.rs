//! `redgreen serve` and `status --format html`: one round's [`Board`] (every
//! host's features, drift and ledger) as the health answers, Prometheus
//! metrics, JSON and the HTML dashboard.

use std::collections::BTreeMap;
use std::fmt::Write as _;

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
        let mut groups: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for host in &self.hosts {
            let commit = commit_of(host);
            for group in &host.groups {
                groups
                    .entry(group.clone())
                    .or_default()
                    .entry(commit.clone())
                    .or_default()
                    .push(host.host.clone());
            }
        }
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
    match &host.ledger {
        Some(l) => ledger::short(l.commit.as_deref(), l.dirty),
        None if host.unreachable.is_some() => "unreachable".into(),
        None => "never converged".into(),
    }
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
    super::format::json(board)
}

/// The health as JSON (masked).
pub fn health_json(health: &Health) -> String {
    super::format::json(health)
}

/// The board in the Prometheus (OpenMetrics) text format.
pub fn metrics(board: &Board) -> String {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::Registry;
    use std::sync::atomic::AtomicU64;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct HostLabel {
        host: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct ScenarioLabel {
        host: String,
        feature: String,
        scenario: String,
        id: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct CommitLabel {
        host: String,
        commit: String,
    }
    type FloatGauge = Gauge<f64, AtomicU64>;

    let mut registry = Registry::with_prefix("redgreen");
    let passed = Family::<ScenarioLabel, Gauge>::default();
    let waived = Family::<ScenarioLabel, Gauge>::default();
    let healthy = Family::<HostLabel, Gauge>::default();
    let unreachable = Family::<HostLabel, Gauge>::default();
    let drifted = Family::<HostLabel, Gauge>::default();
    let converged_at = Family::<HostLabel, Gauge>::default();
    let commit = Family::<CommitLabel, Gauge>::default();
    let host_seconds = Family::<HostLabel, FloatGauge>::default();
    let round_seconds = FloatGauge::default();
    let round = Gauge::<i64>::default();
    registry.register(
        "scenario_passed",
        "1 when the scenario passed on the host in the last round, else 0",
        passed.clone(),
    );
    registry.register(
        "scenario_waived",
        "1 when the scenario failed on the host but a waiver (waivers.yml) accepts it",
        waived.clone(),
    );
    registry.register(
        "host_healthy",
        "1 when the host was reached and no scenario failed (waived ones aside)",
        healthy.clone(),
    );
    registry.register(
        "host_unreachable",
        "1 when the host could not be reached in the last round",
        unreachable.clone(),
    );
    registry.register(
        "host_drifted_resources",
        "Resources a converge would change now (plan)",
        drifted.clone(),
    );
    registry.register(
        "host_last_converge_timestamp_seconds",
        "When the host was last converged (its ledger), as a Unix time",
        converged_at.clone(),
    );
    registry.register(
        "host_commit",
        "1 for the commit the host was last converged at (its ledger)",
        commit.clone(),
    );
    registry.register(
        "host_round_duration_seconds",
        "How long the host's part of the last round took",
        host_seconds.clone(),
    );
    registry.register(
        "round_duration_seconds",
        "How long the last round took",
        round_seconds.clone(),
    );
    registry.register("round", "The number of the last round", round.clone());

    round.set(board.round as i64);
    round_seconds.set(board.seconds);
    for host in &board.hosts {
        let label = HostLabel {
            host: host.host.clone(),
        };
        healthy.get_or_create(&label).set(host.healthy() as i64);
        unreachable
            .get_or_create(&label)
            .set(host.unreachable.is_some() as i64);
        drifted.get_or_create(&label).set(host.drift.len() as i64);
        host_seconds.get_or_create(&label).set(host.seconds);
        if let Some(ledger) = &host.ledger {
            if let Ok(at) = humantime::parse_rfc3339(&ledger.converged_at) {
                let seconds = at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                converged_at.get_or_create(&label).set(seconds as i64);
            }
            commit
                .get_or_create(&CommitLabel {
                    host: host.host.clone(),
                    commit: ledger.commit.clone().unwrap_or_default(),
                })
                .set(1);
        }
        for scenario in &host.scenarios {
            let label = ScenarioLabel {
                host: host.host.clone(),
                feature: scenario.feature.clone(),
                scenario: scenario.scenario.clone(),
                id: scenario.id.clone(),
            };
            passed
                .get_or_create(&label)
                .set((scenario.status == Cell::Passed) as i64);
            waived
                .get_or_create(&label)
                .set((scenario.status == Cell::Waived) as i64);
        }
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    crate::secrets::redact(&text).into_owned()
}

/// HTML-escape `text`, its secrets masked first (an escaped secret would no
/// longer match).
fn esc(text: &str) -> String {
    let text = crate::secrets::redact(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
th.scenario{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;max-height:14em}\
.passed{background:#2e7d32;color:#fff}.failed,.unreachable{background:#c62828;color:#fff}\
.waived{background:#f9a825;color:#000}.skipped{background:#9e9e9e;color:#fff}\
.healthy{color:#2e7d32;font-weight:bold}.unhealthy{color:#c62828;font-weight:bold}\
.outlier{background:#ffe0b2;font-weight:bold}pre{background:#f5f5f5;padding:.5em;max-width:70em;overflow:auto}\
.meta{color:#666}";

/// The dashboard: hosts × scenarios, drift per host (the plan on click),
/// per group the deployed commit of each host, the last rollout. With
/// `live`, it asks the server for the board again every `poll` seconds
/// and redraws it without a reload.
pub fn html(board: &Board, live: Option<u64>) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>redgreen</title><style>",
    );
    out.push_str(STYLE);
    out.push_str("</style></head><body>\n<div id=\"board\">");
    out.push_str(&board_html(board));
    out.push_str("</div>\n");
    if let Some(seconds) = live {
        // The same page, redrawn from the server's board: the details a
        // reader opened stay open.
        let _ = write!(
            out,
            "<script>\nsetInterval(async () => {{\n  try {{\n    const url = new URL(location.href);\n    url.searchParams.set('part', 'board');\n    const r = await fetch(url);\n    if (!r.ok) return;\n    const open = [...document.querySelectorAll('details[open]')].map(d => d.id);\n    document.getElementById('board').innerHTML = await r.text();\n    for (const id of open) {{ const d = document.getElementById(id); if (d) d.open = true; }}\n  }} catch (e) {{}}\n}}, {});\n</script>\n",
            seconds * 1000
        );
    }
    out.push_str("</body></html>\n");
    out
}

/// The part of the dashboard that changes with each round.
pub fn board_html(board: &Board) -> String {
    let mut out = String::new();
    let healthy = board.health(None).is_some_and(|h| h.healthy);
    let _ = write!(
        out,
        "<h1>redgreen: <span id=\"overall\" class=\"{}\">{}</span></h1>",
        if healthy { "healthy" } else { "unhealthy" },
        if board.round == 0 {
            "first round running"
        } else if healthy {
            "every host passes"
        } else {
            "some hosts fail"
        }
    );
    if board.round > 0 {
        let _ = write!(
            out,
            "<p class=\"meta\">round {} at {}, {:.1} s; repository at {}</p>",
            board.round,
            esc(&board.started_at),
            board.seconds,
            esc(&board.repository)
        );
    }

    // Hosts × scenarios.
    let mut columns: Vec<(String, String, String)> = Vec::new();
    for host in &board.hosts {
        for s in &host.scenarios {
            if !columns.iter().any(|(id, _, _)| *id == s.id) {
                columns.push((s.id.clone(), s.feature.clone(), s.scenario.clone()));
            }
        }
    }
    out.push_str("<h2>Features</h2><table id=\"grid\"><tr><th>host</th>");
    for (id, feature, scenario) in &columns {
        let _ = write!(
            out,
            "<th class=\"scenario\" title=\"{}\">{}: {}</th>",
            esc(id),
            esc(feature),
            esc(scenario)
        );
    }
    out.push_str("<th>drift</th></tr>\n");
    for host in &board.hosts {
        let _ = write!(
            out,
            "<tr data-host=\"{0}\"><th class=\"{1}\">{0}</th>",
            esc(&host.host),
            if host.healthy() {
                "healthy"
            } else {
                "unhealthy"
            }
        );
        for (id, _, _) in &columns {
            match host.scenarios.iter().find(|s| s.id == *id) {
                Some(s) => {
                    let title = match (&s.waiver, &s.message) {
                        (Some(w), Some(m)) => format!("waived ({w}): {m}"),
                        (Some(w), None) => format!("waived ({w})"),
                        (None, Some(m)) => m.clone(),
                        (None, None) => String::new(),
                    };
                    let _ = write!(
                        out,
                        "<td class=\"{0}\" data-scenario=\"{1}\" title=\"{2}\">{0}</td>",
                        s.status.word(),
                        esc(id),
                        esc(&title)
                    );
                }
                None => out.push_str("<td></td>"),
            }
        }
        if let Some(reason) = &host.unreachable {
            let _ = write!(
                out,
                "<td class=\"unreachable\">unreachable: {}</td>",
                esc(reason.lines().next().unwrap_or(""))
            );
        } else {
            let _ = write!(
                out,
                "<td class=\"drift\"><details id=\"plan-{0}\"><summary>{1}</summary><pre>{2}</pre></details></td>",
                esc(&host.host),
                match host.drift.len() {
                    0 => "no drift".to_string(),
                    1 => "1 resource drifted".to_string(),
                    n => format!("{n} resources drifted"),
                },
                esc(&host.plan)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");

    // Deployed commits per group.
    out.push_str("<h2>Deployed</h2>");
    match board.last_rollout() {
        Some((commit, at, hosts)) => {
            let _ = write!(
                out,
                "<p id=\"last-rollout\">Last rollout: <b>{}</b> at {} on {}</p>",
                esc(&commit),
                esc(&at),
                esc(&hosts.join(", "))
            );
        }
        None => out.push_str("<p id=\"last-rollout\">No host was converged yet.</p>"),
    }
    out.push_str("<table id=\"deployed\"><tr><th>group</th><th>host</th><th>commit</th><th>converged at</th><th>result</th></tr>\n");
    for (group, commits) in board.groups() {
        let majority = commits.first().map(|(c, _)| c.clone()).unwrap_or_default();
        for (commit, hosts) in &commits {
            for name in hosts {
                let ledger = board
                    .hosts
                    .iter()
                    .find(|h| h.host == *name)
                    .and_then(|h| h.ledger.as_ref());
                let outlier = *commit != majority;
                let _ = writeln!(
                    out,
                    "<tr{}><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
                    if outlier { " class=\"outlier\"" } else { "" },
                    esc(&group),
                    esc(name),
                    esc(commit),
                    if outlier {
                        format!(" (group majority: {})", esc(&majority))
                    } else {
                        String::new()
                    },
                    esc(ledger.map_or("", |l| l.converged_at.as_str())),
                    esc(ledger.map_or("", |l| l.result.word())),
                );
            }
        }
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
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

    fn board() -> Board {
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

    #[test]
    fn metrics_say_passed_waived_and_healthy_per_host() {
        let text = metrics(&board());
        assert!(
            text.contains("redgreen_host_healthy{host=\"web3\"} 0"),
            "{text}"
        );
        assert!(text.contains("redgreen_host_healthy{host=\"web2\"} 1"));
        assert!(text.contains("redgreen_scenario_waived{host=\"web2\",feature=\"web\",scenario=\"it <answers>\",id=\"features/web.feature:2\"} 1"), "{text}");
        assert!(
            text.contains(
                "redgreen_host_last_converge_timestamp_seconds{host=\"web1\"} 1795676400"
            )
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn the_dashboard_escapes_and_marks_the_outlier() {
        let page = html(&board(), Some(5));
        assert!(page.contains("it &lt;answers&gt;"));
        assert!(page.contains("<td class=\"waived\""));
        assert!(page.contains(
            "<tr class=\"outlier\"><td>web</td><td>web3</td><td>bbbbbbb (group majority: aaaaaaa)"
        ), "{page}");
        assert!(page.contains("setInterval"));
        assert!(!html(&board(), None).contains("<script>"));
    }
}
