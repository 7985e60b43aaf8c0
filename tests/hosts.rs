//! The test-host lifecycle through the project's own docker driver:
//! create, list, ssh, destroy, with strict host-key checking throughout.

mod common;

use std::process::Command;

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn create_list_ssh_destroy() {
    let project = common::Project::with(&[(
        "redgreen.yml",
        "test_hosts:\n  driver: docker\n  platforms:\n    - { name: debian-12, image: \"debian:bookworm\" }\n  hosts:\n    web: {}\n    db: {}\n",
    )]);
    let guard = project.create_hosts();
    let state =
        std::fs::read_to_string(project.path().join(".redgreen/hosts/web-debian-12.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&state).unwrap();
    let container = record["container"].as_str().unwrap().to_string();
    let address = record["address"].as_str().unwrap().to_string();
    let port = record["port"].as_u64().unwrap();
    assert_eq!(address, "127.0.0.1", "SSH goes through loopback");

    // Names are prefixed and labelled so nothing else on the machine is touched.
    assert!(
        container.starts_with("rg-") && container.ends_with("-web-debian-12"),
        "{container}"
    );
    let id = container.split('-').nth(1).unwrap().to_string();
    let labelled = docker(&[
        "ps",
        "--filter",
        &format!("label=redgreen.project={id}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(labelled.lines().count(), 2, "{labelled}");
    assert!(
        docker(&["network", "ls", "--format", "{{.Name}}"])
            .lines()
            .any(|n| n == format!("rg-{id}"))
    );

    // Listed as running, with its address.
    let list = project.run(&["hosts", "list"]).expect(0);
    assert!(
        list.stdout.lines().any(|l| l.starts_with("web-debian-12")
            && l.contains("running")
            && l.contains(&format!("{address}:{port}"))),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("db-debian-12") && l.contains("running")),
        "{}",
        list.stdout
    );

    // Its host key was recorded at creation: ssh with strict checking logs in.
    let known_hosts =
        std::fs::read_to_string(project.path().join(".redgreen/known_hosts")).unwrap();
    assert!(
        known_hosts
            .lines()
            .any(|l| l.starts_with(&format!("[{address}]:{port} ssh-ed25519 "))),
        "{known_hosts}"
    );
    assert_eq!(project.ssh("web-debian-12", "hostname"), "web-debian-12\n");
    assert_eq!(
        project.ssh("web-debian-12", "ps -p 1 -o comm="),
        "systemd\n"
    );
    assert_eq!(
        project.ssh("web-debian-12", "systemctl is-system-running --wait"),
        "running\n"
    );

    // Each test host has its own host key.
    let keys: Vec<&str> = known_hosts
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);

    // Creating again keeps the running hosts.
    let again = project.run(&["hosts", "create"]).expect(0);
    assert!(again.stdout.contains("web-debian-12"), "{}", again.stdout);
    assert_eq!(
        std::fs::read_to_string(project.path().join(".redgreen/hosts/web-debian-12.json")).unwrap(),
        state
    );

    // A stopped test host is started again by create, with its port and key.
    docker(&["stop", &container]);
    project.run(&["hosts", "create", "web-debian-12"]).expect(0);
    assert_eq!(
        std::fs::read_to_string(project.path().join(".redgreen/hosts/web-debian-12.json")).unwrap(),
        state
    );
    assert_eq!(project.ssh("web-debian-12", "hostname"), "web-debian-12\n");

    // Destroy one, then all.
    project.run(&["hosts", "destroy", "db-debian-12"]).expect(0);
    assert!(
        !project
            .path()
            .join(".redgreen/hosts/db-debian-12.json")
            .exists()
    );
    drop(guard);
    assert_eq!(
        docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=redgreen.project={id}"),
            "--format",
            "{{.Names}}"
        ]),
        ""
    );
    assert!(
        !docker(&["network", "ls", "--format", "{{.Name}}"])
            .lines()
            .any(|n| n == format!("rg-{id}"))
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join(".redgreen/known_hosts")).unwrap(),
        ""
    );
    let list = project.run(&["hosts", "list"]).expect(0);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("web-debian-12") && l.contains("not created")),
        "{}",
        list.stdout
    );
}

#[test]
fn ssh_to_a_host_that_is_not_created_says_how_to_create_it() {
    let project = common::Project::with(&[(
        "redgreen.yml",
        "test_hosts:\n  platforms:\n    - { name: debian-12, image: \"debian:bookworm\" }\n  hosts:\n    web: {}\n",
    )]);
    let run = project
        .run(&["hosts", "ssh", "web-debian-12", "--", "true"])
        .expect(2);
    assert!(
        run.stderr.contains("redgreen hosts create web-debian-12"),
        "{}",
        run.stderr
    );
}
