//! Test hosts on another machine's Docker engine: with DOCKER_HOST naming
//! the engine, a test host's SSH port is published on the engine's host and
//! reached there, not at 127.0.0.1. Here the local daemon is reached over
//! TCP on 127.0.0.2 through a socat forwarder, so the only way to find the
//! test host is the address in DOCKER_HOST.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

/// A TCP forwarder from 127.0.0.2:PORT to the local Docker socket, stopped
/// when dropped (also when the test fails).
struct Forwarder {
    child: Child,
    port: u16,
}

impl Forwarder {
    fn start() -> Forwarder {
        let port = std::net::TcpListener::bind("127.0.0.2:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.2")
            .port();
        let child = Command::new("socat")
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.2,reuseaddr,fork"))
            .arg("UNIX-CONNECT:/var/run/docker.sock")
            .stdin(Stdio::null())
            .spawn()
            .expect("socat runs (install it: .ci/run's package list has it)");
        let forwarder = Forwarder { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.2", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "socat does not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        forwarder
    }

    fn docker_host(&self) -> String {
        format!("tcp://127.0.0.2:{}", self.port)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// redgreen in `project` with DOCKER_HOST set.
fn redgreen(project: &common::Project, docker_host: &str, args: &[&str]) -> common::Run {
    let output = Command::cargo_bin("redgreen")
        .expect("redgreen binary")
        .arg("-C")
        .arg(project.path())
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .env("NO_COLOR", "1")
        .output()
        .expect("redgreen runs");
    common::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Destroys the test hosts through the same engine when dropped.
struct Destroy<'a>(&'a common::Project, String);

impl Drop for Destroy<'_> {
    fn drop(&mut self) {
        let run = redgreen(self.0, &self.1, &["hosts", "destroy"]);
        if run.code != 0 {
            eprintln!("destroying test hosts failed: {}{}", run.stdout, run.stderr);
        }
    }
}

#[test]
fn test_hosts_on_a_remote_engine_are_reached_at_its_address() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "test_hosts:\n  platforms:\n    - { name: debian-12, image: \"debian:bookworm\" }\n  hosts:\n    remote: { groups: [g] }\ngroups:\n  g: { recipes: [r] }\n",
        ),
        (
            "recipes/r.yml",
            "resources:\n  - file: /etc/remote-engine\n    content: reached\n",
        ),
        (
            "features/remote.feature",
            "Feature: remote\n  Scenario: converged\n    Then the file \"/etc/remote-engine\" should contain \"reached\"\n",
        ),
    ]);
    // Declared first, dropped last: the hosts go before the forwarder.
    let forwarder = Forwarder::start();
    let docker_host = forwarder.docker_host();
    let _destroy = Destroy(&project, docker_host.clone());
    redgreen(&project, &docker_host, &["hosts", "create"]).expect(0);
    assert_eq!(project.address("remote-debian-12"), "127.0.0.2");
    let port = project.port("remote-debian-12");
    // Published on the engine's address only.
    let record = project.record("remote-debian-12");
    let container = record["container"].as_str().expect("container").to_string();
    let mapping = Command::new("docker")
        .args(["port", &container, "22/tcp"])
        .output()
        .expect("docker port");
    assert_eq!(
        String::from_utf8_lossy(&mapping.stdout).trim(),
        format!("127.0.0.2:{port}")
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    // The red-green cycle over that address.
    let run = redgreen(&project, &docker_host, &["test", "--keep"]).expect(0);
    assert!(run.stdout.contains("remote-debian-12"), "{}", run.stdout);
    let ssh = redgreen(
        &project,
        &docker_host,
        &[
            "hosts",
            "ssh",
            "remote-debian-12",
            "--",
            "cat /etc/remote-engine",
        ],
    )
    .expect(0);
    assert_eq!(ssh.stdout, "reached");
}
