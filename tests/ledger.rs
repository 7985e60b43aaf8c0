//! The ledger and `redgreen status`: every converged host records the
//! repository's commit; status shows it per host and per group, and the host
//! that drifted from its group stands out.

mod common;

use std::process::Command;

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.org"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn converges_record_the_commit_and_status_shows_drift() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  web: { recipes: [site] }\ntest_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    a: { groups: [web] }\n    b: { groups: [web] }\n    c: { groups: [web] }\n",
        ),
        (
            "recipes/site.yml",
            "resources:\n  - file: /etc/site\n    content: \"v1\\n\"\n",
        ),
        (".gitignore", ".redgreen/\n"),
    ]);
    git(project.path(), &["init", "-q"]);
    git(project.path(), &["add", "."]);
    git(project.path(), &["commit", "-qm", "v1"]);
    let first = git(project.path(), &["rev-parse", "HEAD"]);
    let _hosts = project.create_hosts();

    // Nothing converged yet.
    let status = project.run(&["status", "--test-hosts"]).expect(0);
    assert!(
        status.stdout.contains("never converged"),
        "{}",
        status.stdout
    );

    project.run(&["converge"]).expect(0);
    let ledger = project.ledger("a-d12");
    assert_eq!(ledger["commit"], first.as_str());
    assert_eq!(ledger["dirty"], false);
    assert_eq!(ledger["result"], "ok");
    assert_eq!(ledger["host"], "a-d12");
    assert_eq!(ledger["recipes"], serde_json::json!(["site"]));
    let status = project.run(&["status"]).expect(0);
    assert!(
        status
            .stdout
            .contains(&format!("web: 3 hosts, all at {}", &first[..7])),
        "{}",
        status.stdout
    );

    // A no-op converge of the recorded commit is one round trip.
    let noop = project
        .run(&["converge", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(common::round_trips(&noop), [1, 1, 1]);

    // A new commit that changes no resource is still recorded (a second round trip).
    project.write("README", "notes\n");
    git(project.path(), &["add", "."]);
    git(project.path(), &["commit", "-qm", "notes"]);
    let second = git(project.path(), &["rev-parse", "HEAD"]);
    let recorded = project
        .run(&["converge", "a-d12", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(common::round_trips(&recorded), [2]);
    assert_eq!(recorded["hosts"][0]["resources"][0]["status"], "ok");

    // Two hosts on the new commit, one left behind: it stands out.
    project.run(&["converge", "b-d12"]).expect(0);
    let status = project.run(&["status"]).expect(0);
    let c_line = status
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("c-d12"))
        .unwrap();
    assert!(
        c_line.contains(&first[..7]) && c_line.contains("drifted"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(&format!(
            "2 at {} (a-d12, b-d12); 1 at {} (c-d12)",
            &second[..7],
            &first[..7]
        )),
        "{}",
        status.stdout
    );
    let json = project
        .run(&["status", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(json["repository"]["commit"], second.as_str());
    assert_eq!(json["hosts"][2]["drifted"], true);

    // A failed converge is recorded as failed, with the dirty tree.
    project.write(
        "recipes/site.yml",
        "resources:\n  - file: /nonexistent-dir/site\n    content: x\n",
    );
    project.run(&["converge", "c-d12"]).expect(1);
    let ledger = project.ledger("c-d12");
    assert_eq!(ledger["result"], "failed");
    assert_eq!(ledger["dirty"], true);
    assert_eq!(ledger["commit"], second.as_str());
}
