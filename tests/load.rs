//! Load: many hosts at once. sshd's MaxStartups and MaxSessions are real
//! limits: redgreen queues and retries instead of failing, and leaves no SSH
//! process or control socket behind.

mod common;

use std::process::Command;

/// The tests here count SSH processes and control directories machine-wide:
/// they take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Processes whose command line names the project (its ssh_config path).
fn ssh_processes_of(project: &std::path::Path) -> usize {
    let out = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("ssh") && l.contains(&*project.to_string_lossy()))
        .count()
}

/// Control directories the openssh crate makes (one per master).
fn control_dirs() -> Vec<String> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ssh-connection"))
        .collect()
}

#[test]
fn forty_hosts_behind_one_sshd_queue_instead_of_failing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let shared = common::shared();
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host);
    let project = common::project_on_shared("groups:\n  test: { recipes: [one] }\n");
    let mut config = String::from("defaults:\n  ssh_config: ssh_config\nhosts:\n");
    for n in 0..40 {
        config.push_str(&format!(
            "  h{n}: {{ address: {address}, port: {port}, groups: [test], vars: {{ n: {n} }} }}\n"
        ));
    }
    config.push_str("groups:\n  test: { recipes: [one] }\n");
    project.write("redgreen.yml", &config);
    project.write(
        "recipes/one.yml",
        "resources:\n  - directory: /srv/load\n  - file: \"/srv/load/{{host.name}}\"\n    content: \"{{n}}\\n\"\n",
    );
    shared.project.ssh(&shared.host, "rm -rf /srv/load");
    let before = control_dirs();

    // 40 connections at once to one sshd (MaxStartups 10:30:100).
    let run = project
        .run(&["converge", "--concurrency", "40", "--format", "json"])
        .expect(0);
    let report = run.json();
    let hosts = report["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 40);
    assert!(hosts.iter().all(|h| h["outcome"] == "ok"), "{}", run.stdout);
    let written = shared.project.ssh(&shared.host, "ls /srv/load | wc -l");
    assert_eq!(written.trim(), "40");
    assert_eq!(
        shared.project.ssh(&shared.host, "cat /srv/load/h17"),
        "17\n"
    );

    // Nothing is left behind.
    assert_eq!(ssh_processes_of(project.path()), 0);
    let leftover: Vec<String> = control_dirs()
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    assert!(
        leftover.is_empty(),
        "control directories left: {leftover:?}"
    );

    // And again, a no-op: one round trip each.
    let again = project
        .run(&["converge", "--concurrency", "40", "--format", "json"])
        .expect(0)
        .json();
    assert!(common::round_trips(&again).iter().all(|r| *r == 1));
}

#[test]
fn thirty_test_hosts_at_once() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = String::from(
        "groups:\n  all: { recipes: [one] }\ntest_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n",
    );
    for n in 0..30 {
        config.push_str(&format!("    h{n}: {{ groups: [all] }}\n"));
    }
    let project = common::Project::with(&[
        ("redgreen.yml", &config),
        (
            "recipes/one.yml",
            "resources:\n  - file: /etc/motd\n    content: \"{{host.name}}\\n\"\n",
        ),
        (
            "features/load.feature",
            "Feature: every host is in shape\n  Scenario: the motd is written\n    Then the file \"/etc/motd\" should match \"^h[0-9]+-d12$\"\n    And the file \"/etc/motd\" should have mode \"0644\"\n  Scenario: sshd and the basics\n    Then the service \"ssh\" should be running\n    And port 22 should be listening\n    And the following packages should be installed:\n      | openssh-server |\n      | sudo           |\n",
        ),
    ]);
    let _hosts = project.create_hosts();
    let created = std::fs::read_dir(project.path().join(".redgreen/hosts"))
        .unwrap()
        .count();
    assert_eq!(created, 30);

    let first = project
        .run(&["converge", "--format", "json"])
        .expect(0)
        .json();
    let hosts = first["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 30);
    assert!(
        hosts
            .iter()
            .all(|h| h["outcome"] == "ok" && h["round_trips"] == 2)
    );
    assert_eq!(project.ssh("h29-d12", "cat /etc/motd"), "h29-d12\n");
    let second = project
        .run(&["converge", "--format", "json"])
        .expect(0)
        .json();
    assert!(common::round_trips(&second).iter().all(|r| *r == 1));

    // Verify on all 30 at once: 60 (scenario, host) results, all passed.
    let verify = project
        .run(&["verify", "--format", "json"])
        .expect(0)
        .json();
    let scenarios = verify["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 60);
    assert!(scenarios.iter().all(|s| s["status"] == "passed"));
    assert_eq!(ssh_processes_of(project.path()), 0);
}
