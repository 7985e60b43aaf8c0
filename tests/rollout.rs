//! Rollouts on real hosts: six host entries on one test host (each writes
//! its own file, whose colour its vars choose), a feature per host that wants
//! it green, and rollouts that stop where they should and leave the rest
//! untouched. Also `converge --verify`: the features' result in the ledger
//! and in `redgreen status`.

mod common;

use std::sync::Mutex;

/// The hosts of these tests share one machine, so one ledger: they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn on_host(command: &str) -> String {
    let shared = common::shared();
    shared.project.ssh(&shared.host, command)
}

/// The ledger on the shared test host.
fn host_ledger() -> serde_json::Value {
    let shared = common::shared();
    shared.project.ledger(&shared.host)
}

/// Six hosts h1..h6 on the shared test host; `red` ones get a red file, so
/// that their feature fails.
fn fleet(root: &str, red: &[&str]) -> common::Project {
    let shared = common::shared();
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host);
    let project = common::project_on_shared("");
    let mut config = String::from("defaults:\n  ssh_config: ssh_config\nhosts:\n");
    let mut feature = String::from("Feature: Every host is green\n");
    for n in 1..=6 {
        let host = format!("h{n}");
        let colour = if red.contains(&host.as_str()) {
            "red"
        } else {
            "green"
        };
        config.push_str(&format!(
            "  {host}: {{ address: {address}, port: {port}, groups: [web], vars: {{ colour: {colour} }} }}\n"
        ));
        feature.push_str(&format!(
            "\n  @host:{host}\n  Scenario: {host} is green\n    Then the file \"{root}/{host}\" should contain \"green\"\n"
        ));
    }
    config.push_str("groups:\n  web: { recipes: [site] }\n");
    project.write("redgreen.yml", &config);
    project.write(
        "recipes/site.yml",
        &format!(
            "resources:\n  - directory: {root}\n  - file: \"{root}/{{{{host.name}}}}\"\n    content: \"{{{{colour}}}}\\n\"\n"
        ),
    );
    project.write("features/fleet.feature", &feature);
    on_host(&format!("rm -rf {root}"));
    project
}

/// The hosts whose file exists.
fn converged(root: &str) -> String {
    on_host(&format!("ls {root} 2>/dev/null | tr '\\n' ' '; true"))
}

#[test]
fn a_failing_canary_stops_the_rollout_before_any_other_host() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = "/srv/rollout-canary";
    let project = fleet(root, &["h1"]);
    let run = project
        .run(&["converge", "--canary", "1", "--batch", "2"])
        .expect(1);
    assert!(
        run.stdout
            .contains("Rollout STOPPED after the canary: the canary failed on h1."),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Canary: h1"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("h1  features FAILED  1 of 1 scenarios failed"),
        "{}",
        run.stdout
    );
    let untouched = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("not converged (untouched):"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        untouched.ends_with("  h2, h3, h4, h5, h6"),
        "{}",
        run.stdout
    );
    assert_eq!(converged(root), "h1 ");
    let ledger = host_ledger();
    assert_eq!(ledger["host"], "h1");
    assert_eq!(ledger["features"]["result"], "failed");
}

#[test]
fn a_failing_host_stops_the_rollout_after_its_batch() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = "/srv/rollout-batch";
    let project = fleet(root, &["h3"]);
    let run = project
        .run(&[
            "converge", "--canary", "1", "--batch", "2", "--format", "json",
        ])
        .expect(1);
    let report = run.json();
    assert_eq!(
        report["batches"],
        serde_json::json!([["h1"], ["h2", "h3"], ["h4", "h5"], ["h6"]])
    );
    let states: Vec<&str> = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "passed",
            "passed",
            "features_failed",
            "untouched",
            "untouched",
            "untouched"
        ]
    );
    assert!(
        report["stopped"]
            .as_str()
            .unwrap()
            .starts_with("1 host failed (h3), more than --max-fail allows (0)"),
        "{}",
        run.stdout
    );
    assert_eq!(converged(root), "h1 h2 h3 ");
    let ledger = host_ledger();
    let last = ledger["host"].as_str().unwrap();
    assert!(["h2", "h3"].contains(&last), "{ledger}");
}

#[test]
fn max_fail_lets_the_rollout_go_on() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = "/srv/rollout-maxfail";
    let project = fleet(root, &["h3"]);
    // 25% of 6 hosts is a batch of 2; one failed host of six is within 20%.
    let run = project
        .run(&[
            "converge",
            "--canary",
            "1",
            "--batch",
            "25%",
            "--max-fail",
            "20%",
        ])
        .expect(1);
    assert!(
        run.stdout
            .contains("Rollout done: 4 batches over 6 hosts, 1 failed (--max-fail allows 1)."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("h3 is green (features/fleet.feature:"),
        "{}",
        run.stdout
    );
    assert_eq!(converged(root), "h1 h2 h3 h4 h5 h6 ");
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.org"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn converge_verify_records_the_features_in_the_ledger_and_status_shows_them() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let project = common::project_on_shared("groups:\n  test: { recipes: [smoke] }\n");
    project.write(
        "recipes/smoke.yml",
        "resources:\n  - file: /srv/smoke\n    content: \"up\\n\"\n",
    );
    project.write(
        "features/smoke.feature",
        "Feature: Smoke\n  Scenario: it is up\n    Then the file \"/srv/smoke\" should contain \"up\"\n",
    );
    git(project.path(), &["init", "-q"]);
    git(project.path(), &["add", "."]);
    git(project.path(), &["commit", "-qm", "smoke"]);
    let first = git(project.path(), &["rev-parse", "HEAD"]);
    on_host("rm -f /srv/smoke");

    let run = project.run(&["converge", "--verify"]).expect(0);
    assert!(
        run.stdout
            .contains("box  features passed  1 scenario passed"),
        "{}",
        run.stdout
    );
    let ledger = host_ledger();
    assert_eq!(ledger["host"], "box");
    assert_eq!(ledger["commit"], first.as_str());
    assert_eq!(ledger["result"], "ok");
    assert_eq!(ledger["features"]["result"], "passed");
    assert_eq!(ledger["features"]["passed"], 1);
    assert_eq!(ledger["features"]["commit"], first.as_str());
    let status = project.run(&["status"]).expect(0);
    assert!(
        status
            .stdout
            .contains(&format!("passed (1/1) at {}", &first[..7])),
        "{}",
        status.stdout
    );

    // A new commit whose feature fails on the host: recorded as failed.
    project.write(
        "features/more.feature",
        "Feature: More\n  Scenario: it says more\n    Then the file \"/srv/smoke\" should contain \"more\"\n",
    );
    git(project.path(), &["add", "."]);
    git(project.path(), &["commit", "-qm", "more"]);
    let second = git(project.path(), &["rev-parse", "HEAD"]);
    let run = project
        .run(&["converge", "--verify", "--format", "json"])
        .expect(1);
    let report = run.json();
    assert_eq!(report["hosts"][0]["state"], "features_failed");
    assert_eq!(report["converge"]["hosts"][0]["outcome"], "ok");
    let ledger = host_ledger();
    assert_eq!(ledger["commit"], second.as_str());
    assert_eq!(ledger["features"]["result"], "failed");
    assert_eq!(ledger["features"]["failed"], 1);
    let status = project.run(&["status"]).expect(0);
    assert!(
        status
            .stdout
            .contains(&format!("failed (1/2) at {}", &second[..7])),
        "{}",
        status.stdout
    );
}
