//! Throw-away test hosts: created from `test_hosts:` in redgreen.yml, reached
//! over SSH with a key pair of the project's own, destroyed after.
//!
//! A project keeps its test-host state in `.redgreen/` beside redgreen.yml:
//! the key pair, a known_hosts file with each test host's key (recorded at
//! creation, so checking stays strict), an ssh_config for test hosts, and one
//! record per created host.
//!
//! Several redgreen processes may work on one project at once (two `hosts
//! create` in two terminals, a `test` beside a `watch`): the shared files
//! change under `.redgreen/state.lock`, and each test host is created or
//! destroyed under a lock of its own (`.redgreen/locks/NAME.lock`), so that
//! the second process waits, then finds the host the first one made.

pub mod docker;
pub mod image;
pub mod package_image;
pub mod qemu;
pub mod tools;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::transport::{Become, Connection};

/// Which driver makes test hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    /// Docker containers with sshd (and systemd where the image has it).
    #[default]
    Docker,
    /// Podman containers, like docker.
    Podman,
    /// QEMU virtual machines.
    Qemu,
}

impl DriverKind {
    /// The name as written in redgreen.yml.
    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::Docker => "docker",
            DriverKind::Podman => "podman",
            DriverKind::Qemu => "qemu",
        }
    }
}

/// Why a test host could not be made, found or removed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DriverError(pub String);

impl DriverError {
    /// An error from a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Makes and removes test hosts of one kind (containers, VMs).
#[async_trait]
pub trait Driver: Send + Sync {
    /// The project's test-host state.
    fn state(&self) -> &State;

    /// Create a test host, or return it if it exists (starting it again if
    /// it was stopped); record it and its host key.
    async fn create(
        &self,
        spec: &TestHostSpec,
        progress: &(dyn for<'s> Fn(&'s str) + Sync),
    ) -> Result<TestHostRecord, DriverError>;

    /// Destroy a test host and forget its record and host key.
    async fn destroy(&self, record: &TestHostRecord) -> Result<(), DriverError>;

    /// Everything of this project the driver runs, recorded or not.
    async fn instances(&self) -> Result<Vec<Instance>, DriverError>;

    /// Remove an instance that has no record (left by a crash).
    async fn remove_instance(&self, id: &str) -> Result<(), DriverError>;

    /// Remove what the project's test hosts shared (a network) once none is left.
    async fn cleanup(&self);

    /// The id of `image` (None: not here, or the driver keeps no converge
    /// snapshots, which is qemu's case for now).
    async fn image_id(&self, _image: &str) -> Option<String> {
        None
    }

    /// The image a converge snapshot of `key` is, to create a test host from.
    fn snapshot_image(&self, key: &str) -> String {
        format!("{}-layer:{key}", self.state().prefix())
    }

    /// Whether the converge snapshot of `key` exists.
    async fn has_snapshot(&self, _key: &str) -> bool {
        false
    }

    /// Save the test host as it is now as the converge snapshot of `key`,
    /// after `recipe` was applied.
    async fn snapshot(
        &self,
        _record: &TestHostRecord,
        _key: &str,
        _recipe: &str,
    ) -> Result<(), DriverError> {
        Err(DriverError::new("this driver keeps no converge snapshots"))
    }

    /// The project's converge snapshots, newest first.
    async fn snapshots(&self) -> Result<Vec<Snapshot>, DriverError> {
        Ok(Vec::new())
    }

    /// Remove one of the project's converge snapshots.
    async fn remove_snapshot(&self, _snapshot: &Snapshot) -> Result<(), DriverError> {
        Ok(())
    }

    /// Before any test host of `specs` is made: make sure what building
    /// their base images needs is here, installing it when `install` allows
    /// (see [`tools`]); `notice` hears what is installed, in one line.
    async fn prepare(
        &self,
        _specs: &[TestHostSpec],
        _install: bool,
        _notice: &(dyn for<'s> Fn(&'s str) + Sync),
    ) -> Result<(), DriverError> {
        Ok(())
    }
}

/// A converge snapshot: a test host saved after a recipe was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The image (`rg-<project>-layer:<key>`).
    pub image: String,
    /// The test host it was saved from.
    pub host: String,
    /// The last recipe applied before it was saved.
    pub recipe: String,
    /// When it was saved (seconds since the epoch).
    pub created: u64,
    /// Its size as the engine reports it (the base image's layers included).
    pub bytes: u64,
}

/// A container or VM of the project, as the driver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The container name or VM id (the record's `container`).
    pub id: String,
    /// running, exited, ...
    pub state: String,
}

