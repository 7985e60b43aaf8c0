//! `redgreen init` and `redgreen test`: the red-green cycle end to end on
//! fresh Docker test hosts.

mod common;

use std::process::Command;

#[test]
fn init_then_test_goes_red_then_green_and_cleans_up() {
    let project = common::Project::new();
    let dir = project.path().to_path_buf();
    let init = project.run(&["init"]).expect(0);
    assert!(
        init.stdout.contains("features/web.feature"),
        "{}",
        init.stdout
    );
    // init refuses to overwrite.
    project.run(&["init"]).expect(2);

    let _guard = common::HostsGuard::new(&project);
    let run = project.run(&["test", "--format", "json"]).expect(0);
    let report = run.json();
    let host = &report["hosts"][0];
    assert_eq!(host["host"], "web-debian-12");
    assert_eq!(host["red"], serde_json::json!({ "passed": 0, "total": 3 }));
    assert_eq!(
        host["green"],
        serde_json::json!({ "passed": 3, "total": 3 })
    );
    assert_eq!(host["idempotence_checked"], true);
    assert_eq!(host["not_idempotent"], serde_json::json!([]));
    assert_eq!(host["problems"], serde_json::json!([]));
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 3);
    assert!(
        scenarios
            .iter()
            .all(|s| s["red"] == "failed" && s["green"] == "passed"),
        "{scenarios:#?}"
    );
    for phase in [
        "create",
        "red",
        "converge",
        "green",
        "idempotence",
        "destroy",
    ] {
        assert!(
            host["phases"][phase].as_f64().is_some(),
            "phase {phase} timed: {host}"
        );
    }
    // The test host is gone.
    assert!(!dir.join(".redgreen/hosts/web-debian-12.json").exists());
    assert_eq!(project_containers_of(&dir), Vec::<String>::new());
}

fn project_containers_of(dir: &std::path::Path) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=redgreen.host=web-debian-12",
            "--format",
            "{{.Names}}",
        ])
        .output()
        .unwrap();
    let prefix = format!("rg-{}", redgreen::driver::State::of(dir).id);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|n| n.starts_with(&prefix))
        .map(String::from)
        .collect()
}

const FEATURE: &str = r#"Feature: The app greets
  Scenario: the greeting is written
    Then the file "/etc/greeting" should contain "hello"

  Scenario: the base system is there
    Then the user "root" should exist

  Scenario: the greeting is in French
    Then the file "/etc/greeting" should contain "bonjour"
"#;

#[test]
fn a_failing_green_phase_a_non_idempotent_recipe_and_an_already_green_scenario_are_reported() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  app: { recipes: [app] }\ntest_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    app: { groups: [app] }\n",
        ),
        (
            "recipes/app.yml",
            "resources:\n  - file: /etc/greeting\n    content: \"hello\\n\"\n  - command: \"echo run >> /var/log/app-runs\"\n",
        ),
        ("features/app.feature", FEATURE),
    ]);
    let report_path = project.path().join("report.html");
    let report_text = report_path.to_string_lossy().into_owned();
    let guard = common::HostsGuard::new(&project);
    let run = project
        .run(&[
            "test",
            "--keep-failed",
            "--format",
            "html",
            "--out",
            &report_text,
        ])
        .expect(1);

    // The summary on the terminal names every problem.
    let summary = &run.stderr;
    assert!(summary.contains("FAILED on app-d12"), "{summary}");
    // Off a terminal, each resource of the converge is a line as it ends,
    // under its phase (and again in the converge that checks idempotence).
    let converge = summary
        .split("▶ converge (1 test host)\n")
        .nth(1)
        .unwrap_or_default();
    assert!(
        converge.starts_with("app-d12: file /etc/greeting: changed in ")
            && converge.contains("\napp-d12: command echo run >> /var/log/app-runs: changed in "),
        "{summary}"
    );
    assert!(
        summary.contains("Already green before converge"),
        "{summary}"
    );
    assert!(
        summary.contains("features/app.feature:5  The app greets: the base system is there"),
        "{summary}"
    );
    assert!(summary.contains("Still red after converge:"), "{summary}");
    assert!(summary.contains("features/app.feature:8"), "{summary}");
    assert!(
        summary.contains(
            "      expected /etc/greeting to contain \"bonjour\"; it does not, it has:\n        hello\n"
        ),
        "the message keeps its indentation: {summary}"
    );
    assert!(
        summary.contains("app-d12: not idempotent, the second converge changed:"),
        "{summary}"
    );
    assert!(
        summary.contains("command echo run >> /var/log/app-runs  (recipes/app.yml:4:5)"),
        "{summary}"
    );

    // The HTML report: a grid with red and green cells, the message on the red one.
    let html = std::fs::read_to_string(&report_path).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(
        !html.contains("<script") && !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    assert_eq!(html.matches("class=\"cell passed\"").count(), 2, "{html}");
    assert_eq!(html.matches("class=\"cell failed\"").count(), 1, "{html}");
    assert!(html.contains("already green before converge"), "{html}");
    assert!(
        html.contains("expected /etc/greeting to contain &quot;bonjour&quot;"),
        "{html}"
    );
    assert!(
        html.contains("command echo run &gt;&gt; /var/log/app-runs"),
        "{html}"
    );
    for phase in [
        "create",
        "verify (red)",
        "converge",
        "verify (green)",
        "converge again",
        "destroy",
    ] {
        assert!(html.contains(&format!("<th>{phase}</th>")), "{phase}");
    }

    // --keep-failed kept the failed test host.
    assert!(project.path().join(".redgreen/hosts/app-d12.json").exists());
    assert_eq!(project.ssh("app-d12", "wc -l < /var/log/app-runs"), "2\n");
    drop(guard);
}

