//! Helpers for integration tests: projects in temporary directories, the real
//! `redgreen` binary, and test hosts made by the project's own driver that are
//! destroyed when the test ends, also when it fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Mutex, OnceLock};

use assert_cmd::cargo::CommandCargoExt;

/// The image every test host is made from (bootstrapped on first use).
pub const IMAGE: &str = "debian:bookworm";

/// A redgreen project in a temporary directory.
pub struct Project {
    dir: tempfile::TempDir,
}

/// What a run of redgreen did.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Run {
    /// What a finished process did.
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panic with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Project {
    /// An empty project.
    pub fn new() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("rgtest-")
            .tempdir_in("/tmp")
            .expect("temporary directory");
        Project { dir }
    }

    /// A project with these files (path, content).
    pub fn with(files: &[(&str, &str)]) -> Project {
        let project = Project::new();
        for (path, content) in files {
            project.write(path, content);
        }
        project
    }

    /// The project's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file of the project.
    pub fn write(&self, path: &str, content: &str) {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }

    /// Run redgreen in the project.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[], false)
    }

    /// Run redgreen with these environment variables, in `cwd` (relative
    /// paths are taken from there) instead of with `-C`.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &Path)], cwd: bool) -> Run {
        let mut command = std::process::Command::cargo_bin("redgreen").expect("redgreen binary");
        if cwd {
            command.current_dir(self.dir.path());
        } else {
            command.arg("-C").arg(self.dir.path());
        }
        // Connections are kept between commands only where a test says so
        // (tests/keep.rs): the others count SSH processes or kill hosts.
        command
            .args(args)
            .env("NO_COLOR", "1")
            .env("REDGREEN_KEEP_CONNECTIONS", "0");
        for (name, value) in env {
            command.env(name, value);
        }
        Run::from(command.output().expect("redgreen runs"))
    }

    /// Run a shell command on a test host over SSH (through `redgreen hosts ssh`).
    #[track_caller]
    pub fn ssh(&self, host: &str, command: &str) -> String {
        let run = self.run(&["hosts", "ssh", host, "--", command]);
        assert_eq!(
            run.code, 0,
            "ssh {host} `{command}` failed: {}{}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    /// The ledger a converge left on a test host.
    pub fn ledger(&self, host: &str) -> serde_json::Value {
        serde_json::from_str(&self.ssh(host, "cat /var/lib/redgreen/state.json"))
            .expect("the ledger is JSON")
    }

    /// The record of a created test host.
    pub fn record(&self, host: &str) -> serde_json::Value {
        let record =
            std::fs::read_to_string(self.path().join(format!(".redgreen/hosts/{host}.json")))
                .expect("test host record");
        serde_json::from_str(&record).expect("record is JSON")
    }

    /// The recorded address of a created test host.
    pub fn address(&self, host: &str) -> String {
        self.record(host)["address"]
            .as_str()
            .expect("address")
            .to_string()
    }

    /// The recorded SSH port of a created test host.
    pub fn port(&self, host: &str) -> u16 {
        self.record(host)["port"].as_u64().expect("port") as u16
    }

    /// Create the project's test hosts, and destroy them when the guard drops.
    #[track_caller]
    pub fn create_hosts(&self) -> HostsGuard<'_> {
        let guard = HostsGuard { project: self };
        self.run(&["hosts", "create"]).expect(0);
        guard
    }
}

/// Destroys a project's test hosts when dropped (a failing test unwinds through it).
pub struct HostsGuard<'a> {
    project: &'a Project,
}

impl<'a> HostsGuard<'a> {
    /// A guard for test hosts that something else creates (`redgreen test`).
    pub fn new(project: &'a Project) -> HostsGuard<'a> {
        HostsGuard { project }
    }
}

impl Drop for HostsGuard<'_> {
    fn drop(&mut self) {
        let run = self.project.run(&["hosts", "destroy"]);
        if run.code != 0 {
            eprintln!("destroying test hosts failed: {}{}", run.stdout, run.stderr);
        }
        // The converge snapshots `test` saved for this throw-away project.
        let run = self.project.run(&["hosts", "cache", "prune"]);
        if run.code != 0 {
            eprintln!("pruning snapshots failed: {}{}", run.stdout, run.stderr);
        }
    }
}

/// The statuses of the resources of the only host of a converge report.
pub fn statuses(run: &Run) -> Vec<String> {
    run.json()["hosts"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["status"].as_str().expect("status").to_string())
        .collect()
}

/// Copy a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The round trips of every host of a JSON report, in order.
pub fn round_trips(report: &serde_json::Value) -> Vec<u64> {
    report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["round_trips"].as_u64().expect("round_trips"))
        .collect()
}

/// A test host shared by the tests of one test binary (they use paths of
/// their own, so they cannot interfere), destroyed when the binary exits.
pub struct Shared {
    /// Its project (redgreen.yml with one test host `box-debian-12`).
    pub project: Project,
    /// The test host's name.
    pub host: String,
}

static SHARED: OnceLock<Shared> = OnceLock::new();
static SHARED_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

extern "C" fn destroy_shared() {
    if let Some(dir) = SHARED_DIR.lock().ok().and_then(|d| d.clone()) {
        let _ = std::process::Command::cargo_bin("redgreen")
            .map(|mut c| c.arg("-C").arg(&dir).args(["hosts", "destroy"]).output());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> i32;
}

/// The shared test host of this test binary, created on first use.
pub fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let project = Project::with(&[(
            "redgreen.yml",
            "test_hosts:\n  platforms:\n    - { name: debian-12, image: \"debian:bookworm\" }\n  hosts:\n    box: {}\n",
        )]);
        *SHARED_DIR.lock().expect("lock") = Some(project.path().to_path_buf());
        // SAFETY: registering a plain function to run at process exit.
        unsafe {
            atexit(destroy_shared);
        }
        project.run(&["hosts", "create"]).expect(0);
        Shared {
            project,
            host: "box-debian-12".into(),
        }
    })
}

/// A fresh project whose only host is the shared test host, reached as an
/// entry under `hosts:` with the shared project's key and known_hosts, in
/// group `test`. `extra` is appended to redgreen.yml.
pub fn project_on_shared(extra: &str) -> Project {
    project_on_shared_with("", extra)
}

/// [`project_on_shared`] with more lines under `defaults:` (each indented).
pub fn project_on_shared_with(defaults: &str, extra: &str) -> Project {
    let shared = shared();
    let state = shared.project.path().join(".redgreen");
    let project = Project::new();
    project.write(
        "ssh_config",
        &std::fs::read_to_string(state.join("ssh_config")).expect("shared ssh_config"),
    );
    project.write(
        "redgreen.yml",
        &format!(
            "defaults:\n  ssh_config: ssh_config\n{defaults}hosts:\n  box: {{ address: {}, port: {}, groups: [test] }}\n{extra}",
            shared.project.address(&shared.host),
            shared.project.port(&shared.host)
        ),
    );
    project
}
