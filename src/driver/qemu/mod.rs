//! Test hosts as QEMU virtual machines: a kernel of their own, systemd, real
//! block devices and sysctls that containers cannot have.
//!
//! Each VM boots from a copy-on-write overlay of a base image (a cloud image
//! the user gives, or one bootstrapped from Debian's packages and cached per
//! machine), gets its SSH host key and root's authorized key from a small
//! seed disk, and is reached through user-mode networking: a port of
//! 127.0.0.1 forwarded to its port 22. KVM when it is usable, TCG otherwise.
//!
//! Everything of a VM is in `.redgreen/qemu/rg-<project id>-NAME/`; its
//! QEMU runs detached and is found again by its pidfile.

pub mod accel;
pub mod base;
pub mod seed;
pub mod vm;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use self::accel::Choice;
use self::base::Base;
use self::vm::{Accel, Vm};
use super::{Driver, DriverError, Instance, State, TestHostRecord, TestHostSpec, wait_for_ssh};

/// Memory of a VM when the platform does not say, in MiB.
pub const DEFAULT_MEMORY_MB: u32 = 1024;
/// Virtual CPUs of a VM when the platform does not say.
pub const DEFAULT_CPUS: u32 = 2;

/// How long a VM may take from start to SSH: on TCG a boot takes a minute or
/// more on a small, busy machine.
fn boot_timeout(accel: Accel) -> Duration {
    match accel {
        Accel::Kvm => Duration::from_secs(180),
        Accel::Tcg => Duration::from_secs(600),
    }
}

/// The VM driver.
pub struct Qemu {
    state: State,
    mirror: Option<String>,
}

/// How one start of QEMU ended.
enum Boot {
    /// sshd answers.
    Ready,
    /// QEMU stopped (its last messages).
    Exited(String),
    /// On KVM, the guest's kernel showed no sign of life in time.
    NoProgress,
    /// No SSH banner in time.
    TimedOut,
}

impl Qemu {
    /// A driver for the project whose state is `state`; `mirror` is the
    /// package mirror for bootstrapped images (default: mmdebstrap's own).
    pub fn new(state: State, mirror: Option<String>) -> Qemu {
        Qemu { state, mirror }
    }

    fn vms_dir(&self) -> PathBuf {
        self.state.dir.join("qemu")
    }

    fn vm_dir(&self, id: &str) -> PathBuf {
        self.vms_dir().join(id)
    }

    async fn base(
        &self,
        spec: &TestHostSpec,
        progress: &(dyn for<'s> Fn(&'s str) + Sync),
    ) -> Result<Base, DriverError> {
        match &spec.bootstrap {
            Some(name) => {
                base::ensure_bootstrapped(name, self.mirror.as_deref(), false, progress).await
            }
            None if spec.image.is_empty() => Err(DriverError::new(format!(
                "platform {} has neither image nor bootstrap",
                spec.platform
            ))),
            None => base::from_file(std::path::Path::new(&spec.image)).await,
        }
    }

    /// Remove a VM: stop its QEMU and delete its folder (the base is untouched).
    async fn remove(&self, id: &str) -> Result<(), DriverError> {
        // Only a VM folder of this project, whatever a record says.
        let prefix = vm::id(&self.state.id, "");
        if !id.starts_with(&prefix) || id.contains('/') || id.contains("..") {
            return Err(DriverError::new(format!(
                "{id} is not a VM of this project (its VMs are {}{prefix}NAME): redgreen does not remove it; if a record under {} names it by mistake, delete that record",
                self.vms_dir().join("").display(),
                self.state.dir.join("hosts").display()
            )));
        }
        let dir = self.vm_dir(id);
        vm::stop(&dir).await;
        if let Some(pid) = vm::running(&dir) {
            return Err(DriverError::new(format!(
                "QEMU of {id} (pid {pid}) does not stop"
            )));
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DriverError::new(format!(
                "cannot remove {}: {e}",
                dir.display()
            ))),
        }
    }

    /// Wait for one start of QEMU to reach SSH, stop, or stall.
    async fn watch(
        &self,
        child: &mut std::process::Child,
        dir: &std::path::Path,
        port: u16,
        choice: &Choice,
    ) -> Boot {
        let started = Instant::now();
        let timeout = boot_timeout(choice.accel);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Boot::Exited(vm::tail(&vm::log(dir), 5));
            }
            if choice.trying
                && started.elapsed() > accel::KVM_PROGRESS_TIMEOUT
                && !accel::shows_progress(&String::from_utf8_lossy(
                    &std::fs::read(vm::console(dir)).unwrap_or_default(),
                ))
            {
                return Boot::NoProgress;
            }
            if started.elapsed() > timeout {
                return Boot::TimedOut;
            }
            if wait_for_ssh("127.0.0.1", port, Duration::from_secs(1))
                .await
                .is_ok()
            {
                return Boot::Ready;
            }
        }
    }
}

