//! Connections kept between commands (ControlPersist): the next command of
//! the same project uses the kept master instead of a new handshake; a
//! change to what ssh would use makes a new one; a dead master is replaced,
//! and so is a live one whose host no longer answers on its connection;
//! `redgreen disconnect` closes them; `keep_connections: 0` keeps none.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Project, Run};
use redgreen::transport::Keep;

/// The pids of the SSH masters kept for `project`.
fn kept_masters(project: &Project) -> Vec<u32> {
    let keep = Keep::for_project(project.path(), Duration::ZERO);
    let out = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .unwrap();
    let dir = format!("{}/", keep.dir.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&dir) && l.contains("ssh") && !l.contains("ps -eo"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Run redgreen with keeping as redgreen.yml says (the tests' environment
/// turns it off elsewhere).
fn run(project: &Project, args: &[&str]) -> Run {
    project.run_env(args, &[("REDGREEN_KEEP_CONNECTIONS", Path::new(""))], false)
}

/// A project on the shared test host whose redgreen.yml has `defaults`.
fn project(defaults: &str) -> Project {
    let project =
        common::project_on_shared_with(defaults, "groups:\n  test: { recipes: [kept] }\n");
    project.write(
        "recipes/kept.yml",
        "resources:\n  - file: /tmp/rg-kept\n    content: \"kept\\n\"\n",
    );
    project.write(
        "features/kept.feature",
        "Feature: Kept\n  Scenario: the file\n    Then the file \"/tmp/rg-kept\" should contain \"kept\"\n",
    );
    project
}

#[test]
fn a_kept_connection_is_used_again_replaced_when_it_must_be_and_closed_on_demand() {
    let project = project("");
    run(&project, &["converge"]).expect(0);
    let first = kept_masters(&project);
    assert_eq!(
        first.len(),
        1,
        "one master kept after the command: {first:?}"
    );

    // The next commands use it: no new master.
    let noop = run(&project, &["converge", "--format", "json"]).expect(0);
    assert_eq!(noop.json()["hosts"][0]["round_trips"], 1);
    run(&project, &["verify"]).expect(0);
    assert_eq!(kept_masters(&project), first, "the same master serves them");

    // A change to what ssh would use makes another connection.
    let config = project.path().join("ssh_config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\nHost *\n  ServerAliveCountMax 4\n");
    std::fs::write(&config, text).unwrap();
    run(&project, &["converge"]).expect(0);
    let now = kept_masters(&project);
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(now.contains(&first[0]));

    // A master that died (killed) is replaced, and the command works.
    for pid in &now {
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    run(&project, &["verify"]).expect(0);
    let replaced = kept_masters(&project);
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert!(!now.contains(&replaced[0]));

    // `disconnect` closes them.
    let closed = run(&project, &["disconnect"]).expect(0);
    assert_eq!(closed.stdout, "closed 1 kept connection\n");
    assert_eq!(kept_masters(&project), Vec::<u32>::new());
    assert!(
        !Keep::for_project(project.path(), Duration::ZERO)
            .dir
            .exists()
    );
}

/// How many times `ssh -G` ran, as the test's ssh wrapper noted in `log`.
fn ssh_g_runs(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |text| text.lines().count())
}

#[test]
fn a_warm_command_reads_back_what_ssh_said_until_a_file_ssh_reads_changes() {
    use std::os::unix::fs::PermissionsExt;
    let project = project("");
    // The ssh_config includes a file of its own.
    let extra = project.path().join("extra.conf");
    std::fs::write(&extra, "# nothing yet\n").unwrap();
    let config = project.path().join("ssh_config");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("Include {}\n{text}", extra.display())).unwrap();
    // An ssh on the PATH that notes each `ssh -G` and runs the real one.
    let bin = project.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = project.path().join("ssh-g.log");
    let wrapper = bin.join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" -G \"*) echo G >> '{}' ;; esac\nexec /usr/bin/ssh \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str]| {
        project.run_env(
            args,
            &[
                ("REDGREEN_KEEP_CONNECTIONS", Path::new("")),
                ("PATH", Path::new(&path)),
            ],
            false,
        )
    };

    run(&["converge"]).expect(0);
    assert_eq!(ssh_g_runs(&log), 1, "the cold command asks ssh");
    let first = kept_masters(&project);
    run(&["converge"]).expect(0);
    run(&["verify"]).expect(0);
    assert_eq!(ssh_g_runs(&log), 1, "the warm ones read its answer back");
    assert_eq!(kept_masters(&project), first);

    // A change to the included file: ssh is asked again, and its new answer
    // names another connection.
    std::fs::write(&extra, "Host *\n  ServerAliveCountMax 5\n").unwrap();
    run(&["converge"]).expect(0);
    assert_eq!(ssh_g_runs(&log), 2);
    let now = kept_masters(&project);
    assert_eq!(now.len(), 2, "{now:?}");
    run(&["verify"]).expect(0);
    assert_eq!(ssh_g_runs(&log), 2);

    // A config that looks things up when ssh runs is asked every time.
    std::fs::write(&extra, "Match exec true\n  ServerAliveCountMax 5\n").unwrap();
    run(&["verify"]).expect(0);
    run(&["verify"]).expect(0);
    assert_eq!(ssh_g_runs(&log), 4);
    run(&["disconnect"]).expect(0);
}

/// A kept master that ended when its idle time was up: the next command
/// reads ssh's answer back and starts one ssh per host, its new master (no
/// `ssh -G`), and keeps the answer beside the new master, so that it
/// outlives the old master's folder. A killed master is replaced without
/// an `ssh -O` to a master that is gone.
#[test]
fn after_a_kept_master_ended_the_next_command_starts_only_a_new_master() {
    use std::os::unix::fs::PermissionsExt;
    let project = project("");
    // An ssh on the PATH that notes what each ssh is for.
    let bin = project.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = project.path().join("ssh.log");
    std::fs::write(
        bin.join("ssh"),
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" -G \"*) w=G ;; *\" -O \"*) w=O ;; *\" -M \"*) w=M ;; *) w=other ;; esac\n\
             echo $w >> '{}'\nexec /usr/bin/ssh \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("ssh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str], idle: &str| {
        project.run_env(
            args,
            &[
                ("REDGREEN_KEEP_CONNECTIONS", Path::new(idle)),
                ("PATH", Path::new(&path)),
            ],
            false,
        )
    };
    let said = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        std::fs::remove_file(&log).unwrap_or_default();
        text.lines().collect::<Vec<_>>().join(" ")
    };

    // A master kept for 1 idle second, then gone.
    run(&["converge"], "1").expect(0);
    assert_eq!(said(), "G M");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !kept_masters(&project).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the master outlived its idle time"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    run(&["converge"], "60").expect(0);
    assert_eq!(said(), "M", "only the new master");

    // The old master's folder is swept once it is old; ssh's answer is
    // still there, beside the new master.
    let keep = Keep::for_project(project.path(), Duration::ZERO);
    let folders: Vec<_> = std::fs::read_dir(&keep.dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path())
        .collect();
    let old: Vec<_> = folders
        .iter()
        .filter(|f| !f.join("master").exists())
        .collect();
    assert_eq!((folders.len(), old.len()), (2, 1), "{folders:?}");
    let aged = Command::new("touch")
        .args(["-d", "10 minutes ago"])
        .arg(old[0])
        .status()
        .unwrap();
    assert!(aged.success());
    run(&["verify"], "60").expect(0);
    assert_eq!(said(), "", "warm: no ssh at all");
    assert!(!old[0].exists(), "the old folder was swept");

    // A master that was killed leaves its socket behind, answering nothing:
    // it is replaced without an `ssh -O` to stop it.
    for pid in kept_masters(&project) {
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    run(&["verify"], "60").expect(0);
    assert_eq!(said(), "M");
    run(&["disconnect"], "").expect(0);
}

#[test]
fn keep_connections_zero_keeps_none() {
    let project = project("  keep_connections: 0\n");
    run(&project, &["converge"]).expect(0);
    run(&project, &["verify"]).expect(0);
    assert_eq!(kept_masters(&project), Vec::<u32>::new());
}

#[test]
fn the_phases_of_test_share_one_kept_connection_per_test_host() {
    let project = Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  web: { recipes: [kept] }\ntest_hosts:\n  driver: docker\n  platforms:\n    - { name: debian-12, image: \"debian:bookworm\" }\n  hosts:\n    web: { groups: [web] }\n",
        ),
        (
            "recipes/kept.yml",
            "resources:\n  - file: /tmp/rg-kept\n    content: \"kept\\n\"\n",
        ),
        (
            "features/kept.feature",
            "Feature: Kept\n  Scenario: the file\n    Then the file \"/tmp/rg-kept\" should contain \"kept\"\n",
        ),
    ]);
    let _guard = common::HostsGuard::new(&project);
    // Red, converge, green and the idempotence run: one master, kept.
    run(&project, &["test", "--keep", "--no-cache"]).expect(0);
    let masters = kept_masters(&project);
    assert_eq!(masters.len(), 1, "one master for four phases: {masters:?}");
    run(&project, &["disconnect"]).expect(0);
    assert_eq!(kept_masters(&project), Vec::<u32>::new());
}

