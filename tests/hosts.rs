//! The test-host lifecycle through the project's own docker driver:
//! create, list, ssh, destroy, with strict host-key checking throughout.

mod common;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

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

/// Removes containers made by a test when dropped.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            docker(&["rm", "-f", name]);
        }
    }
}

#[test]
fn destroy_refuses_a_container_that_is_not_the_projects() {
    let project = common::Project::with(&[(
        "redgreen.yml",
        "test_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    web: {}\n    db: {}\n",
    )]);
    // A container without redgreen's label, and one of another project.
    let pid = std::process::id();
    let stranger = format!("rg-stranger-{pid}");
    let other = format!("rg-other-{pid}");
    let _containers = Containers(vec![stranger.clone(), other.clone()]);
    docker(&["create", "--name", &stranger, common::IMAGE, "true"]);
    docker(&[
        "create",
        "--name",
        &other,
        "--label",
        "redgreen.project=0badc0de",
        common::IMAGE,
        "true",
    ]);
    // Records that name them (edited by hand, or copied from elsewhere).
    for (host, container) in [("web-d12", &stranger), ("db-d12", &other)] {
        project.write(
            &format!(".redgreen/hosts/{host}.json"),
            &serde_json::json!({
                "name": host, "driver": "docker", "container": container,
                "address": "127.0.0.1", "port": 1, "platform": "d12",
                "image": common::IMAGE, "systemd": false, "boot_seconds": 0.0,
            })
            .to_string(),
        );
    }
    let exists = |name: &str| {
        !docker(&["ps", "-aq", "--filter", &format!("name=^{name}$")])
            .trim()
            .is_empty()
    };

    let one = project.run(&["hosts", "destroy", "web-d12"]).expect(1);
    assert!(
        one.stderr.contains(&format!(
            "cannot destroy web-d12: the container {stranger} is not a test host of this project (it has no redgreen.project label"
        )),
        "{}",
        one.stderr
    );
    let all = project.run(&["hosts", "destroy"]).expect(1);
    assert!(
        all.stderr.contains(&format!(
            "cannot destroy db-d12: the container {other} is not a test host of this project (its label is redgreen.project=0badc0de"
        )),
        "{}",
        all.stderr
    );
    assert!(exists(&stranger) && exists(&other), "both are still there");
    for host in ["web-d12", "db-d12"] {
        assert!(
            project
                .path()
                .join(format!(".redgreen/hosts/{host}.json"))
                .exists(),
            "the record of {host} is kept"
        );
    }
}

#[test]
fn two_creates_at_once_make_one_host() {
    let project = common::Project::with(&[(
        "redgreen.yml",
        "test_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    solo: {}\n",
    )]);
    let _guard = common::HostsGuard::new(&project);
    // The first round starts without .redgreen/ (both would make the key
    // pair), the second with it (both would make the container).
    for round in 1..=2 {
        let creates: Vec<_> = (0..2)
            .map(|_| {
                Command::cargo_bin("redgreen")
                    .unwrap()
                    .arg("-C")
                    .arg(project.path())
                    .args(["hosts", "create"])
                    .env("NO_COLOR", "1")
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for create in creates {
            let output = create.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(output.status.code(), Some(0), "round {round}: {text}");
            assert!(text.contains("created solo-d12"), "round {round}: {text}");
        }
        let container = project.record("solo-d12")["container"]
            .as_str()
            .unwrap()
            .to_string();
        let id = container.split('-').nth(1).unwrap();
        let made = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=redgreen.project={id}"),
            "--format",
            "{{.Names}} {{.State}}",
        ]);
        assert_eq!(made, format!("{container} running\n"), "round {round}");
        let known = std::fs::read_to_string(project.path().join(".redgreen/known_hosts")).unwrap();
        assert_eq!(known.lines().count(), 1, "round {round}: {known}");
        assert_eq!(project.ssh("solo-d12", "echo reached"), "reached\n");
        if round == 1 {
            project.run(&["hosts", "destroy"]).expect(0);
        }
    }
}

#[test]
fn a_container_whose_sshd_never_answers_is_made_again_and_then_explained() {
    // An image like the test hosts' whose sshd cannot start.
    let image = format!("redgreen-test/no-sshd:{}", std::process::id());
    let maker = format!("rg-test-no-sshd-{}", std::process::id());
    docker(&[
        "run",
        "--name",
        &maker,
        common::IMAGE,
        "rm",
        "-f",
        "/usr/sbin/sshd",
    ]);
    docker(&["commit", &maker, &image]);
    docker(&["rm", "-f", &maker]);
    struct RemoveImage(String);
    impl Drop for RemoveImage {
        fn drop(&mut self) {
            docker(&["rmi", "-f", &self.0]);
        }
    }
    let _image = RemoveImage(image.clone());
    let project = common::Project::with(&[(
        "redgreen.yml",
        &format!(
            "test_hosts:\n  platforms:\n    - {{ name: mute, image: \"{image}\" }}\n  hosts:\n    web: {{}}\n"
        ),
    )]);
    let _guard = common::HostsGuard::new(&project);

    let run = project
        .run_env(
            &["hosts", "create"],
            &[("REDGREEN_BOOT_TIMEOUT", std::path::Path::new("4"))],
            false,
        )
        .expect(1);
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(text.contains("did not answer within 4s"), "{text}");
    assert!(
        text.contains("a first container failed the same way"),
        "{text}"
    );
    // What the container showed: systemd's view of the boot and the ssh unit.
    assert!(text.contains("the container is running"), "{text}");
    assert!(text.contains("systemd: degraded"), "{text}");
    assert!(text.contains("ssh.service"), "{text}");
    // Neither container is left behind, and no record was written.
    let left = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("ancestor={image}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(left, "", "containers left: {left}");
    assert!(
        !project
            .path()
            .join(".redgreen/hosts/web-mute.json")
            .exists()
    );
}
