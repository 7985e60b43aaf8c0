//! The dashboard: hosts × scenarios, drift with the plan on click, the
//! deployed commits per group and the last rollout, as one HTML page
//! (escaped by [`esc`], which masks secrets first).

use std::fmt::Write as _;

use super::Board;

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
}