#[async_trait]
impl Driver for Qemu {
    fn state(&self) -> &State {
        &self.state
    }

    /// Create a test host, or return it if its VM runs. A VM whose QEMU
    /// stopped (a crash, a reboot of this machine) is removed and made anew.
    async fn create(
        &self,
        spec: &TestHostSpec,
        progress: &(dyn for<'s> Fn(&'s str) + Sync),
    ) -> Result<TestHostRecord, DriverError> {
        self.state.prepare()?;
        // Another redgreen creating or destroying this host goes first.
        let _lock = self.state.lock_host(&spec.name, progress).await?;
        if let Some(record) = self.state.record(&spec.name) {
            if vm::running(&self.vm_dir(&record.container)).is_some() {
                return Ok(record);
            }
            progress("its VM stopped: making it anew");
            self.remove(&record.container).await?;
            self.state.forget(&record);
        }
        let qemu_version = accel::qemu_version().await?;
        let base = self.base(spec, progress).await?;
        let id = vm::id(&self.state.id, &spec.name);
        let dir = self.vm_dir(&id);
        // A leftover of a crash before its record was saved.
        self.remove(&id).await?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| DriverError::new(format!("cannot create {}: {e}", dir.display())))?;
        let result = self
            .boot(spec, &base, &id, &dir, &qemu_version, progress)
            .await;
        if result.is_err() {
            let _ = self.remove(&id).await;
        }
        result
    }

    /// Destroy a test host: stop its QEMU (if it still runs), remove its
    /// overlay and seed, forget its record and host key.
    async fn destroy(&self, record: &TestHostRecord) -> Result<(), DriverError> {
        let _lock = self.state.lock_host(&record.name, &|_| {}).await?;
        self.remove(&record.container).await?;
        self.state.forget(record);
        Ok(())
    }

    /// Every VM folder of the project: running, or stopped (QEMU is gone).
    async fn instances(&self) -> Result<Vec<Instance>, DriverError> {
        let Ok(entries) = std::fs::read_dir(self.vms_dir()) else {
            return Ok(Vec::new());
        };
        let mut instances: Vec<Instance> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| Instance {
                id: e.file_name().to_string_lossy().into_owned(),
                state: if vm::running(&e.path()).is_some() {
                    "running".into()
                } else {
                    "stopped".into()
                },
            })
            .collect();
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(instances)
    }

    async fn remove_instance(&self, id: &str) -> Result<(), DriverError> {
        // It may be a VM another redgreen is creating right now: wait for it,
        // and leave it if it got its record meanwhile.
        let name = id.strip_prefix(&vm::id(&self.state.id, "")).unwrap_or(id);
        let _lock = self.state.lock_host(name, &|_| {}).await?;
        if self.state.records().iter().any(|r| r.container == id) {
            return Err(DriverError::new(format!("{id} is a recorded test host")));
        }
        self.remove(id).await
    }

    /// Remove `.redgreen/qemu/` once no VM is left.
    async fn cleanup(&self) {
        let _ = std::fs::remove_dir(self.vms_dir());
    }
}

