//! `redgreen watch`: on every save, what the change affects converges and
//! verifies again, and the result shows red or green.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

/// Wait for a line of the watcher's output that contains `text`.
fn wait_for(lines: &mpsc::Receiver<String>, seen: &mut Vec<String>, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(text) {
                    return line;
                }
            }
            Err(_) => panic!(
                "no line with {text:?} came; the watcher said:\n{}",
                seen.join("\n")
            ),
        }
    }
}

#[test]
fn saves_turn_red_and_green_and_only_what_they_affect_runs() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  app: { recipes: [app] }\ntest_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    app: { groups: [app] }\n",
        ),
        (
            "recipes/app.yml",
            "resources:\n  - file: /etc/greeting\n    content: \"hello\\n\"\n",
        ),
        (
            "features/app.feature",
            "Feature: greeting\n  Scenario: it greets\n    Then the file \"/etc/greeting\" should contain \"hello\"\n",
        ),
    ]);
    let _hosts = common::HostsGuard::new(&project);
    let (mut child, lines) = watch(&project);
    let mut seen = Vec::new();

    wait_for(&lines, &mut seen, "creating app-d12...");
    let start = wait_for(&lines, &mut seen, "start →");
    // Nothing was saved yet: the first round says how long it took.
    assert!(
        start.contains("converge 1 host(s): 1 changed")
            && !start.contains("from save")
            && start.contains("GREEN ("),
        "{start}"
    );

    // A recipe change converges and verifies: red.
    project.write(
        "recipes/app.yml",
        "resources:\n  - file: /etc/greeting\n    content: \"bonjour\\n\"\n",
    );
    // The save is seen at once: the round says it runs before it ends.
    wait_for(&lines, &mut seen, "running… (recipes/app.yml)");
    let red = wait_for(&lines, &mut seen, "recipes/app.yml →");
    assert!(
        red.contains("converge 1 host(s): 1 changed")
            && red.contains("RED")
            && red.ends_with("s from save to result)"),
        "{red}"
    );
    let why = wait_for(&lines, &mut seen, "✘");
    assert!(
        why.contains("features/app.feature:2 it greets on app-d12"),
        "{why}"
    );
    wait_for(&lines, &mut seen, "should contain \"hello\"");
    wait_for(&lines, &mut seen, "bonjour");
    assert_eq!(project.ssh("app-d12", "cat /etc/greeting"), "bonjour\n");

    // A feature change only verifies (no converge): green again.
    project.write(
        "features/app.feature",
        "Feature: greeting\n  Scenario: it greets\n    Then the file \"/etc/greeting\" should contain \"bonjour\"\n",
    );
    let green = wait_for(&lines, &mut seen, "features/app.feature →");
    assert!(
        !green.contains("converge")
            && green.contains("verify: 1 passed, 0 failed")
            && green.contains("GREEN"),
        "{green}"
    );

    // A mistake is reported and nothing runs.
    project.write("recipes/app.yml", "resources:\n  - fiel: /etc/greeting\n");
    wait_for(&lines, &mut seen, "a mistake, nothing ran");
    assert_eq!(project.ssh("app-d12", "cat /etc/greeting"), "bonjour\n");

    assert_eq!(stop(&mut child), Some(0));
    // The test host stays up after watch stops, and the next watch uses it.
    project.write(
        "recipes/app.yml",
        "resources:\n  - file: /etc/greeting\n    content: \"bonjour\\n\"\n",
    );
    assert!(project.path().join(".redgreen/hosts/app-d12.json").exists());
    let (mut child, lines) = watch(&project);
    let mut seen = Vec::new();
    wait_for(&lines, &mut seen, "using app-d12 (already up)");
    wait_for(&lines, &mut seen, "start →");
    assert!(
        !seen.iter().any(|l| l.contains("creating")),
        "{}",
        seen.join("\n")
    );
    assert_eq!(stop(&mut child), Some(0));
}

/// `redgreen watch` in the project, and the lines of its stdout.
fn watch(project: &common::Project) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::cargo_bin("redgreen")
        .unwrap()
        .arg("-C")
        .arg(project.path())
        .arg("watch")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, lines)
}

/// Ctrl-C the watcher; its exit code.
fn stop(child: &mut std::process::Child) -> Option<i32> {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    // Bounded: a watcher that ignores Ctrl-C fails the test, not hangs it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("redgreen watch did not stop on Ctrl-C within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
