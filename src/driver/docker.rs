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
use async_trait::async_trait;

use super::{
    Driver, DriverError, Instance, Snapshot, State, TestHostRecord, TestHostSpec, wait_for_ssh,
};

/// How long sshd may take to come up in a new container, unless
/// `REDGREEN_BOOT_TIMEOUT` (seconds) says otherwise.
fn ssh_ready_timeout() -> Duration {
    std::env::var("REDGREEN_BOOT_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(Duration::from_secs(90), Duration::from_secs)
}

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

    /// The address test hosts' SSH ports are published on and reached at:
    /// the engine's host when Docker runs on another machine (`DOCKER_HOST`
    /// or the current docker context: `tcp://H:P`, `ssh://user@H`), else
    /// 127.0.0.1.
    async fn ssh_address(&self) -> Result<String, DriverError> {
        if self.engine != "docker" {
            return Ok(LOOPBACK.to_string());
        }
        // Honours DOCKER_HOST and DOCKER_CONTEXT as every docker command does.
        let endpoint = self
            .cli(&[
                "context",
                "inspect",
                "--format",
                "{{.Endpoints.docker.Host}}",
            ])
            .await
            .unwrap_or_default();
        engine_address(&endpoint)
    }

    /// Remove a container of this project, by its name or id: one that does
    /// not carry the project's label (`redgreen.project=<id>`) is refused,
    /// whatever a record says; one that does not exist is already gone.
    async fn remove_own(&self, container: &str) -> Result<(), DriverError> {
        let found = self
            .cli(&[
                "container",
                "inspect",
                "--format",
                "{{.Id}} {{index .Config.Labels \"redgreen.project\"}}",
                container,
            ])
            .await;
        let (id, label) = match found {
            Ok(out) => {
                let (id, label) = out.split_once(' ').unwrap_or((out.as_str(), ""));
                (id.to_string(), label.trim().to_string())
            }
            Err(e) if e.0.contains("No such") || e.0.contains("no such") => return Ok(()),
            Err(e) => return Err(e),
        };
        if label != self.state.id {
            let has = match label.as_str() {
                "" | "<no value>" => "it has no redgreen.project label".to_string(),
                other => format!("its label is redgreen.project={other}"),
            };
            return Err(DriverError::new(format!(
                "the container {container} is not a test host of this project ({has}; this project's is redgreen.project={}): redgreen does not remove it; if a record under {} names it by mistake, delete that record",
                self.state.id,
                self.state.dir.join("hosts").display()
            )));
        }
        // By id: exactly the container that was checked.
        match self.cli(&["rm", "-f", "-v", &id]).await {
            Ok(_) => Ok(()),
            Err(e) if e.0.contains("No such") || e.0.contains("no such") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Destroy a test host whose lock is held: its container, record and
    /// host key.
    async fn destroy_locked(&self, record: &TestHostRecord) -> Result<(), DriverError> {
        self.remove_own(&record.container).await?;
        self.state.forget(record);
        Ok(())
    }

    fn container(&self, name: &str) -> String {
        format!("{}-{name}", self.state.prefix())
    }

    async fn ensure_network(&self) -> Result<(), DriverError> {
        let network = self.network();
        // Docker accepts two networks of one name: creates of several hosts at
        // once (here or in another redgreen) take turns.
        let lock = super::lock_file(self.state.dir.join("network.lock")).await?;
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

    /// The `--volume` flags of the package cache that test hosts of one
    /// bootstrapped platform share (downloaded .debs and package lists), on
    /// volumes named after it; none for other images, or when the volumes
    /// cannot be made.
    async fn package_cache(&self, info: &ImageInfo) -> Vec<String> {
        let Some(platform) = &info.bootstrapped else {
            return Vec::new();
        };
        let mut flags = Vec::new();
        for (part, path) in [
            ("archives", "/var/cache/apt/archives"),
            ("lists", "/var/lib/apt/lists"),
        ] {
            let volume = format!("redgreen-apt-{platform}-{part}");
            let made = self
                .cli(&[
                    "volume",
                    "create",
                    "--label",
                    "redgreen.cache=packages",
                    &volume,
                ])
                .await;
            if made.is_err() {
                return Vec::new();
            }
            flags.extend(["--volume".to_string(), format!("{volume}:{path}")]);
        }
        flags
    }

    async fn start(&self, container: &str) -> Result<(), DriverError> {
        self.cli(&["start", container]).await.map(|_| ())
    }

    async fn is_running(&self, container: &str) -> bool {
        self.cli(&["inspect", "--format", "{{.State.Running}}", container])
            .await
            .is_ok_and(|s| s == "true")
    }

    /// Make, start and wait for a new container for `spec`; on failure the
    /// container is removed.
    async fn new_container(
        &self,
        spec: &TestHostSpec,
        info: &ImageInfo,
        address: &str,
        staged: Staged<'_>,
        progress: &(dyn for<'s> Fn(&'s str) + Sync),
    ) -> Result<TestHostRecord, NewContainerError> {
        let Staged {
            dir: staging,
            host_key,
            started,
            package_cache,
        } = staged;
        let container = self.container(&spec.name);
        // SSH goes through a fixed port of the engine's host (127.0.0.1 for a
        // local engine) forwarded to the container's sshd, whatever address
        // Docker gives the container, and kept when the container restarts.
        // Another program may take the free port first: then try another.
        let mut attempt = 0;
        let port = loop {
            attempt += 1;
            // A leftover container of the same name (a crash before its record was saved).
            self.remove_own(&container).await?;
            let port = free_port()?;
            progress("creating the container");
            let mut args: Vec<String> = vec![
                "create".into(),
                "--name".into(),
                container.clone(),
                "--hostname".into(),
                spec.hostname().to_string(),
                "--network".into(),
                self.network(),
                "--label".into(),
                self.state.label(),
                "--label".into(),
                format!("redgreen.host={}", spec.name),
                "--publish".into(),
                if address.contains(':') {
                    format!("[{address}]:{port}:22")
                } else {
                    format!("{address}:{port}:22")
                },
            ];
            args.extend(run_flags(info).into_iter().map(String::from));
            args.extend(package_cache.iter().cloned());
            args.push(spec.image.clone());
            args.extend(command(info).into_iter().map(String::from));
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            self.cli(&argv).await?;
            let root = format!("{}/.", staging.join("root").display());
            let started = match self.cli(&["cp", &root, &format!("{container}:/")]).await {
                Ok(_) => {
                    progress("starting");
                    self.start(&container).await
                }
                Err(e) => Err(e),
            };
            match started {
                Ok(()) => break port,
                Err(e)
                    if attempt < 5
                        && (e.0.contains("already allocated")
                            || e.0.contains("already in use")) =>
                {
                    continue;
                }
                Err(e) => {
                    let _ = self.remove_own(&container).await;
                    return Err(e.into());
                }
            }
        };

        let result = async {
            if info.systemd {
                // Docker mounts /proc/sys read-only; with SYS_ADMIN the
                // container may re-mount what is its own. Only namespaced
                // parameters become writable, so a test host can never change
                // the machine's vm.* or kernel.* (see resource::sysctl).
                self.cli(&["exec", &container, "sh", "-c", WRITABLE_SYSCTLS])
                    .await?;
            }
            if !package_cache.is_empty() {
                // apt-get takes turns on hosts sharing the cache.
                let shared = crate::shell::SHARED_PACKAGE_CACHE;
                self.cli(&["exec", &container, "touch", shared]).await?;
            }
            let address = address.to_string();
            progress("waiting for sshd");
            if let Err(err) = wait_for_ssh(&address, port, ssh_ready_timeout()).await {
                let seen = self.why_silent(&container, info.systemd).await;
                return Err(NewContainerError::Silent(DriverError::new(format!(
                    "{err}{}{seen}",
                    inotify_hint(info.systemd),
                ))));
            }
            self.state.add_known_host(&address, port, host_key)?;
            let record = TestHostRecord {
                name: spec.name.clone(),
                driver: self.engine.clone(),
                container: container.clone(),
                address,
                port,
                platform: spec.platform.clone(),
                image: spec.image.clone(),
                systemd: info.systemd,
                boot_seconds: started.elapsed().as_secs_f64(),
                accel: None,
                accel_note: None,
            };
            self.state.save(&record)?;
            Ok(record)
        }
        .await;
        if result.is_err() {
            let _ = self.remove_own(&container).await;
        }
        result
    }

    /// What a container whose sshd did not answer shows: its state, its
    /// last output and, with systemd, the boot's state and the ssh unit's
    /// status and listening sockets. Each look is bounded in time: the
    /// container may be wedged.
    async fn why_silent(&self, container: &str, systemd: bool) -> String {
        let look = |args: Vec<&'static str>| async move {
            let mut argv = vec!["exec", container];
            argv.extend(args);
            tokio::time::timeout(Duration::from_secs(10), self.cli(&argv))
                .await
                .map(|r| r.unwrap_or_else(|e| e.0))
                .unwrap_or_else(|_| "(no answer in 10s)".into())
        };
        let state = tokio::time::timeout(
            Duration::from_secs(10),
            self.cli(&["inspect", "--format", "{{.State.Status}}", container]),
        )
        .await
        .map(|r| r.unwrap_or_else(|e| e.0))
        .unwrap_or_else(|_| "(no answer in 10s)".into());
        let mut seen = format!("; the container is {state}");
        let log = self
            .cli(&["logs", "--tail", "15", container])
            .await
            .unwrap_or_default();
        if !log.trim().is_empty() {
            seen.push_str(&format!("; its last output:\n{log}"));
        }
        if systemd {
            // It exits non-zero unless the boot is done and clean: the
            // word it prints is what counts.
            let boot = look(vec!["sh", "-c", "systemctl is-system-running 2>&1; true"]).await;
            let unit = look(vec![
                "sh",
                "-c",
                "systemctl --no-pager --lines=15 status ssh.service 2>&1; ss -ltn 2>&1",
            ])
            .await;
            seen.push_str(&format!("\nsystemd: {boot}\n{unit}"));
        }
        seen
    }
}

#[async_trait]
impl Driver for Docker {
    fn state(&self) -> &State {
        &self.state
    }

    /// Create a test host, or return it if it exists (starting it again if
    /// it was stopped: it keeps its host key and SSH port).
    async fn create(
        &self,
        spec: &TestHostSpec,
        progress: &(dyn for<'s> Fn(&'s str) + Sync),
    ) -> Result<TestHostRecord, DriverError> {
        let started = Instant::now();
        self.state.prepare()?;
        // Another redgreen creating or destroying this host goes first.
        let _lock = self.state.lock_host(&spec.name, progress).await?;
        if let Some(record) = self.state.record(&spec.name) {
            if self.is_running(&record.container).await {
                return Ok(record);
            }
            if self.start(&record.container).await.is_ok()
                && (!record.systemd
                    || self
                        .cli(&["exec", &record.container, "sh", "-c", WRITABLE_SYSCTLS])
                        .await
                        .is_ok())
                && wait_for_ssh(&record.address, record.port, ssh_ready_timeout())
                    .await
                    .is_ok()
            {
                return Ok(record);
            }
            self.destroy_locked(&record).await?;
        }
        let info =
            image::ensure(&self.engine, &spec.image, self.mirror.as_deref(), progress).await?;
        let address = self.ssh_address().await?;
        self.ensure_network().await?;
        let package_cache = self.package_cache(&info).await;
        let staging = tempfile::tempdir().map_err(|e| DriverError::new(e.to_string()))?;
        let host_key = stage_files(staging.path(), &self.state, &spec.name)?;

        // A container whose sshd never answers (seen rarely, under load, with
        // nothing in its output) is made once more before giving up; the
        // error then says what the first one showed.
        let mut first_failure = None;
        for attempt in 1..=2 {
            match self
                .new_container(
                    spec,
                    &info,
                    &address,
                    Staged {
                        dir: staging.path(),
                        host_key: &host_key,
                        started,
                        package_cache: &package_cache,
                    },
                    progress,
                )
                .await
            {
                Ok(record) => return Ok(record),
                Err(NewContainerError::Silent(err)) if attempt == 1 => {
                    progress("sshd did not answer: making the container again");
                    first_failure = Some(err);
                }
                Err(NewContainerError::Silent(err) | NewContainerError::Other(err)) => {
                    return Err(match first_failure {
                        Some(first) => DriverError::new(format!(
                            "{}
(a first container failed the same way: {})",
                            err.0, first.0
                        )),
                        None => err,
                    });
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Destroy a test host: its container (only if it is this project's),
    /// record and host key.
    async fn destroy(&self, record: &TestHostRecord) -> Result<(), DriverError> {
        let _lock = self.state.lock_host(&record.name, &|_| {}).await?;
        self.destroy_locked(record).await
    }

    /// Remove the project's network once no test host uses it.
    async fn cleanup(&self) {
        if self
            .instances()
            .await
            .map(|c| c.is_empty())
            .unwrap_or(false)
        {
            let _ = self.cli(&["network", "rm", &self.network()]).await;
        }
    }

    async fn image_id(&self, image: &str) -> Option<String> {
        self.cli(&["image", "inspect", "--format", "{{.Id}}", image])
            .await
            .ok()
    }

    async fn has_snapshot(&self, key: &str) -> bool {
        self.image_id(&self.snapshot_image(key)).await.is_some()
    }

    /// `docker commit`, labelled with the project (never used by another).
    async fn snapshot(
        &self,
        record: &TestHostRecord,
        key: &str,
        recipe: &str,
    ) -> Result<(), DriverError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let labels = [
            format!("LABEL {}", self.state.label()),
            format!("LABEL redgreen.layer={key}"),
            // Quoted: a part of a recipe is named with spaces.
            format!(
                "LABEL redgreen.layer.recipe={}",
                serde_json::Value::from(recipe)
            ),
            format!("LABEL redgreen.layer.host={}", record.name),
            format!("LABEL redgreen.layer.created={now}"),
        ];
        let mut args = vec!["commit"];
        for label in &labels {
            args.extend(["--change", label.as_str()]);
        }
        let image = self.snapshot_image(key);
        args.extend([record.container.as_str(), image.as_str()]);
        self.cli(&args).await.map(|_| ())
    }

    async fn snapshots(&self) -> Result<Vec<Snapshot>, DriverError> {
        let project = format!("label={}", self.state.label());
        let ids = self
            .cli(&[
                "images",
                "--filter",
                &project,
                "--filter",
                "label=redgreen.layer",
                "--format",
                "{{.Repository}}:{{.Tag}}\t{{.ID}}",
            ])
            .await?;
        let mut snapshots = Vec::new();
        for line in ids.lines().filter(|l| !l.trim().is_empty()) {
            // A layer saved again left its older image without a name: it is
            // known by its id.
            let image = match line.split_once('\t') {
                Some(("<none>:<none>", id)) => id,
                Some((name, _)) => name,
                None => line,
            };
            let about = self
                .cli(&[
                    "image",
                    "inspect",
                    "--format",
                    "{{.Size}}\t{{index .Config.Labels \"redgreen.layer.created\"}}\t{{index .Config.Labels \"redgreen.layer.host\"}}\t{{index .Config.Labels \"redgreen.layer.recipe\"}}",
                    image,
                ])
                .await?;
            let fields: Vec<&str> = about.split('\t').collect();
            snapshots.push(Snapshot {
                image: image.to_string(),
                bytes: fields.first().and_then(|f| f.parse().ok()).unwrap_or(0),
                created: fields.get(1).and_then(|f| f.parse().ok()).unwrap_or(0),
                host: fields.get(2).unwrap_or(&"").to_string(),
                recipe: fields.get(3).unwrap_or(&"").to_string(),
            });
        }
        snapshots.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok(snapshots)
    }

    async fn remove_snapshot(&self, snapshot: &Snapshot) -> Result<(), DriverError> {
        // Only an image of this project's layers (by name, or by id when it
        // lost its name).
        let ours = snapshot
            .image
            .starts_with(&format!("{}-layer:", self.state.prefix()))
            || self
                .snapshots()
                .await?
                .iter()
                .any(|s| s.image == snapshot.image && !s.image.contains(':'));
        if !ours {
            return Err(DriverError::new(format!(
                "{} is not a converge snapshot of this project",
                snapshot.image
            )));
        }
        self.cli(&["rmi", &snapshot.image]).await.map(|_| ())
    }

    /// A missing Debian or Ubuntu image is built from Debian's packages: the
    /// bootstrap tool must be here (or be installed) before hosts are made.
    async fn prepare(
        &self,
        specs: &[TestHostSpec],
        install: bool,
        notice: &(dyn for<'s> Fn(&'s str) + Sync),
    ) -> Result<(), DriverError> {
        for spec in specs {
            if (image::bootstrappable(&spec.image).is_some()
                || super::package_image::package_image(&spec.image).is_some())
                && image::inspect(&self.engine, &spec.image).await?.is_none()
            {
                super::tools::ensure(install, notice).await?;
                return Ok(());
            }
        }
        Ok(())
    }

    async fn instances(&self) -> Result<Vec<Instance>, DriverError> {
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
            .map(|(id, state)| Instance {
                id: id.to_string(),
                state: state.to_string(),
            })
            .collect())
    }

    async fn remove_instance(&self, id: &str) -> Result<(), DriverError> {
        // It may be a host another redgreen is creating right now: wait for
        // it, and leave it if it got its record meanwhile.
        let name = id
            .strip_prefix(&format!("{}-", self.state.prefix()))
            .unwrap_or(id);
        let _lock = self.state.lock_host(name, &|_| {}).await?;
        if self.state.records().iter().any(|r| r.container == id) {
            return Err(DriverError::new(format!("{id} is a recorded test host")));
        }
        self.remove_own(id).await
    }
}

/// What a new container starts from: the staged files (host key,
/// authorized key), the public host key, when the creation started, and
/// the shared package cache.
struct Staged<'a> {
    dir: &'a Path,
    host_key: &'a str,
    started: Instant,
    /// `--volume` flags of the platform's shared package cache.
    package_cache: &'a [String],
}

/// Why a new container failed: its sshd never answered (worth one more
/// container), or anything else.
enum NewContainerError {
    Silent(DriverError),
    Other(DriverError),
}

impl From<DriverError> for NewContainerError {
    fn from(e: DriverError) -> Self {
        NewContainerError::Other(e)
    }
}

/// systemd needs inotify instances, and every container shares the host's
/// per-user limit: with many systemd test hosts a low limit keeps some from
/// booting. Returns advice when the limit is low.
fn inotify_hint(systemd: bool) -> String {
    let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok());
    match limit {
        Some(limit) if systemd && limit < 1024 => format!(
            "; systemd in each test host needs inotify instances and this machine allows {limit} in all: raise the limit with `sysctl -w fs.inotify.max_user_instances=8192`"
        ),
        _ => String::new(),
    }
}