/// `docker exec` in the test host's container.
fn in_container(project: &Project, host: &str, args: &[&str]) {
    let container = project.record(host)["container"]
        .as_str()
        .expect("container")
        .to_string();
    let status = Command::new("docker")
        .args(["exec", &container])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "docker exec {args:?}");
}

#[test]
fn a_kept_connection_whose_host_no_longer_answers_on_it_is_replaced_before_anything_runs() {
    let project = Project::with(&[
        (
            "redgreen.yml",
            "defaults:\n  connect_timeout: 3\ngroups:\n  web: { recipes: [kept] }\ntest_hosts:\n  driver: docker\n  platforms:\n    - { name: debian-12, image: \"debian:bookworm\" }\n  hosts:\n    web: { groups: [web] }\n",
        ),
        (
            "recipes/kept.yml",
            "resources:\n  - file: /tmp/rg-kept\n    content: \"kept\\n\"\n",
        ),
        (
            "features/kept.feature",
            "Feature: Kept\n  Scenario: the file\n    Then the file \"/tmp/rg-kept\" should contain \"kept\"\n",
        ),
    ]);
    let _guard = project.create_hosts();
    let host = "web-debian-12";
    run(&project, &["converge", "--test-hosts"]).expect(0);
    let first = kept_masters(&project);
    assert_eq!(first.len(), 1, "{first:?}");

    // The host's end of that connection stops answering (its sshd
    // processes frozen), while its sshd still takes new connections: the
    // master still runs and says so, so only the first script can tell.
    in_container(&project, host, &["pkill", "-STOP", "-f", "^sshd: root"]);
    let started = Instant::now();
    let verify = run(&project, &["verify", "--test-hosts"]);
    let took = started.elapsed();
    in_container(&project, host, &["pkill", "-CONT", "-f", "^sshd: root"]);
    verify.expect(0);
    // It waited the connect timeout for the first channel, then connected
    // again instead of reporting the host unreachable.
    assert!(took >= Duration::from_secs(3), "took {took:?}");
    let now = kept_masters(&project);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, first, "a new master replaced the silent one");

    // The new master serves the next command.
    run(&project, &["verify", "--test-hosts"]).expect(0);
    assert_eq!(kept_masters(&project), now);

    // A command whose first use of the host is a connection through it (a
    // feature with only an HTTP check, so no script runs first) proves the
    // kept connection too, instead of failing the check.
    in_container(
        &project,
        host,
        &[
            "sh",
            "-c",
            &format!("nohup perl -e '{HTTPD}' >/dev/null 2>&1 &"),
        ],
    );
    in_container(
        &project,
        host,
        &[
            "sh",
            "-c",
            "for i in $(seq 50); do ss -Htln | grep -q 127.0.0.1:8089 && exit 0; sleep 0.1; done; exit 1",
        ],
    );
    project.write(
        "features/kept.feature",
        "Feature: Kept\n  Scenario: the page\n    Then \"http://localhost:8089/\" should respond with status 200\n",
    );
    in_container(&project, host, &["pkill", "-STOP", "-f", "^sshd: root"]);
    let verify = run(&project, &["verify", "--test-hosts"]);
    in_container(&project, host, &["pkill", "-CONT", "-f", "^sshd: root"]);
    verify.expect(0);
    let again = kept_masters(&project);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again, now, "a new master replaced the silent one");
    run(&project, &["disconnect"]).expect(0);
}

/// A one-line HTTP server on 127.0.0.1:8089 (Perl is in every test image).
const HTTPD: &str = r#"use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 8089, Listen => 5, ReuseAddr => 1) or die; while (my $c = $s->accept) { while (<$c>) { last if /^\r?\n$/ } print $c "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"; close $c }"#;
