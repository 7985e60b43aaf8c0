//! A matrix CI can shard: `test --list --format json` prints the cells,
//! `--platform` and a SUITE pick one, and `--partition K/N` splits test
//! hosts (for `test`) and the inventory's hosts (for `plan`, `converge`,
//! `verify`) across N jobs, each host in exactly one.

mod common;

use std::collections::BTreeSet;

const MATRIX: &str = "test_hosts:
  platforms:
    - { name: debian-12, image: \"debian:bookworm\" }
    - { name: debian-13, image: \"debian:trixie\" }
  hosts:
    web: {}
    db: {}
    cache: {}
";

fn listed(run: &common::Run) -> Vec<String> {
    run.json()["include"]
        .as_array()
        .expect("include")
        .iter()
        .map(|c| c["test_host"].as_str().expect("test_host").to_string())
        .collect()
}

#[test]
fn the_list_is_a_ci_matrix_and_partitions_cover_it_once() {
    let project = common::Project::with(&[("redgreen.yml", MATRIX)]);
    let all = project
        .run(&["test", "--list", "--format", "json"])
        .expect(0);
    let cells = all.json()["include"].as_array().expect("include").clone();
    assert_eq!(cells.len(), 6, "{}", all.stdout);
    assert_eq!(
        cells[0],
        serde_json::json!({"suite": "web", "platform": "debian-12", "test_host": "web-debian-12"})
    );
    // One cell: a suite on a platform.
    let one = project
        .run(&[
            "test",
            "--list",
            "--format",
            "json",
            "db",
            "--platform",
            "debian-13",
        ])
        .expect(0);
    assert_eq!(listed(&one), ["db-debian-13"]);
    // Sorted names dealt round-robin: cache-12 cache-13 db-12 db-13 web-12 web-13.
    let shard = |k: &str| {
        let run = project.run(&["test", "--list", "--format", "json", "--partition", k]);
        listed(&run.expect(0))
    };
    assert_eq!(shard("1/4"), ["web-debian-12", "cache-debian-12"]);
    assert_eq!(shard("2/4"), ["web-debian-13", "cache-debian-13"]);
    assert_eq!(shard("3/4"), ["db-debian-12"]);
    assert_eq!(shard("4/4"), ["db-debian-13"]);
    let union: BTreeSet<String> = (1..=4).flat_map(|k| shard(&format!("{k}/4"))).collect();
    assert_eq!(union.len(), 6);
    // For people, a table.
    let table = project.run(&["test", "--list"]).expect(0).stdout;
    assert!(table.starts_with("SUITE"), "{table}");
    assert!(
        table.contains("db     db-debian-13     debian-13"),
        "{table}"
    );
    // More jobs than test hosts: an empty shard runs nothing and says so.
    let empty = project.run(&["test", "--partition", "7/7"]).expect(0);
    assert!(
        empty.stderr.contains("partition 7/7 holds none"),
        "{}",
        empty.stderr
    );
}

#[test]
fn bad_partitions_and_platforms_exit_2_with_what_to_do() {
    let project = common::Project::with(&[("redgreen.yml", MATRIX)]);
    for (args, expected) in [
        (
            vec!["test", "--partition", "0/3"],
            "partitions count from 1 to N",
        ),
        (vec!["test", "--partition", "3/2"], "e.g. --partition 1/3"),
        (vec!["converge", "--partition", "x"], "is not K/N"),
        (
            vec!["test", "--platform", "debian-14"],
            "did you mean 'debian-12'?",
        ),
    ] {
        let run = project.run(&args).expect(2);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn test_runs_only_its_partition_on_real_test_hosts() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "test_hosts:\n  platforms:\n    - { name: debian-12, image: \"debian:bookworm\" }\n  hosts:\n    shard-a: { groups: [g] }\n    shard-b: { groups: [g] }\ngroups:\n  g: { recipes: [r] }\n",
        ),
        (
            "recipes/r.yml",
            "resources:\n  - file: /etc/sharded\n    content: \"{{host.name}}\"\n",
        ),
        (
            "features/sharded.feature",
            "Feature: sharded\n  Scenario: the file is there\n    Then the file \"/etc/sharded\" should exist\n",
        ),
    ]);
    let _guard = common::HostsGuard::new(&project);
    let run = project
        .run(&[
            "test",
            "--platform",
            "debian-12",
            "--partition",
            "2/2",
            "--keep",
        ])
        .expect(0);
    assert!(run.stderr.contains("(1 test host)"), "{}", run.stderr);
    // Only shard-b-debian-12 was made, and converged.
    assert_eq!(
        project.ssh("shard-b-debian-12", "cat /etc/sharded"),
        "shard-b-debian-12"
    );
    let list = project.run(&["hosts", "list"]).expect(0).stdout;
    let line = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name}:\n{list}"))
            .to_string()
    };
    assert!(line("shard-b-debian-12").contains("running"), "{list}");
    assert!(!line("shard-a-debian-12").contains("running"), "{list}");
}

#[test]
fn converge_plan_and_verify_take_their_partition_of_the_inventory() {
    let shared = common::shared();
    let (address, port) = (
        shared.project.address(&shared.host),
        shared.project.port(&shared.host),
    );
    // Two inventory hosts, both the shared test host: `box` and `box2`.
    let project = common::project_on_shared(&format!(
        "  box2: {{ address: {address}, port: {port}, groups: [test] }}\ngroups:\n  test: {{ recipes: [r] }}\n"
    ));
    project.write(
        "recipes/r.yml",
        "resources:\n  - file: /tmp/shard-partition\n    content: \"{{host.name}}\"\n",
    );
    project.write(
        "features/f.feature",
        "Feature: f\n  Scenario: s\n    Then the file \"/tmp/shard-partition\" should contain \"box2\"\n",
    );
    let hosts = |run: common::Run| -> Vec<String> {
        run.json()["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| h["host"].as_str().expect("host").to_string())
            .collect()
    };
    // Sorted: box, box2 → 1/2 is box, 2/2 is box2.
    let plan = project.run(&["plan", "--partition", "1/2", "--format", "json"]);
    assert_eq!(hosts(plan.expect(0)), ["box"]);
    let converge = project.run(&["converge", "--partition", "2/2", "--format", "json"]);
    assert_eq!(hosts(converge.expect(0)), ["box2"]);
    assert_eq!(
        shared.project.ssh(&shared.host, "cat /tmp/shard-partition"),
        "box2"
    );
    let verify = project
        .run(&["verify", "--partition", "2/2", "--format", "json"])
        .expect(0);
    assert!(verify.stdout.contains("box2"), "{}", verify.stdout);
    assert!(!verify.stdout.contains("\"box\""), "{}", verify.stdout);
}