/// The driver `test_hosts.driver` names for the project at `root`.
pub fn for_project(kind: DriverKind, root: &Path) -> Result<Box<dyn Driver>, DriverError> {
    let mirror = std::env::var("REDGREEN_MIRROR").ok();
    let state = State::of(root);
    match kind {
        DriverKind::Docker => Ok(Box::new(docker::Docker::new("docker", state, mirror))),
        DriverKind::Podman => Ok(Box::new(docker::Docker::new("podman", state, mirror))),
        DriverKind::Qemu => Ok(Box::new(qemu::Qemu::new(state, mirror))),
    }
}

/// A test host to create: one (host, platform) of the test matrix.
#[derive(Debug, Clone)]
pub struct TestHostSpec {
    /// `HOST-PLATFORM`.
    pub name: String,
    /// The platform's name.
    pub platform: String,
    /// The image to start from: a container image name, or for qemu the
    /// absolute path of a disk image file (empty when it is bootstrapped).
    pub image: String,
    /// qemu: the Debian release to bootstrap the base image from.
    pub bootstrap: Option<String>,
    /// qemu: memory in MiB.
    pub memory_mb: Option<u32>,
    /// qemu: virtual CPUs.
    pub cpus: Option<u32>,
    /// The host's name inside when it is not `name`: a test host made from
    /// a converge snapshot beside the fresh one (workflow::cache) has a name
    /// of its own until it takes the fresh one's place.
    pub hostname: Option<String>,
}

impl TestHostSpec {
    /// The host's name inside.
    pub fn hostname(&self) -> &str {
        self.hostname.as_deref().unwrap_or(&self.name)
    }
}

/// A created test host, as recorded in `.redgreen/hosts/NAME.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestHostRecord {
    /// `HOST-PLATFORM`.
    pub name: String,
    /// docker, podman or qemu.
    pub driver: String,
    /// The container's name, or the VM's id (its folder under `.redgreen/qemu/`).
    pub container: String,
    /// Address to SSH to.
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// The platform.
    pub platform: String,
    /// The image it was made from.
    pub image: String,
    /// Whether systemd runs as PID 1.
    pub systemd: bool,
    /// Seconds from create to SSH being ready (for a VM: from QEMU's start).
    pub boot_seconds: f64,
    /// qemu: `kvm` or `tcg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accel: Option<String>,
    /// qemu: why TCG, when it is TCG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accel_note: Option<String>,
}

/// The `.redgreen/` folder of a project.
#[derive(Debug, Clone)]
pub struct State {
    /// `.redgreen/` itself.
    pub dir: PathBuf,
    /// A short id of the project (from its absolute path), in container names.
    pub id: String,
}

impl State {
    /// The state of the project at `root` (created on first use).
    pub fn of(root: &Path) -> State {
        let absolute = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let digest = Sha256::digest(absolute.to_string_lossy().as_bytes());
        let id: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        State {
            dir: absolute.join(".redgreen"),
            id,
        }
    }

