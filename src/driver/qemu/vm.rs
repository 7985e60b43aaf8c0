//! One VM: its folder, its QEMU command line (pure), and its QEMU process
//! (started detached, found again by its pidfile, stopped by signal).
//!
//! A VM's folder `.redgreen/qemu/<id>/` holds everything of it:
//! `disk.qcow2` (the copy-on-write overlay of the base image), `seed.img`
//! (its host key and root's authorized key), `cidata.iso` (the same for
//! cloud-init, on cloud images), `qemu.pid`, `qemu.log` (QEMU's own
//! messages) and `console.log` (the serial console).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::base::{Base, Boot, qemu_img};
use crate::driver::DriverError;

/// How QEMU runs the guest's CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation through /dev/kvm.
    Kvm,
    /// QEMU's own translator: works everywhere, many times slower.
    Tcg,
}

impl Accel {
    /// `kvm` or `tcg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Everything one QEMU command line is made from.
#[derive(Debug, Clone)]
pub struct Vm<'a> {
    /// The VM's folder.
    pub dir: &'a Path,
    /// The base image the overlay is made from.
    pub base: &'a Base,
    /// KVM or TCG.
    pub accel: Accel,
    /// The port of 127.0.0.1 forwarded to the guest's port 22.
    pub port: u16,
    /// Memory in MiB.
    pub memory_mb: u32,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Whether a NoCloud seed (`cidata.iso`) is attached.
    pub cidata: bool,
}

/// The VM folder's files.
pub fn overlay(dir: &Path) -> PathBuf {
    dir.join("disk.qcow2")
}

/// The seed disk with the files redgreen's images copy into place at boot.
pub fn seed(dir: &Path) -> PathBuf {
    dir.join("seed.img")
}

/// The NoCloud seed for cloud-init.
pub fn cidata(dir: &Path) -> PathBuf {
    dir.join("cidata.iso")
}

/// The serial console's output.
pub fn console(dir: &Path) -> PathBuf {
    dir.join("console.log")
}

/// QEMU's own output.
pub fn log(dir: &Path) -> PathBuf {
    dir.join("qemu.log")
}

fn pidfile(dir: &Path) -> PathBuf {
    dir.join("qemu.pid")
}

/// The kernel command line of a bootstrapped image. `no_timer_check`: on
/// TCG under load the kernel's early check of the IO-APIC timer can miss
/// its ticks and panic ("IO-APIC + timer doesn't work!", seen on a loaded
/// 2-core machine); the timer itself works, so the check is skipped.
pub const KERNEL_APPEND: &str = "root=/dev/vda rw console=ttyS0 net.ifnames=0 no_timer_check";

/// The QEMU binary for this machine's VMs.
pub const QEMU: &str = "qemu-system-x86_64";

impl Vm<'_> {
    /// The QEMU command line (program first).
    pub fn command_line(&self) -> Vec<String> {
        let dir = self.dir;
        let mut argv: Vec<String> = vec![
            QEMU.into(),
            // Only what is asked for: no default NIC, VGA, monitor, floppy.
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-display".into(),
            "none".into(),
            "-machine".into(),
            "q35".into(),
        ];
        match self.accel {
            Accel::Kvm => argv.extend(["-accel", "kvm", "-cpu", "host"].map(String::from)),
            Accel::Tcg => argv.extend(["-accel", "tcg", "-cpu", "max"].map(String::from)),
        }
        argv.extend([
            "-m".into(),
            self.memory_mb.to_string(),
            "-smp".into(),
            self.cpus.to_string(),
            "-name".into(),
            // The folder names the VM in `ps`, and lets destroy tell it from
            // an unrelated process that took over its pid.
            format!("guest={}", option_path(dir)),
        ]);
        if let Boot::Kernel { kernel, initrd } = &self.base.boot {
            argv.extend([
                "-kernel".into(),
                kernel.display().to_string(),
                "-initrd".into(),
                initrd.display().to_string(),
                "-append".into(),
                KERNEL_APPEND.into(),
            ]);
        }
        // Throw-away disks: a host crash may lose what the guest wrote, and
        // nothing is lost that matters; skipping the flushes saves time.
        argv.extend([
            "-drive".into(),
            format!(
                "file={},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
                option_path(&overlay(dir))
            ),
            "-drive".into(),
            format!(
                "file={},if=virtio,format=raw,readonly=on",
                option_path(&seed(dir))
            ),
        ]);
        if self.cidata {
            argv.extend([
                "-drive".into(),
                format!(
                    "file={},if=virtio,format=raw,readonly=on",
                    option_path(&cidata(dir))
                ),
            ]);
        }
        argv.extend([
            // User-mode networking: no root, no bridge; only SSH comes in,
            // and only from this machine.
            "-netdev".into(),
            format!("user,id=net0,hostfwd=tcp:127.0.0.1:{}-:22", self.port),
            "-device".into(),
            "virtio-net-pci,netdev=net0".into(),
            // sshd and the kernel want entropy early; a slow VM has little.
            "-device".into(),
            "virtio-rng-pci".into(),
            "-serial".into(),
            format!("file:{}", console(dir).display()),
        ]);
        argv
    }
}

