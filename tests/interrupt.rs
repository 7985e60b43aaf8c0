//! Ctrl-C during a converge: no new host starts, what runs finishes or times
//! out, every SSH process is gone, what was done is printed, exit 130.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;

fn ssh_processes_of(project: &std::path::Path) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.contains(&*project.to_string_lossy()) && l.contains("ssh") && !l.contains("ps -eo")
        })
        .map(String::from)
        .collect()
}

/// `redgreen converge --concurrency 1` in the background, its output piped.
fn converge_one_host_at_a_time(project: &common::Project) -> std::process::Child {
    Command::cargo_bin("redgreen")
        .unwrap()
        .arg("-C")
        .arg(project.path())
        .args(["converge", "--concurrency", "1"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn ctrl_c_stops_new_work_and_exits_130() {
    // A host that accepts the connection and never answers: its connect
    // runs until the connect timeout while Ctrl-C arrives.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let shared = common::shared();
    let project = common::project_on_shared("groups:\n  test: { recipes: [one] }\n");
    let config = std::fs::read_to_string(project.path().join("redgreen.yml")).unwrap();
    let config = config
        .replace("defaults:\n", "defaults:\n  connect_timeout: 3\n")
        .replace(
            "hosts:\n",
            &format!(
                "hosts:\n  silent: {{ address: 127.0.0.1, port: {silent_port}, groups: [test] }}\n"
            ),
        );
    project.write("redgreen.yml", &config);
    project.write(
        "recipes/one.yml",
        "resources:\n  - file: /srv/interrupted\n    content: x\n",
    );
    shared.project.ssh(&shared.host, "rm -f /srv/interrupted");

    let child = converge_one_host_at_a_time(&project);
    std::thread::sleep(Duration::from_millis(1000));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // The host being connected to finished its attempt; the other never started.
    assert!(stdout.contains("silent  unreachable"), "{stdout}");
    assert!(stdout.contains("box  interrupted  not started"), "{stdout}");
    assert!(stdout.contains("Recap"), "{stdout}");
    assert_eq!(
        shared.project.ssh(
            &shared.host,
            "test -e /srv/interrupted && echo applied || echo untouched"
        ),
        "untouched\n"
    );
    assert_eq!(ssh_processes_of(project.path()), Vec::<String>::new());
}

#[test]
fn ctrl_c_lets_a_running_command_finish() {
    let shared = common::shared();
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host);
    shared
        .project
        .ssh(&shared.host, "rm -f /srv/int-first /srv/int-second");
    let project = common::project_on_shared("");
    project.write(
        "redgreen.yml",
        &format!(
            "defaults:\n  ssh_config: ssh_config\nhosts:\n  first: {{ address: {address}, port: {port}, groups: [slow], vars: {{ n: first }} }}\n  second: {{ address: {address}, port: {port}, groups: [slow], vars: {{ n: second }} }}\ngroups:\n  slow: {{ recipes: [slow] }}\n"
        ),
    );
    project.write(
        "recipes/slow.yml",
        "resources:\n  - command: \"sleep 3 && touch /srv/int-{{n}}\"\n    creates: \"/srv/int-{{n}}\"\n",
    );
    let child = converge_one_host_at_a_time(&project);
    // Wait until the first host's command runs, then interrupt.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while shared.project.ssh(
        &shared.host,
        "pgrep -x sleep >/dev/null && echo yes || echo no",
    ) != "yes\n"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("first  changed"),
        "the running command finished: {stdout}"
    );
    assert!(
        stdout.contains("second  interrupted  not started"),
        "{stdout}"
    );
    assert_eq!(
        shared.project.ssh(
            &shared.host,
            "ls /srv/int-first /srv/int-second 2>/dev/null; true"
        ),
        "/srv/int-first\n"
    );
    assert_eq!(ssh_processes_of(project.path()), Vec::<String>::new());
}