#[test]
fn verify_writes_an_html_grid_beside_the_terminal_output() {
    let project = common::project_on_shared("groups:\n  test: {}\n");
    project.write(
        "features/grid.feature",
        "Feature: grid\n  Scenario: root exists\n    Then the user \"root\" should exist\n  Scenario: nobody is root\n    Then the user \"nobody\" should have shell \"/bin/bash\"\n",
    );
    let page = project.path().join("verify.html");
    let format = format!("html:{}", page.display());
    let run = project.run(&["verify", "--format", &format]).expect(1);
    assert!(
        run.stdout.contains("Scenario: root exists"),
        "pretty still on stdout: {}",
        run.stdout
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<h1>redgreen verify</h1>"));
    assert_eq!(html.matches("class=\"cell passed\"").count(), 1, "{html}");
    assert_eq!(html.matches("class=\"cell failed\"").count(), 1, "{html}");
    assert!(html.contains("expected shell /bin/bash"), "{html}");
}

/// Test-first with a command that the recipes install: before converge it is
/// not found (exit status 127: a red scenario, not an unreachable host), after
/// converge it answers, and guards that run it were no obstacle.
#[test]
fn a_command_not_installed_yet_is_red_then_green() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  tool: { recipes: [tool] }\ntest_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    tool: { groups: [tool] }\n",
        ),
        (
            "recipes/tool.yml",
            "resources:\n\
             \x20 - file: /usr/local/bin/rg-hello\n    content: \"#!/bin/sh\\necho hello\\n\"\n    mode: \"0755\"\n\
             \x20 - command: rg-hello > /etc/hello-said\n    only_if: rg-hello\n    creates: /etc/hello-said\n",
        ),
        (
            "features/tool.feature",
            "Feature: The tool\n  Scenario: it says hello\n    When I run \"rg-hello\"\n    Then the output should contain \"hello\"\n\n  Scenario: its first words are kept\n    Then the file \"/etc/hello-said\" should contain \"hello\"\n",
        ),
    ]);
    let _guard = common::HostsGuard::new(&project);
    let run = project.run(&["test", "--format", "json"]).expect(0);
    let report = run.json();
    let host = &report["hosts"][0];
    assert_eq!(host["problems"], serde_json::json!([]), "{report}");
    assert_eq!(host["red"], serde_json::json!({ "passed": 0, "total": 2 }));
    assert_eq!(
        host["green"],
        serde_json::json!({ "passed": 2, "total": 2 })
    );
    assert_eq!(host["idempotence_checked"], true);
    assert_eq!(report["unreachable"], false);
    // The progress lines and the summary tell the same time for each phase.
    for (phase, title) in [
        ("create", "create"),
        ("red", "verify (red)"),
        ("converge", "converge"),
        ("green", "verify (green)"),
        ("idempotence", "converge again"),
        ("destroy", "destroy"),
    ] {
        let seconds = host["phases"][phase].as_f64().unwrap();
        let line = format!("  {title} in {seconds:.1}s: ");
        assert!(run.stderr.contains(&line), "{line}\n{}", run.stderr);
        assert_eq!(report["phases"][phase], host["phases"][phase]);
    }
    let scenarios = report["scenarios"].as_array().unwrap();
    assert!(
        scenarios
            .iter()
            .all(|s| s["red"] == "failed" && s["green"] == "passed"),
        "{scenarios:#?}"
    );
}

/// In the red phase a red result is expected: a `within N seconds` step is
/// checked once instead of being waited out; after converge it waits.
#[test]
fn the_red_phase_checks_a_within_step_once() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  late: { recipes: [late] }\ntest_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    late: { groups: [late] }\n",
        ),
        (
            "recipes/late.yml",
            "resources:\n  - file: /etc/rg-late\n    content: \"here\\n\"\n",
        ),
        (
            "features/late.feature",
            "Feature: Late\n  Scenario: the file comes\n    Then the file \"/etc/rg-late\" should exist within 600 seconds\n",
        ),
    ]);
    let _guard = common::HostsGuard::new(&project);
    let run = project.run(&["test", "--format", "json"]).expect(0);
    let report = run.json();
    let scenario = &report["scenarios"][0];
    assert_eq!(scenario["red"], "failed", "{report}");
    assert_eq!(scenario["green"], "passed", "{report}");
    assert_eq!(
        scenario["red_failure"]["message"],
        "expected a file at /etc/rg-late, found nothing (checked once, without waiting 600 s: red is expected before converge)"
    );
}

/// `redgreen init demo` says to run `redgreen -C demo test`: a relative
/// project directory finds its features like an absolute one.
#[test]
fn a_relative_project_directory_finds_its_features() {
    use assert_cmd::cargo::CommandCargoExt;
    let parent = common::Project::new();
    let redgreen = |args: &[&str]| {
        let output = Command::cargo_bin("redgreen")
            .unwrap()
            .args(args)
            .current_dir(parent.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    redgreen(&["init", "demo"]);
    let validated = redgreen(&["-C", "demo", "validate"]);
    assert!(
        validated.contains("1 feature(s) with 3 scenario(s)"),
        "{validated}"
    );
}
