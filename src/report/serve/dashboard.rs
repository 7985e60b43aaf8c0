//! The dashboard: hosts × scenarios, drift with the plan on click, the
//! deployed commits per group and the last rollout, as one HTML page. maud
//! writes the markup and escapes; every text from a host or the project goes
//! through [`Masked`], which masks secrets before maud escapes them (an
//! escaped secret would no longer match).

use maud::{DOCTYPE, Markup, PreEscaped, Render, html};

use super::{Board, HostBoard, ScenarioCell};

/// Text as the dashboard shows it: secrets masked, then escaped.
struct Masked<'a>(&'a str);

impl Render for Masked<'_> {
    fn render_to(&self, buffer: &mut String) {
        crate::secrets::redact(self.0).as_ref().render_to(buffer);
    }
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

/// Ask the server for the board again and redraw it; the plans a reader
/// opened stay open. `{POLL}` is the interval in milliseconds.
const POLL_SCRIPT: &str = "setInterval(async () => {
  try {
    const url = new URL(location.href);
    url.searchParams.set('part', 'board');
    const r = await fetch(url);
    if (!r.ok) return;
    const open = [...document.querySelectorAll('details[open]')].map(d => d.id);
    document.getElementById('board').innerHTML = await r.text();
    for (const id of open) { const d = document.getElementById(id); if (d) d.open = true; }
  } catch (e) {}
}, {POLL});";

/// The dashboard: hosts × scenarios, drift per host (the plan on click),
/// per group the deployed commit of each host, the last rollout. With
/// `live`, it asks the server for the board again every so many seconds
/// and redraws it without a reload.
pub fn html(board: &Board, live: Option<u64>) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "redgreen" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                div #board { (board_markup(board)) }
                @if let Some(seconds) = live {
                    script { (PreEscaped(POLL_SCRIPT.replace("{POLL}", &(seconds * 1000).to_string()))) }
                }
            }
        }
    }
    .into_string()
}

/// The part of the dashboard that changes with each round.
pub fn board_html(board: &Board) -> String {
    board_markup(board).into_string()
}

fn board_markup(board: &Board) -> Markup {
    let healthy = board.health(None).is_some_and(|h| h.healthy);
    let verdict = if board.round == 0 {
        "first round running"
    } else if healthy {
        "every host passes"
    } else {
        "some hosts fail"
    };
    // The scenarios, in the order they first appear.
    let mut columns: Vec<&ScenarioCell> = Vec::new();
    for host in &board.hosts {
        for s in &host.scenarios {
            if !columns.iter().any(|c| c.id == s.id) {
                columns.push(s);
            }
        }
    }
    html! {
        h1 { "redgreen: " span #overall class=(if healthy { "healthy" } else { "unhealthy" }) { (verdict) } }
        @if board.round > 0 {
            p.meta {
                "round " (board.round) " at " (Masked(&board.started_at)) ", "
                (format!("{:.1}", board.seconds)) " s; repository at " (Masked(&board.repository))
            }
        }
        h2 { "Features" }
        table #grid {
            tr {
                th { "host" }
                @for c in &columns {
                    th.scenario title=(Masked(&c.id)) { (Masked(&c.feature)) ": " (Masked(&c.scenario)) }
                }
                th { "drift" }
            }
            @for host in &board.hosts {
                (host_row(host, &columns))
            }
        }
        h2 { "Deployed" }
        @match board.last_rollout() {
            Some((commit, at, hosts)) => {
                p #last-rollout {
                    "Last rollout: " b { (Masked(&commit)) } " at " (Masked(&at)) " on " (Masked(&hosts.join(", ")))
                }
            }
            None => { p #last-rollout { "No host was converged yet." } }
        }
        table #deployed {
            tr { th { "group" } th { "host" } th { "commit" } th { "converged at" } th { "result" } }
            @for (group, commits) in board.groups() {
                @let majority = commits.first().map(|(c, _)| c.clone()).unwrap_or_default();
                @for (commit, hosts) in &commits {
                    @for name in hosts {
                        @let ledger = board.hosts.iter().find(|h| h.host == *name).and_then(|h| h.ledger.as_ref());
                        @let outlier = *commit != majority;
                        tr.outlier[outlier] {
                            td { (Masked(&group)) }
                            td { (Masked(name)) }
                            td {
                                (Masked(commit))
                                @if outlier { " (group majority: " (Masked(&majority)) ")" }
                            }
                            td { (Masked(ledger.map_or("", |l| l.converged_at.as_str()))) }
                            td { (ledger.map_or("", |l| l.result.word())) }
                        }
                    }
                }
            }
        }
    }
}

/// A host's row: a cell per scenario, then its drift (the plan on click).
fn host_row(host: &HostBoard, columns: &[&ScenarioCell]) -> Markup {
    let drift = match host.drift.len() {
        0 => "no drift".to_string(),
        1 => "1 resource drifted".to_string(),
        n => format!("{n} resources drifted"),
    };
    html! {
        tr data-host=(Masked(&host.host)) {
            th class=(if host.healthy() { "healthy" } else { "unhealthy" }) { (Masked(&host.host)) }
            @for c in columns {
                @match host.scenarios.iter().find(|s| s.id == c.id) {
                    Some(s) => {
                        @let title = match (&s.waiver, &s.message) {
                            (Some(w), Some(m)) => format!("waived ({w}): {m}"),
                            (Some(w), None) => format!("waived ({w})"),
                            (None, Some(m)) => m.clone(),
                            (None, None) => String::new(),
                        };
                        td class=(s.status.word()) data-scenario=(Masked(&s.id)) title=(Masked(&title)) { (s.status.word()) }
                    }
                    None => { td {} }
                }
            }
            @if let Some(reason) = &host.unreachable {
                td.unreachable { "unreachable: " (Masked(reason.lines().next().unwrap_or(""))) }
            } @else {
                td.drift {
                    details id=(format!("plan-{}", crate::secrets::redact(&host.host))) {
                        summary { (drift) }
                        pre { (Masked(&host.plan)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::board;
    use super::*;

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

    #[test]
    fn secrets_are_masked_before_they_are_escaped() {
        let secret = "pa<ss>&\"word-for-the-dashboard";
        crate::secrets::register(secret);
        let mut board = board();
        board.hosts[2].plan = format!("+password={secret}\n");
        board.hosts[2].scenarios[0].message = Some(format!("found {secret}"));
        let page = html(&board, None);
        assert!(page.contains("+password=********"), "{page}");
        assert!(!page.contains("word-for-the-dashboard"), "{page}");
    }
}