    /// The project's private key for test hosts.
    pub fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }

    /// Test hosts' keys.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// The ssh_config used for test hosts.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    fn records_dir(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    /// The label every container and network of this project carries.
    pub fn label(&self) -> String {
        format!("redgreen.project={}", self.id)
    }

    /// The prefix of this project's container and network names.
    pub fn prefix(&self) -> String {
        format!("rg-{}", self.id)
    }

    /// Hold the lock of the project's shared state files (key pair,
    /// known_hosts, ssh_config) while `change` runs: short changes only.
    fn with_state_lock<T>(
        &self,
        change: impl FnOnce() -> Result<T, DriverError>,
    ) -> Result<T, DriverError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| DriverError::new(format!("cannot create {}: {e}", self.dir.display())))?;
        let path = self.dir.join("state.lock");
        let file = open_lock(&path)?;
        file.lock()
            .map_err(|e| DriverError::new(format!("cannot lock {}: {e}", path.display())))?;
        let result = change();
        drop(file);
        result
    }

    /// Take the lock of one test host (created or destroyed by one process
    /// at a time), saying so through `progress` when another process holds
    /// it; dropping the file releases it.
    pub async fn lock_host(
        &self,
        name: &str,
        progress: &(dyn for<'s> Fn(&'s str) + Sync),
    ) -> Result<std::fs::File, DriverError> {
        let dir = self.dir.join("locks");
        std::fs::create_dir_all(&dir)
            .map_err(|e| DriverError::new(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(format!("{name}.lock"));
        let file = open_lock(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                progress("waiting for another redgreen working on this test host");
                drop(file);
                lock_file(path).await
            }
            Err(std::fs::TryLockError::Error(e)) => Err(DriverError::new(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }

    /// Create `.redgreen/` with a key pair and ssh_config if missing.
    pub fn prepare(&self) -> Result<(), DriverError> {
        self.with_state_lock(|| self.prepare_locked())
    }

    fn prepare_locked(&self) -> Result<(), DriverError> {
        std::fs::create_dir_all(self.records_dir())
            .map_err(|e| DriverError::new(format!("cannot create {}: {e}", self.dir.display())))?;
        let ignore = self.dir.join(".gitignore");
        if !ignore.exists() {
            let _ = std::fs::write(&ignore, "*\n");
        }
        if !self.key().exists() {
            let status = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                .arg(format!("redgreen test hosts {}", self.id))
                .arg("-f")
                .arg(self.key())
                .status()
                .map_err(|e| {
                    DriverError::new(format!(
                        "cannot run ssh-keygen (install openssh-client): {e}"
                    ))
                })?;
            if !status.success() {
                return Err(DriverError::new(
                    "ssh-keygen failed to make the project's key",
                ));
            }
        }
        if !self.known_hosts().exists() {
            std::fs::write(self.known_hosts(), "")
                .map_err(|e| DriverError::new(format!("cannot write known_hosts: {e}")))?;
        }
        // Test hosts are throw-away and local: curve25519 key exchange (as
        // paramiko-based tools use) connects several times faster than the
        // post-quantum default on small machines. Real hosts keep the user's
        // ssh_config and OpenSSH's defaults.
        let config = format!(
            "# Written by redgreen for this project's test hosts.\n\
             Host *\n\
             \x20 User root\n\
             \x20 IdentityFile \"{key}\"\n\
             \x20 IdentitiesOnly yes\n\
             \x20 UserKnownHostsFile \"{known}\"\n\
             \x20 GlobalKnownHostsFile /dev/null\n\
             \x20 StrictHostKeyChecking yes\n\
             \x20 PasswordAuthentication no\n\
             \x20 KbdInteractiveAuthentication no\n\
             \x20 KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org\n\
             \x20 LogLevel ERROR\n",
            key = self.key().display(),
            known = self.known_hosts().display(),
        );
        std::fs::write(self.ssh_config(), config)
            .map_err(|e| DriverError::new(format!("cannot write ssh_config: {e}")))?;
        Ok(())
    }

    /// Every recorded test host.
    pub fn records(&self) -> Vec<TestHostRecord> {
        let mut records = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.records_dir()) else {
            return records;
        };
        // Only `NAME.json`: not a record being saved (`NAME.json.PID`).
        for entry in entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        {
            if let Ok(text) = std::fs::read_to_string(entry.path())
                && let Ok(record) = serde_json::from_str::<TestHostRecord>(&text)
            {
                records.push(record);
            }
        }
        records.sort_by(|a, b| a.name.cmp(&b.name));
        records
    }

    /// The record of one test host.
    pub fn record(&self, name: &str) -> Option<TestHostRecord> {
        self.records().into_iter().find(|r| r.name == name)
    }

    /// Save a record (whole: through a temporary file renamed into place, so
    /// that another process never reads half of it).
    pub fn save(&self, record: &TestHostRecord) -> Result<(), DriverError> {
        let text = serde_json::to_string_pretty(record).expect("records serialize");
        let path = self.records_dir().join(format!("{}.json", record.name));
        let temporary = path.with_extension(format!("json.{}", std::process::id()));
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&temporary);
                DriverError::new(format!("cannot save the record of {}: {e}", record.name))
            })
    }

    /// Record `record` under `name` instead (its host and host key stay as
    /// they are): a test host made from a snapshot taking a fresh one's place.
    pub fn rename(&self, record: &TestHostRecord, name: &str) -> Result<(), DriverError> {
        self.save(&TestHostRecord {
            name: name.to_string(),
            ..record.clone()
        })?;
        let _ = std::fs::remove_file(self.records_dir().join(format!("{}.json", record.name)));
        Ok(())
    }

    /// Forget a record and its host key.
    pub fn forget(&self, record: &TestHostRecord) {
        let _ = std::fs::remove_file(self.records_dir().join(format!("{}.json", record.name)));
        let _ = self.with_state_lock(|| self.remove_known_host(&record.address, record.port));
    }

    /// Record `public_key` (`ssh-ed25519 AAAA...`) as the key of address:port,
    /// replacing what was there (container addresses are reused).
    pub fn add_known_host(
        &self,
        address: &str,
        port: u16,
        public_key: &str,
    ) -> Result<(), DriverError> {
        self.with_state_lock(|| {
            self.remove_known_host(address, port)?;
            let host = known_hosts_name(address, port);
            let key: Vec<&str> = public_key.split_whitespace().take(2).collect();
            let mut text = std::fs::read_to_string(self.known_hosts()).unwrap_or_default();
            text.push_str(&format!("{host} {}\n", key.join(" ")));
            std::fs::write(self.known_hosts(), text)
                .map_err(|e| DriverError::new(format!("cannot write known_hosts: {e}")))
        })
    }

    fn remove_known_host(&self, address: &str, port: u16) -> Result<(), DriverError> {
        let host = known_hosts_name(address, port);
        let text = std::fs::read_to_string(self.known_hosts()).unwrap_or_default();
        let kept: String = text
            .lines()
            .filter(|l| l.split_whitespace().next() != Some(host.as_str()))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(self.known_hosts(), kept)
            .map_err(|e| DriverError::new(format!("cannot write known_hosts: {e}")))
    }

    /// How to reach a created test host.
    pub fn connection(&self, record: &TestHostRecord, connect_timeout: Duration) -> Connection {
        Connection {
            name: record.name.clone(),
            address: record.address.clone(),
            port: Some(record.port),
            user: Some("root".into()),
            identity: Some(self.key()),
            ssh_config: Some(self.ssh_config()),
            known_hosts: Some(self.known_hosts()),
            become_: Become::Sudo,
            connect_timeout,
            accept_new_host_key: false,
            keep: None,
        }
    }

    /// The `ssh` command line that logs in to a test host.
    pub fn ssh_command(&self, record: &TestHostRecord) -> Vec<String> {
        vec![
            "ssh".into(),
            "-F".into(),
            self.ssh_config().display().to_string(),
            "-p".into(),
            record.port.to_string(),
            // Options end here: the destination and a command follow.
            "--".into(),
            format!("root@{}", record.address),
        ]
    }
}

