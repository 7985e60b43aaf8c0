//! Layered converge snapshots on a real Docker test host: a layer that
//! took long enough is saved and reused (a marker written once by the first
//! recipe stays the one written before), a cheap one is applied again; a
//! recipe splits after its package transaction, so an edit below it does
//! not install the package again; a changed template of the first recipe
//! rebuilds every layer after it; the red phase is red from the fresh image
//! even when every layer is cached; the host made from a snapshot takes the
//! test host's name and place; and without `--cache` (or with `--no-cache`)
//! everything is applied.

mod common;

use std::path::Path;

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
/// written once (a new value means the recipe ran on a fresh host), slowly
/// enough to be worth a snapshot.
const FIRST: &str = r#"
resources:
  - template: /etc/first.conf
    source: first.conf.hbs
  - command: write the marker
    run: "sleep 3; od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > /root/marker"
    creates: /root/marker
"#;

/// The second: a package, then a file (split after the package).
const SECOND: &str = r#"
resources:
  - package: hello
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
  Scenario: the package
    Then the package "hello" should be installed
"#;

const HOST: &str = "web-debian-12";

/// `test --keep --format json` with `extra`; with `every` set, every layer
/// is saved (`REDGREEN_SNAPSHOT_AFTER=0`), else only those that took 2 s.
fn test(project: &common::Project, extra: &[&str], every: bool) -> (Value, String) {
    let mut args = vec!["test", "--keep", "--format", "json"];
    args.extend(extra);
    let env: &[(&str, &Path)] = if every {
        &[("REDGREEN_SNAPSHOT_AFTER", Path::new("0"))]
    } else {
        &[]
    };
    let run = project.run_env(&args, env, false).expect(0);
    let report = run.json();
    let marker = project.ssh(HOST, "cat /root/marker");
    (report["hosts"][0].clone(), marker)
}

/// (recipe and part, from_cache) of each layer.
fn layers(host: &Value) -> Vec<(String, bool)> {
    host["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            let recipe = l["recipe"].as_str().unwrap();
            let name = match l["part"].as_str() {
                Some(part) => format!("{recipe} ({part})"),
                None => recipe.to_string(),
            };
            (name, l["from_cache"].as_bool().unwrap())
        })
        .collect()
}

fn layered(first: bool, package: bool, file: bool) -> Vec<(String, bool)> {
    vec![
        ("first".into(), first),
        ("second (to package hello)".into(), package),
        ("second (from file /etc/second.conf)".into(), file),
    ]
}

/// The titles of the resources the first converge applied.
fn applied(host: &Value) -> Vec<String> {
    host["converge"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["title"].as_str().unwrap().to_string())
        .collect()
}

/// The project's snapshots, as `hosts cache` lists them.
fn snapshots(project: &common::Project) -> Vec<String> {
    let listed = project.run(&["hosts", "cache"]).expect(0).stdout;
    listed
        .lines()
        .filter(|l| l.contains(HOST))
        .map(str::to_string)
        .collect()
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

    // Cold: every layer applied. The slow first recipe is saved; of the
    // second's two parts at most one is (a layer is saved once what was
    // applied since the last saved one took 2 s: the package part, or the
    // package and the file together).
    let (host, marker) = test(&project, &["--cache"], false);
    assert_eq!(layers(&host), layered(false, false, false), "{host}");
    assert_eq!(marker.trim().len(), 16, "{marker}");
    let saved = snapshots(&project);
    assert!(saved.iter().any(|l| l.ends_with(" first")), "{saved:?}");
    assert!(
        saved.iter().filter(|l| l.contains(" second (")).count() <= 1,
        "{saved:?}"
    );

    // From nothing again, saving every layer: all three applied and saved.
    project.run(&["hosts", "cache", "prune"]).expect(0);
    let (host, marker) = test(&project, &["--cache"], true);
    assert_eq!(layers(&host), layered(false, false, false), "{host}");
    assert_eq!(snapshots(&project).len(), 3, "{:?}", snapshots(&project));

    // Warm, nothing changed: every layer from the cache; red is red from
    // the fresh image all the same; idempotence covers every resource; the
    // host made from the snapshot took the test host's name and place.
    let (host, again) = test(&project, &["--cache"], false);
    assert_eq!(layers(&host), layered(true, true, true), "{host}");
    assert_eq!(again, marker, "the first recipe ran again");
    assert_eq!(
        host["red"],
        serde_json::json!({ "passed": 0, "total": 4 }),
        "{host}"
    );
    assert_eq!(
        host["green"],
        serde_json::json!({ "passed": 4, "total": 4 }),
        "{host}"
    );
    assert_eq!(host["idempotence_checked"], true);
    assert_eq!(applied(&host), Vec::<String>::new(), "{host}");
    let converged = project.ssh(HOST, "cat /etc/first.conf /etc/second.conf; hostname");
    assert_eq!(converged, format!("version one\nsecond\n{HOST}\n"));
    let listed = project.run(&["hosts", "list"]).expect(0).stdout;
    assert!(!listed.contains(".next"), "{listed}");

    // An edit below the package: the package's layer comes from the cache
    // and hello is not installed again.
    project.write(
        "recipes/second.yml",
        &SECOND.replace("second\\n", "second\\nmore\\n"),
    );
    let (host, kept) = test(&project, &["--cache"], false);
    assert_eq!(layers(&host), layered(true, true, false), "{host}");
    assert_eq!(applied(&host), ["file /etc/second.conf"], "{host}");
    assert_eq!(kept, marker);
    assert_eq!(project.ssh(HOST, "hello"), "Hello, world!\n");

    // A template of the first recipe changes: every layer is rebuilt.
    project.write("templates/first.conf.hbs", "version two\n");
    let (host, rebuilt) = test(&project, &["--cache"], false);
    assert_eq!(layers(&host), layered(false, false, false), "{host}");
    assert_ne!(rebuilt, marker, "the first recipe was applied again");
    assert_eq!(project.ssh(HOST, "cat /etc/first.conf"), "version two\n");

    // --no-cache: everything applied, from the fresh image.
    let (host, fresh) = test(&project, &["--no-cache"], false);
    assert_eq!(host["layers"], serde_json::json!([]), "{host}");
    assert_ne!(fresh, rebuilt);
    assert_eq!(
        host["red"],
        serde_json::json!({ "passed": 0, "total": 4 }),
        "{host}"
    );

    // Pruning removes them all.
    project.run(&["hosts", "destroy"]).expect(0);
    let all = snapshots(&project).len();
    let pruned = project.run(&["hosts", "cache", "prune"]).expect(0).stdout;
    assert!(
        pruned.contains(&format!("removed {all} of {all}")),
        "{pruned}"
    );
    assert_eq!(snapshots(&project), Vec::<String>::new());
}