/// The address of a local engine's published ports.
const LOOPBACK: &str = "127.0.0.1";

/// The IP address of the machine a Docker endpoint (`DOCKER_HOST`, a
/// context's host) names: the host of `tcp://H:P`, `ssh://[user@]H[:P]`,
/// `http(s)://H:P`, resolved; 127.0.0.1 for a local socket (`unix://`,
/// `npipe://`, nothing).
pub(crate) fn engine_address(endpoint: &str) -> Result<String, DriverError> {
    let endpoint = endpoint.trim();
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return Ok(LOOPBACK.to_string());
    };
    if !matches!(scheme, "tcp" | "ssh" | "http" | "https") {
        return Ok(LOOPBACK.to_string());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(DriverError::new(format!(
            "the Docker endpoint {endpoint} names no host: set DOCKER_HOST to tcp://HOST:PORT or ssh://USER@HOST"
        )));
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(ip.to_string());
    }
    // Docker publishes ports on an IP address, not a name.
    use std::net::ToSocketAddrs;
    let resolved = (host, 0)
        .to_socket_addrs()
        .map_err(|e| {
            DriverError::new(format!(
                "cannot resolve {host}, the Docker engine's host ({endpoint}): {e}"
            ))
        })?
        .map(|a| a.ip())
        .min_by_key(|ip| ip.is_ipv6());
    resolved.map(|ip| ip.to_string()).ok_or_else(|| {
        DriverError::new(format!(
            "{host}, the Docker engine's host ({endpoint}), has no address"
        ))
    })
}

