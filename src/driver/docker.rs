//! Test hosts as Docker (or Podman) containers: sshd inside, systemd as PID 1
//! where the image has it (the way kitchen-dokken and Molecule run them), on a
//! private network of the project's own.
//!
//! Everything this driver makes is named `rg-<project id>-...` and labelled
//! `redgreen.project=<project id>`, so nothing else on the machine is touched.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::image::{self, ImageInfo};
use super::{DriverError, State, TestHostRecord, TestHostSpec, wait_for_ssh};

/// How long sshd may take to come up in a new container.
const SSH_READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The container driver.
pub struct Docker {
    engine: String,
    state: State,
    mirror: Option<String>,
}

impl Docker {
    /// A driver using `engine` (docker or podman) for the project whose state is `state`.
    pub fn new(engine: &str, state: State, mirror: Option<String>) -> Docker {
        Docker {
            engine: engine.to_string(),
            state,
            mirror,
        }
    }

    /// The project's state.
    pub fn state(&self) -> &State {
        &self.state
    }

    async fn cli(&self, args: &[&str]) -> Result<String, DriverError> {
        let output = Command::new(&self.engine)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| DriverError::new(format!("cannot run {}: {e}", self.engine)))?;
        if !output.status.success() {
            return Err(DriverError::new(format!(
                "{} {} failed: {}",
                self.engine,
                args.first().copied().unwrap_or(""),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    fn network(&self) -> String {
        self.state.prefix()
    }

    fn container(&self, name: &str) -> String {
        format!("{}-{name}", self.state.prefix())
    }

    async fn ensure_network(&self) -> Result<(), DriverError> {
        let network = self.network();
        // Docker accepts two networks of one name: creates of several hosts at
        // once (here or in another redgreen) take turns.
        let lock_path = self.state.dir.join("network.lock");
        let lock = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|e| DriverError::new(e.to_string()))?
        .map_err(|e| DriverError::new(format!("cannot lock the network: {e}")))?;
        let result = if self.cli(&["network", "inspect", &network]).await.is_ok() {
            Ok(())
        } else {
            self.cli(&[
                "network",
                "create",
                "--label",
                &self.state.label(),
                &network,
            ])
            .await
            .map(|_| ())
        };
        drop(lock);
        result
    }

    /// Create a test host (or return it if it is already up).
    pub async fn create(
        &self,
        spec: &TestHostSpec,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<TestHostRecord, DriverError> {
        let started = Instant::now();
        self.state.prepare()?;
        if let Some(record) = self.state.record(&spec.name) {
            if self.is_running(&record.container).await {
                return Ok(record);
            }
            self.destroy(&record).await?;
        }
        let info =
            image::ensure(&self.engine, &spec.image, self.mirror.as_deref(), progress).await?;
        self.ensure_network().await?;
        let container = self.container(&spec.name);
        // A leftover container of the same name (a crash before its record was saved).
        let _ = self.cli(&["rm", "-f", "-v", &container]).await;

        progress("creating the container");
        let staging = tempfile::tempdir().map_err(|e| DriverError::new(e.to_string()))?;
        let host_key = stage_files(staging.path(), &self.state, &spec.name)?;
        let mut args: Vec<String> = vec![
            "create".into(),
            "--name".into(),
            container.clone(),
            "--hostname".into(),
            spec.name.clone(),
            "--network".into(),
            self.network(),
            "--label".into(),
            self.state.label(),
            "--label".into(),
            format!("redgreen.host={}", spec.name),
        ];
        args.extend(run_flags(&info).into_iter().map(String::from));
        args.push(spec.image.clone());
        args.extend(command(&info).into_iter().map(String::from));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cli(&argv).await?;

        let result = async {
            let root = format!("{}/.", staging.path().join("root").display());
            self.cli(&["cp", &root, &format!("{container}:/")]).await?;
            progress("starting");
            self.cli(&["start", &container]).await?;
            if info.systemd {
                // Docker mounts /proc/sys read-only; with SYS_ADMIN the
                // container may re-mount what is its own. Only namespaced
                // parameters become writable, so a test host can never change
                // the machine's vm.* or kernel.* (see resource::sysctl).
                self.cli(&["exec", &container, "sh", "-c", WRITABLE_SYSCTLS])
                    .await?;
            }
            let address = self
                .cli(&[
                    "inspect",
                    "--format",
                    &format!(
                        "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
                        self.network()
                    ),
                    &container,
                ])
                .await?;
            if address.is_empty() {
                return Err(DriverError::new(format!(
                    "{container} has no address on {}",
                    self.network()
                )));
            }
            progress("waiting for sshd");
            wait_for_ssh(&address, 22, SSH_READY_TIMEOUT).await?;
            self.state.add_known_host(&address, 22, &host_key)?;
            let record = TestHostRecord {
                name: spec.name.clone(),
                driver: self.engine.clone(),
                container: container.clone(),
                address,
                port: 22,
                platform: spec.platform.clone(),
                image: spec.image.clone(),
                systemd: info.systemd,
                boot_seconds: started.elapsed().as_secs_f64(),
            };
            self.state.save(&record)?;
            Ok(record)
        }
        .await;
        if result.is_err() {
            let _ = self.cli(&["rm", "-f", "-v", &container]).await;
        }
        result
    }

    async fn is_running(&self, container: &str) -> bool {
        self.cli(&["inspect", "--format", "{{.State.Running}}", container])
            .await
            .is_ok_and(|s| s == "true")
    }

    /// Destroy a test host: its container, record and host key.
    pub async fn destroy(&self, record: &TestHostRecord) -> Result<(), DriverError> {
        match self.cli(&["rm", "-f", "-v", &record.container]).await {
            Ok(_) => {}
            Err(e) if e.0.contains("No such container") || e.0.contains("no such container") => {}
            Err(e) => return Err(e),
        }
        self.state.forget(record);
        Ok(())
    }

    /// Remove the project's network once no test host uses it.
    pub async fn cleanup(&self) {
        if self
            .containers()
            .await
            .map(|c| c.is_empty())
            .unwrap_or(false)
        {
            let _ = self.cli(&["network", "rm", &self.network()]).await;
        }
    }

    /// Names and states of every container of this project.
    pub async fn containers(&self) -> Result<Vec<(String, String)>, DriverError> {
        let filter = format!("label={}", self.state.label());
        let out = self
            .cli(&[
                "ps",
                "-a",
                "--filter",
                &filter,
                "--format",
                "{{.Names}}\t{{.State}}",
            ])
            .await?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect())
    }

    /// Remove a container of this project that has no record.
    pub async fn remove_container(&self, container: &str) -> Result<(), DriverError> {
        self.cli(&["rm", "-f", "-v", container]).await.map(|_| ())
    }
}

/// Shell run in a new systemd test host: bind-mount the network and IPC
/// parts of /proc/sys read-write over themselves (per mount, not per
/// superblock), leaving the rest of /proc/sys read-only.
const WRITABLE_SYSCTLS: &str = "set -e
for p in /proc/sys/net /proc/sys/fs/mqueue /proc/sys/kernel/msgmax /proc/sys/kernel/msgmnb \
  /proc/sys/kernel/msgmni /proc/sys/kernel/sem /proc/sys/kernel/shmall /proc/sys/kernel/shmmax \
  /proc/sys/kernel/shmmni /proc/sys/kernel/shm_rmid_forced; do
  [ -e \"$p\" ] || continue
  mount --bind \"$p\" \"$p\"
  mount -o remount,bind,rw \"$p\"
done";

/// Flags for a container test host.
fn run_flags(info: &ImageInfo) -> Vec<&'static str> {
    if info.systemd {
        vec![
            "--cap-add",
            "SYS_ADMIN",
            "--cap-add",
            "NET_ADMIN",
            "--security-opt",
            "seccomp=unconfined",
            "--cgroupns",
            "private",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "--stop-signal",
            "SIGRTMIN+3",
            "--env",
            "container=docker",
        ]
    } else {
        vec!["--cap-add", "NET_ADMIN"]
    }
}

/// The container's command: systemd, or sshd alone.
fn command(info: &ImageInfo) -> Vec<&'static str> {
    if info.systemd {
        vec!["/sbin/init"]
    } else {
        vec![
            "/bin/sh",
            "-c",
            "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e",
        ]
    }
}

/// Lay out the files a new test host gets (its own host key, the project's
/// public key for root) under `dir/root`, and return the host's public key.
fn stage_files(dir: &Path, state: &State, name: &str) -> Result<String, DriverError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |e: std::io::Error| DriverError::new(format!("cannot stage test host files: {e}"));
    let root = dir.join("root");
    let ssh = root.join("etc/ssh");
    let dot_ssh = root.join("root/.ssh");
    std::fs::create_dir_all(&ssh).map_err(io)?;
    std::fs::create_dir_all(&dot_ssh).map_err(io)?;
    for (path, mode) in [
        (root.clone(), 0o755),
        (root.join("etc"), 0o755),
        (ssh.clone(), 0o755),
        (root.join("root"), 0o700),
        (dot_ssh.clone(), 0o700),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    let key = ssh.join("ssh_host_ed25519_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(name)
        .arg("-f")
        .arg(&key)
        .status()
        .map_err(|e| DriverError::new(format!("cannot run ssh-keygen: {e}")))?;
    if !status.success() {
        return Err(DriverError::new("ssh-keygen failed to make a host key"));
    }
    let public = std::fs::read_to_string(key.with_extension("pub")).map_err(io)?;
    let authorized = std::fs::read_to_string(state.key().with_extension("pub")).map_err(io)?;
    let authorized_path = dot_ssh.join("authorized_keys");
    std::fs::write(&authorized_path, authorized).map_err(io)?;
    std::fs::set_permissions(&authorized_path, std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    Ok(public.trim().to_string())
}
