//! Layered converge snapshots on a real Docker test host: a cached layer is
//! reused (a marker written once by the first recipe stays the one written
//! before), a changed template of the first recipe rebuilds every layer
//! after it, the red phase is red from the fresh image even when every layer
//! is cached, and without `--cache` (or with `--no-cache`) everything is applied.

mod common;

use serde_json::Value;

const INVENTORY: &str = r#"
groups:
  web: { recipes: [first, second] }
test_hosts:
  driver: docker
  platforms:
    - { name: debian-12, image: "debian:bookworm" }
  hosts:
    web: { groups: [web] }
"#;

/// The first recipe: a template, and a marker holding a random value,
/// written once (a new value means the recipe ran on a fresh host).
const FIRST: &str = r#"
resources:
  - template: /etc/first.conf
    source: first.conf.hbs
  - command: write the marker
    run: "od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > /root/marker"
    creates: /root/marker
"#;

const SECOND: &str = r#"
resources:
  - file: /etc/second.conf
    content: "second\n"
"#;

const FEATURE: &str = r#"
Feature: two layers
  Scenario: the first recipe's file
    Then the file "/etc/first.conf" should contain "version"
  Scenario: the second recipe's file
    Then the file "/etc/second.conf" should contain "second"
  Scenario: the marker
    Then the file "/root/marker" should exist
"#;

const HOST: &str = "web-debian-12";

fn test(project: &common::Project, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["test", "--keep", "--format", "json"];
    args.extend(extra);
    let run = project.run(&args).expect(0);
    let report = run.json();
    let marker = project.ssh(HOST, "cat /root/marker");
    (report["hosts"][0].clone(), marker)
}

/// (recipe, from_cache) of each layer.
fn layers(host: &Value) -> Vec<(String, bool)> {
    host["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            (
                l["recipe"].as_str().unwrap().to_string(),
                l["from_cache"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn layered(first: bool, second: bool) -> Vec<(String, bool)> {
    vec![("first".into(), first), ("second".into(), second)]
}

#[test]
fn layers_are_reused_rebuilt_after_a_change_and_skipped_with_no_cache() {
    let project = common::Project::with(&[
        ("redgreen.yml", INVENTORY),
        ("recipes/first.yml", FIRST),
        ("recipes/second.yml", SECOND),
        ("templates/first.conf.hbs", "version one\n"),
        ("features/layers.feature", FEATURE),
    ]);
    let _guard = common::HostsGuard::new(&project);

    // Cold: both recipes applied, each saved.
    let (host, marker) = test(&project, &["--cache"]);
    assert_eq!(layers(&host), layered(false, false), "{host}");
    assert_eq!(marker.trim().len(), 16, "{marker}");
    let listed = project.run(&["hosts", "cache"]).expect(0).stdout;
    assert_eq!(
        listed.lines().filter(|l| l.contains(HOST)).count(),
        2,
        "{listed}"
    );

    // Warm, nothing changed: every layer from the cache; the marker is the
    // one written before (the first recipe did not run again); red is red
    // from the fresh image all the same; idempotence covers every resource.
    let (host, again) = test(&project, &["--cache"]);
    assert_eq!(layers(&host), layered(true, true), "{host}");
    assert_eq!(again, marker, "the first recipe ran again");
    assert_eq!(
        host["red"],
        serde_json::json!({ "passed": 0, "total": 3 }),
        "{host}"
    );
    assert_eq!(
        host["green"],
        serde_json::json!({ "passed": 3, "total": 3 }),
        "{host}"
    );
    assert_eq!(host["idempotence_checked"], true);
    assert_eq!(
        host["converge"]["resources"],
        serde_json::json!([]),
        "{host}"
    );
    let converged = project.ssh(HOST, "cat /etc/first.conf /etc/second.conf");
    assert_eq!(converged, "version one\nsecond\n");

    // A template of the first recipe changes: every layer is rebuilt.
    project.write("templates/first.conf.hbs", "version two\n");
    let (host, rebuilt) = test(&project, &["--cache"]);
    assert_eq!(layers(&host), layered(false, false), "{host}");
    assert_ne!(rebuilt, marker, "the first recipe was applied again");
    assert_eq!(project.ssh(HOST, "cat /etc/first.conf"), "version two\n");

    // The second recipe changes: the first layer comes from the cache.
    project.write(
        "recipes/second.yml",
        &SECOND.replace("second\\n", "second\\nmore\\n"),
    );
    let (host, kept) = test(&project, &["--cache"]);
    assert_eq!(layers(&host), layered(true, false), "{host}");
    assert_eq!(kept, rebuilt);

    // --no-cache: everything applied, from the fresh image.
    let (host, fresh) = test(&project, &["--no-cache"]);
    assert_eq!(host["layers"], serde_json::json!([]), "{host}");
    assert_ne!(fresh, rebuilt);
    assert_eq!(
        host["red"],
        serde_json::json!({ "passed": 0, "total": 3 }),
        "{host}"
    );

    // Pruning removes them all, five: first and second twice, second once
    // more (the guard prunes what a failure leaves).
    project.run(&["hosts", "destroy"]).expect(0);
    let pruned = project.run(&["hosts", "cache", "prune"]).expect(0).stdout;
    assert!(pruned.contains("removed 5 of 5"), "{pruned}");
}