/// A path inside a QEMU option list, where a comma is written twice.
fn option_path(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// The id of a test host's VM, `rg-<project id>-NAME`: the name of its
/// folder under `.redgreen/qemu/`.
pub fn id(project_id: &str, name: &str) -> String {
    format!("rg-{project_id}-{name}")
}

/// Create the overlay: a qcow2 file backed by the base image, so that the
/// base is never written and a new VM costs no copy.
pub async fn create_overlay(dir: &Path, base: &Base) -> Result<(), DriverError> {
    let path = overlay(dir);
    let _ = std::fs::remove_file(&path);
    let args = ["create", "-q", "-f", "qcow2", "-F", &base.format, "-b"];
    let output = qemu_img(
        args.iter()
            .map(OsStr::new)
            .chain([base.disk.as_os_str(), path.as_os_str()]),
    )
    .await?;
    if !output.status.success() {
        return Err(DriverError::new(format!(
            "cannot create the overlay {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// Start QEMU, detached: in a process group of its own (a Ctrl-C meant for
/// redgreen does not reach it), output to `qemu.log`, outliving redgreen.
pub fn start(dir: &Path, argv: &[String]) -> Result<std::process::Child, DriverError> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::create(log(dir))
        .map_err(|e| DriverError::new(format!("cannot write {}: {e}", log(dir).display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| DriverError::new(e.to_string()))?;
    let child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            DriverError::new(format!(
                "cannot run {} (apt-get install qemu-system-x86): {e}",
                argv[0]
            ))
        })?;
    std::fs::write(pidfile(dir), format!("{}\n", child.id()))
        .map_err(|e| DriverError::new(format!("cannot write the pidfile: {e}")))?;
    Ok(child)
}

/// The pid of the VM's QEMU if it runs: the pidfile names a live process
/// whose command line is this VM's (not a process that reused the pid).
pub fn running(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile(dir))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_vm_process(pid, dir).then_some(pid)
}

fn is_vm_process(pid: i32, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    // A zombie has an empty command line: it is not running.
    let needle = format!("guest={}", option_path(dir));
    cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == needle.as_bytes())
}

/// Stop the VM's QEMU if it runs: SIGTERM, then SIGKILL after 5 s.
pub async fn stop(dir: &Path) {
    let Some(pid) = running(dir) else {
        return;
    };
    // SAFETY: kill(2) with a pid that was checked to be this VM's QEMU.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !is_vm_process(pid, dir) {
            return;
        }
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !is_vm_process(pid, dir) {
            return;
        }
    }
}

/// The last `lines` lines of a text file (empty if there is none).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bootstrapped() -> Base {
        Base {
            disk: "/cache/qemu/debian-bookworm-amd64-0123abcd/rootfs.img".into(),
            format: "raw".into(),
            boot: Boot::Kernel {
                kernel: "/cache/qemu/debian-bookworm-amd64-0123abcd/vmlinuz".into(),
                initrd: "/cache/qemu/debian-bookworm-amd64-0123abcd/initrd.img".into(),
            },
            label: "bootstrap debian:bookworm".into(),
            built_seconds: None,
        }
    }

    #[test]
    fn a_bootstrapped_vm_on_tcg() {
        let base = bootstrapped();
        let vm = Vm {
            dir: Path::new("/p/.redgreen/qemu/rg-0a1b2c3d-web-debian-12"),
            base: &base,
            accel: Accel::Tcg,
            port: 40022,
            memory_mb: 1024,
            cpus: 2,
            cidata: false,
        };
        insta::assert_yaml_snapshot!(vm.command_line());
    }

    #[test]
    fn a_cloud_image_on_kvm() {
        let base = Base {
            disk: "/p/images/debian-12-genericcloud-amd64.qcow2".into(),
            format: "qcow2".into(),
            boot: Boot::Firmware,
            label: "images/debian-12-genericcloud-amd64.qcow2".into(),
            built_seconds: None,
        };
        let vm = Vm {
            dir: Path::new("/p/.redgreen/qemu/rg-0a1b2c3d-web-debian-12"),
            base: &base,
            accel: Accel::Kvm,
            port: 40022,
            memory_mb: 2048,
            cpus: 4,
            cidata: true,
        };
        insta::assert_yaml_snapshot!(vm.command_line());
    }

    #[test]
    fn ssh_is_forwarded_from_loopback_only() {
        let base = bootstrapped();
        let vm = Vm {
            dir: Path::new("/d"),
            base: &base,
            accel: Accel::Tcg,
            port: 2222,
            memory_mb: 512,
            cpus: 1,
            cidata: false,
        };
        let line = vm.command_line().join(" ");
        assert!(line.contains("hostfwd=tcp:127.0.0.1:2222-:22"), "{line}");
        assert!(!line.contains("0.0.0.0"), "{line}");
    }

    #[test]
    fn vm_files_live_in_the_vm_folder() {
        assert_eq!(id("0a1b2c3d", "web-debian-12"), "rg-0a1b2c3d-web-debian-12");
        let dir = Path::new("/p/.redgreen/qemu/rg-0a1b2c3d-web-debian-12");
        for file in [overlay(dir), seed(dir), cidata(dir), console(dir), log(dir)] {
            assert_eq!(file.parent(), Some(dir));
        }
        assert_eq!(overlay(dir).file_name().unwrap(), "disk.qcow2");
    }

    #[test]
    fn a_pid_that_is_not_the_vm_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(running(dir.path()), None);
        // This test's own process: alive, but not a QEMU of this folder.
        std::fs::write(pidfile(dir.path()), format!("{}\n", std::process::id())).unwrap();
        assert_eq!(running(dir.path()), None);
    }
}