/// A port of 127.0.0.1 that nothing listens on right now.
fn free_port() -> Result<u16, DriverError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| DriverError::new(format!("cannot find a free port on 127.0.0.1: {e}")))
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
    } else if !info.init.is_empty() {
        // sysvinit (alone or handing its runlevels to OpenRC) as PID 1.
        vec![
            "--cap-add",
            "NET_ADMIN",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
        ]
    } else {
        vec!["--cap-add", "NET_ADMIN"]
    }
}

/// The container's command: the image's init (which starts sshd), or sshd
/// alone.
fn command(info: &ImageInfo) -> Vec<&'static str> {
    if info.systemd || !info.init.is_empty() {
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
pub(crate) fn stage_files(dir: &Path, state: &State, name: &str) -> Result<String, DriverError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_hosts_are_reached_at_the_docker_engines_host() {
        let at = |endpoint: &str| engine_address(endpoint).expect(endpoint);
        assert_eq!(at(""), "127.0.0.1");
        assert_eq!(at("unix:///var/run/docker.sock"), "127.0.0.1");
        assert_eq!(at("npipe:////./pipe/docker_engine"), "127.0.0.1");
        assert_eq!(at("tcp://127.0.0.2:2375"), "127.0.0.2");
        assert_eq!(at("tcp://192.0.2.7:2376/"), "192.0.2.7");
        assert_eq!(at("ssh://deploy@192.0.2.8"), "192.0.2.8");
        assert_eq!(at("ssh://deploy@192.0.2.8:2222"), "192.0.2.8");
        assert_eq!(at("tcp://[::1]:2375"), "::1");
        assert_eq!(at("tcp://localhost:2375"), "127.0.0.1");
        assert!(engine_address("tcp://:2375").is_err());
    }
}
