//! Faults on real test hosts: a host killed while a file is being written
//! keeps its old file (never half of the new one), the other hosts finish,
//! the exit code says a host was lost, and a rerun converges everything.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

#[test]
fn a_host_killed_mid_write_keeps_its_old_file_and_a_rerun_converges() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  all: { recipes: [big] }\ntest_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    cut: { groups: [all] }\n    fine: { groups: [all] }\n",
        ),
        (
            "recipes/big.yml",
            "resources:\n  - directory: /srv/cut\n  - file: /srv/cut/data\n    source: data.bin\n  - file: /srv/cut/after\n    content: \"written after data\\n\"\n",
        ),
    ]);
    // The old content, converged everywhere.
    project.write("files/data.bin", "old\n");
    let _hosts = project.create_hosts();
    let container = project.record("cut-d12")["container"]
        .as_str()
        .unwrap()
        .to_string();
    project.run(&["converge"]).expect(0);
    project.write(
        "recipes/big.yml",
        "resources:\n  - directory: /srv/cut\n  - file: /srv/cut/data\n    source: data.bin\n  - file: /srv/cut/after\n    content: \"written after data, v2\\n\"\n",
    );

    // New content large enough that writing it takes a moment.
    let mut data = Vec::with_capacity(96 << 20);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    while data.len() < 96 << 20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        data.extend_from_slice(&seed.to_le_bytes());
    }
    std::fs::File::create(project.path().join("files/data.bin"))
        .unwrap()
        .write_all(&data)
        .unwrap();

    // Watch inside the container for the temporary file to fill, then kill
    // the container: the connection is cut in the middle of the write.
    let mut watcher = Command::new("docker")
        .args([
            "exec",
            &container,
            "sh",
            "-c",
            "while :; do for f in /srv/cut/.rg-*; do [ -s \"$f\" ] && exit 0; done; done",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let converge = Command::cargo_bin("redgreen")
        .unwrap()
        .arg("-C")
        .arg(project.path())
        .args(["converge", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let watched = loop {
        if let Some(status) = watcher.try_wait().unwrap() {
            break status.success();
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = watcher.kill();
            break false;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if !watched {
        let mut converge = converge;
        let _ = converge.kill();
        let output = converge.wait_with_output().unwrap();
        panic!(
            "the temporary file never appeared; converge said:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(docker(&["kill", &container]).status.success());

    let output = converge.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(output.status.code(), Some(3), "a lost host exits 3");
    let hosts = report["hosts"].as_array().unwrap();
    let cut = hosts.iter().find(|h| h["host"] == "cut-d12").unwrap();
    let fine = hosts.iter().find(|h| h["host"] == "fine-d12").unwrap();
    assert_eq!(cut["outcome"], "unreachable", "{cut}");
    assert!(
        cut["reason"].as_str().unwrap().contains("connection lost"),
        "{cut}"
    );
    assert_eq!(fine["outcome"], "ok", "the other host finished: {fine}");

    // The killed host comes back with its old file whole, never half of the new.
    project.run(&["hosts", "create"]).expect(0);
    assert_eq!(project.ssh("cut-d12", "cat /srv/cut/data"), "old\n");
    assert_eq!(
        project.ssh("cut-d12", "cat /srv/cut/after"),
        "written after data\n"
    );

    // A rerun converges everything.
    project.run(&["converge"]).expect(0);
    let sha = project.ssh("cut-d12", "sha256sum < /srv/cut/data | cut -c1-64");
    let want = redgreen::resource::file::sha256_hex(&data);
    assert_eq!(sha.trim(), want);
    assert_eq!(
        project.ssh("cut-d12", "cat /srv/cut/after"),
        "written after data, v2\n"
    );
    let again = project
        .run(&["converge", "--format", "json"])
        .expect(0)
        .json();
    assert!(common::round_trips(&again).iter().all(|r| *r == 1));
}

#[test]
fn a_hanging_command_times_out_on_the_host_and_the_other_hosts_finish() {
    let shared = common::shared();
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host);
    shared.project.ssh(
        &shared.host,
        "rm -f /srv/hang-after /srv/hang-finished /srv/not-hanging",
    );
    let project = common::project_on_shared("");
    project.write(
        "redgreen.yml",
        &format!(
            "defaults:\n  ssh_config: ssh_config\n  command_timeout: 3\nhosts:\n  hangs: {{ address: {address}, port: {port}, groups: [hang] }}\n  fine: {{ address: {address}, port: {port}, groups: [fine] }}\ngroups:\n  hang: {{ recipes: [hang] }}\n  fine: {{ recipes: [fine] }}\n"
        ),
    );
    project.write(
        "recipes/hang.yml",
        "resources:\n  - command: \"sleep 300 && touch /srv/hang-finished\"\n  - file: /srv/hang-after\n    content: x\n",
    );
    project.write(
        "recipes/fine.yml",
        "resources:\n  - file: /srv/not-hanging\n    content: \"fine\\n\"\n",
    );
    let started = Instant::now();
    let run = project.run(&["converge", "--format", "json"]).expect(1);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the timeout held"
    );
    let report = run.json();
    let hangs = &report["hosts"][0];
    assert_eq!(hangs["outcome"], "failed", "{hangs}");
    assert!(
        hangs["reason"]
            .as_str()
            .unwrap()
            .contains("timed out after 3s"),
        "{hangs}"
    );
    assert_eq!(hangs["resources"][1]["status"], "skipped");
    assert_eq!(report["hosts"][1]["outcome"], "ok");
    assert_eq!(
        shared.project.ssh(&shared.host, "cat /srv/not-hanging"),
        "fine\n"
    );

    // The host stopped the command: nothing of it is left running.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        shared.project.ssh(
            &shared.host,
            "pgrep -x sleep >/dev/null && echo running || echo stopped; test -e /srv/hang-after && echo after || echo no-after"
        ),
        "stopped\nno-after\n"
    );

    // A rerun with the command fixed converges everything.
    project.write(
        "recipes/hang.yml",
        "resources:\n  - command: \"touch /srv/hang-finished\"\n    creates: /srv/hang-finished\n  - file: /srv/hang-after\n    content: x\n",
    );
    project.run(&["converge"]).expect(0);
    assert_eq!(shared.project.ssh(&shared.host, "cat /srv/hang-after"), "x");
}
