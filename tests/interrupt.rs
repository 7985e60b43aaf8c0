//! Ctrl-C, SIGTERM and SIGHUP during a converge: no new host starts, what
//! runs finishes or times out, every SSH process and control directory is
//! gone, what was done is printed, exit 128 + the signal. A second signal,
//! or one during verify, ends redgreen at once, leaving no SSH behind either.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;

/// The tests watch the shared host's processes: one at a time.
static HOST: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    HOST.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

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

/// What a redgreen process (by its id) left behind: its SSH processes (a
/// master's command line names its control socket) and its control
/// directory.
fn left_behind(pid: u32, project: &std::path::Path) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("rg-{pid}"));
    let out = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .unwrap();
    let mut left: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("{}/", dir.display())) && !l.contains("ps -eo"))
        .map(String::from)
        .collect();
    left.extend(ssh_processes_of(project));
    if dir.exists() {
        left.push(format!("the control directory {}", dir.display()));
    }
    left
}

/// Wait until a process whose command line starts with `pattern` runs on
/// the shared host.
fn wait_on_host_for(pattern: &str) {
    let shared = common::shared();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while shared.project.ssh(
        &shared.host,
        &format!("pgrep -f '^{pattern}' >/dev/null && echo yes || echo no"),
    ) != "yes\n"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "`{pattern}` never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
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
    let _turn = take_turn();
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
    let _turn = take_turn();
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

/// Two hosts on the shared test host, converged one at a time, whose command
/// (`sleep SECONDS`, then a file `/srv/int-PREFIX-HOST`) runs a while.
fn slow_two_hosts(prefix: &str, seconds: &str) -> common::Project {
    let shared = common::shared();
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host);
    shared
        .project
        .ssh(&shared.host, &format!("rm -f /srv/int-{prefix}-*"));
    let project = common::project_on_shared("");
    project.write(
        "redgreen.yml",
        &format!(
            "defaults:\n  ssh_config: ssh_config\nhosts:\n  first: {{ address: {address}, port: {port}, groups: [slow], vars: {{ n: first }} }}\n  second: {{ address: {address}, port: {port}, groups: [slow], vars: {{ n: second }} }}\ngroups:\n  slow: {{ recipes: [slow] }}\n"
        ),
    );
    project.write(
        "recipes/slow.yml",
        &format!(
            "resources:\n  - command: \"sleep {seconds} && touch /srv/int-{prefix}-{{{{n}}}}\"\n    creates: \"/srv/int-{prefix}-{{{{n}}}}\"\n"
        ),
    );
    project
}

#[test]
fn sigterm_and_sighup_get_the_care_of_ctrl_c() {
    let _turn = take_turn();
    let shared = common::shared();
    for (name, code) in [("TERM", 143), ("HUP", 129)] {
        let project = slow_two_hosts(name, "3.3");
        let child = converge_one_host_at_a_time(&project);
        let pid = child.id();
        wait_on_host_for("sleep 3.3");
        signal(&child, name);
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{name}: {stdout}\n{stderr}"
        );
        assert!(
            stderr.contains("finishing the scripts that are running"),
            "{name}: {stderr}"
        );
        assert!(
            stdout.contains("first  changed"),
            "{name}: the running command finished: {stdout}"
        );
        assert!(
            stdout.contains("second  interrupted  not started"),
            "{name}: {stdout}"
        );
        assert!(stdout.contains("Recap"), "{name}: {stdout}");
        assert_eq!(
            shared.project.ssh(
                &shared.host,
                &format!("ls /srv/int-{name}-first /srv/int-{name}-second 2>/dev/null; true")
            ),
            format!("/srv/int-{name}-first\n")
        );
        assert_eq!(
            left_behind(pid, project.path()),
            Vec::<String>::new(),
            "{name}"
        );
    }
}

#[test]
fn a_second_ctrl_c_quits_at_once_and_leaves_no_ssh_behind() {
    let _turn = take_turn();
    let shared = common::shared();
    let project = slow_two_hosts("double", "30.5");
    let mut child = converge_one_host_at_a_time(&project);
    let pid = child.id();
    wait_on_host_for("sleep 30.5");
    signal(&child, "INT");
    // The second Ctrl-C once the first was seen: two signals sent at once
    // can arrive as one.
    let mut errors = BufReader::new(child.stderr.take().unwrap());
    let mut stderr = String::new();
    while !stderr.contains("Ctrl-C again") {
        let mut line = String::new();
        if errors.read_line(&mut line).unwrap() == 0 {
            break;
        }
        stderr.push_str(&line);
    }
    signal(&child, "INT");
    errors.read_to_string(&mut stderr).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopping now"), "{stderr}");
    // It did not wait for the command.
    assert_eq!(
        shared.project.ssh(
            &shared.host,
            "ls /srv/int-double-* 2>/dev/null; pkill -f '^sleep 30.5'; true"
        ),
        ""
    );
    assert_eq!(left_behind(pid, project.path()), Vec::<String>::new());
}

#[test]
fn a_signal_during_verify_ends_it_at_once_and_leaves_no_ssh_behind() {
    let _turn = take_turn();
    let shared = common::shared();
    let project = common::project_on_shared("groups:\n  test: {}\n");
    project.write(
        "features/slow.feature",
        "Feature: slow\n  Scenario: a slow command\n    When I run \"sleep 30.7\"\n    Then the command should succeed\n",
    );
    let child = Command::cargo_bin("redgreen")
        .unwrap()
        .arg("-C")
        .arg(project.path())
        .arg("verify")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_on_host_for("sleep 30.7");
    signal(&child, "TERM");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("terminated (SIGTERM)"), "{stderr}");
    shared
        .project
        .ssh(&shared.host, "pkill -f '^sleep 30.7'; true");
    assert_eq!(left_behind(pid, project.path()), Vec::<String>::new());
}