fn known_hosts_name(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

/// Open (creating it if missing) a file to lock.
fn open_lock(path: &Path) -> Result<std::fs::File, DriverError> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| DriverError::new(format!("cannot open {}: {e}", path.display())))
}

/// Take an exclusive lock on the file at `path` (created if missing), waiting
/// for other holders, in this process or another; dropping the file releases it.
pub(crate) async fn lock_file(path: PathBuf) -> Result<std::fs::File, DriverError> {
    tokio::task::spawn_blocking(move || {
        let file = open_lock(&path)?;
        file.lock()
            .map_err(|e| DriverError::new(format!("cannot lock {}: {e}", path.display())))?;
        Ok(file)
    })
    .await
    .map_err(|e| DriverError::new(e.to_string()))?
}

/// Wait until `address:port` answers with an SSH banner (sshd is really up,
/// not just the port open), or give up after `timeout`.
pub async fn wait_for_ssh(address: &str, port: u16, timeout: Duration) -> Result<(), DriverError> {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error = String::from("no answer");
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((address, port)),
        )
        .await
        {
            Ok(Ok(mut stream)) => {
                let mut banner = [0u8; 4];
                match tokio::time::timeout(Duration::from_secs(3), stream.read_exact(&mut banner))
                    .await
                {
                    Ok(Ok(_)) if &banner == b"SSH-" => return Ok(()),
                    Ok(Ok(_)) => last_error = "the port answered without an SSH banner".into(),
                    Ok(Err(e)) => last_error = e.to_string(),
                    Err(_) => last_error = "no SSH banner".into(),
                }
            }
            Ok(Err(e)) => last_error = e.to_string(),
            Err(_) => last_error = "connect timed out".into(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DriverError::new(format!(
        "sshd on {address}:{port} did not answer within {}s ({last_error})",
        timeout.as_secs()
    )))
}

/// True when `tool` is a command on this machine.
pub(crate) fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Read a bootstrap's error output (mmdebstrap, debootstrap): each line
/// `I: STEP` is progress; the last 40 lines are kept for a failure's
/// message.
pub(crate) async fn bootstrap_log(
    stderr: Option<tokio::process::ChildStderr>,
    progress: &(dyn for<'s> Fn(&'s str) + Sync),
) -> Vec<String> {
    use tokio::io::AsyncBufReadExt;
    let mut log = Vec::new();
    if let Some(stderr) = stderr {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(step) = line.strip_prefix("I: ") {
                progress(step);
            }
            log.push(line);
            if log.len() > 40 {
                log.remove(0);
            }
        }
    }
    log
}