impl Qemu {
    /// Make the VM's disks, start QEMU (on KVM first when it is to be
    /// tried), wait for sshd, and record the test host.
    async fn boot(
        &self,
        spec: &TestHostSpec,
        base: &Base,
        id: &str,
        dir: &std::path::Path,
        qemu_version: &str,
        progress: &(dyn for<'s> Fn(&'s str) + Sync),
    ) -> Result<TestHostRecord, DriverError> {
        progress("making its disks");
        let staged = seed::stage(&self.state, &spec.name)?;
        seed::make_disk(&staged, &vm::seed(dir)).await?;
        // Cloud images (booted through their firmware) have cloud-init.
        let cidata = match base.boot {
            base::Boot::Firmware => {
                let made =
                    seed::make_cidata(&staged, &self.state, id, &spec.name, &vm::cidata(dir))
                        .await?;
                if !made {
                    // sshd of a cloud image would answer with keys of its
                    // own, which strict checking then refuses: say it now.
                    return Err(DriverError::new(
                        "a cloud image gets its SSH keys from a NoCloud seed, made with genisoimage, mkisofs or xorriso: install one (apt-get install genisoimage)",
                    ));
                }
                true
            }
            base::Boot::Kernel { .. } => false,
        };
        let cache = base::cache_dir();
        let mut choice = accel::choose(&cache, qemu_version);
        let mut kvm_failed_here = false;
        let mut port_attempts = 0;
        loop {
            // A fresh overlay for every start: a stalled start on KVM may
            // have written to it.
            vm::create_overlay(dir, base).await?;
            let port = free_port()?;
            let machine = Vm {
                dir,
                base,
                accel: choice.accel,
                port,
                memory_mb: spec.memory_mb.unwrap_or(DEFAULT_MEMORY_MB),
                cpus: spec.cpus.unwrap_or(DEFAULT_CPUS),
                cidata,
            };
            let _ = std::fs::remove_file(vm::console(dir));
            progress(&match (&choice.accel, &choice.why) {
                (Accel::Kvm, _) if choice.trying => "booting on KVM (trying it)".to_string(),
                (Accel::Kvm, _) => "booting on KVM".to_string(),
                (Accel::Tcg, Some(why)) => format!("booting on TCG ({why})"),
                (Accel::Tcg, None) => "booting on TCG".to_string(),
            });
            let started = Instant::now();
            let mut child = vm::start(dir, &machine.command_line())?;
            let outcome = self.watch(&mut child, dir, port, &choice).await;
            match outcome {
                Boot::Ready => {
                    // Only now is it clear that KVM, not the VM, was at
                    // fault: keep the verdict for the next VMs.
                    if kvm_failed_here && let Some(why) = &choice.why {
                        accel::remember_unusable(&cache, qemu_version, why);
                    }
                    let boot_seconds = started.elapsed().as_secs_f64();
                    let address = "127.0.0.1".to_string();
                    self.state
                        .add_known_host(&address, port, &staged.host_public_key)?;
                    let record = TestHostRecord {
                        name: spec.name.clone(),
                        driver: "qemu".into(),
                        container: id.to_string(),
                        address,
                        port,
                        platform: spec.platform.clone(),
                        image: base.label.clone(),
                        systemd: true,
                        boot_seconds,
                        accel: Some(choice.accel.as_str().to_string()),
                        accel_note: choice.why.clone(),
                    };
                    self.state.save(&record)?;
                    // QEMU runs on without redgreen; the handle is not needed.
                    drop(child);
                    return Ok(record);
                }
                Boot::Exited(log)
                    if port_attempts < 5
                        && (log.contains("host forwarding") || log.contains("hostfwd")) =>
                {
                    // Another program took the port first.
                    port_attempts += 1;
                }
                Boot::Exited(log) if choice.trying => {
                    let last = log
                        .lines()
                        .last()
                        .unwrap_or("no message")
                        .trim()
                        .to_string();
                    choice = Choice::tcg(format!("KVM is not usable: QEMU stopped: {last}"));
                    kvm_failed_here = true;
                }
                Boot::NoProgress => {
                    vm::stop(dir).await;
                    let _ = child.wait();
                    choice = Choice::tcg(format!(
                        "KVM is not usable: the guest's kernel showed no progress in {}s",
                        accel::KVM_PROGRESS_TIMEOUT.as_secs()
                    ));
                    kvm_failed_here = true;
                }
                Boot::Exited(log) => {
                    return Err(DriverError::new(format!(
                        "QEMU stopped while booting {}: {log}{}",
                        spec.name,
                        console_tail(dir)
                    )));
                }
                Boot::TimedOut => {
                    vm::stop(dir).await;
                    let _ = child.wait();
                    return Err(DriverError::new(format!(
                        "{} ({}) did not answer on SSH within {}s{}",
                        spec.name,
                        choice.accel.as_str(),
                        boot_timeout(choice.accel).as_secs(),
                        console_tail(dir)
                    )));
                }
            }
        }
    }
}

fn console_tail(dir: &std::path::Path) -> String {
    let tail = vm::tail(&vm::console(dir), 15);
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("; the console's last lines:\n{tail}")
    }
}

/// A port of 127.0.0.1 that nothing listens on right now.
fn free_port() -> Result<u16, DriverError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| DriverError::new(format!("cannot find a free port on 127.0.0.1: {e}")))
}
