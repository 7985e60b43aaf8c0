//! KVM when it is usable, TCG otherwise, found by trying.
//!
//! /dev/kvm existing and opening is not enough: under some nested
//! virtualisation QEMU aborts as the vCPU starts, or the guest kernel hangs
//! early. So a VM is first started on KVM; if QEMU stops, or the guest's
//! kernel shows no progress on its console in time, it is started again on
//! TCG; once it is up there, the verdict is kept in the cache (keyed by this
//! machine's kernel and QEMU version) so that the next VM goes straight to
//! TCG.
//! `REDGREEN_QEMU_ACCEL=kvm|tcg` skips the trying.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::vm::Accel;

/// How long a guest on KVM may take to show its kernel booting before KVM
/// is taken as unusable: a KVM guest is there in a second or two.
pub const KVM_PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);

/// Lines of a serial console that show a guest's kernel got through its own
/// start (and so that the CPU runs it).
const PROGRESS: &[&str] = &[
    "Run /init as init process",
    "Run /sbin/init as init process",
    "Freeing unused kernel",
    "systemd[1]:",
    "Welcome to ",
];

/// Which accelerator to start with, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// KVM or TCG.
    pub accel: Accel,
    /// Whether KVM is still to be proven (start on KVM, fall back to TCG).
    pub trying: bool,
    /// Why TCG, when it is TCG.
    pub why: Option<String>,
}

impl Choice {
    /// TCG because of `why`.
    pub fn tcg(why: impl Into<String>) -> Choice {
        Choice {
            accel: Accel::Tcg,
            trying: false,
            why: Some(why.into()),
        }
    }
}

/// Where the verdict "KVM does not work here" is kept.
fn verdict_file(cache: &Path) -> PathBuf {
    cache.join("qemu").join("kvm-unusable")
}

/// What the verdict holds for: this machine's kernel and QEMU.
fn machine_key(qemu_version: &str) -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{} / {}", kernel.trim(), qemu_version.trim())
}

/// The accelerator a new VM starts with.
pub fn choose(cache: &Path, qemu_version: &str) -> Choice {
    match std::env::var("REDGREEN_QEMU_ACCEL").as_deref() {
        Ok("tcg") => return Choice::tcg("REDGREEN_QEMU_ACCEL=tcg"),
        Ok("kvm") => {
            return Choice {
                accel: Accel::Kvm,
                trying: false,
                why: None,
            };
        }
        _ => {}
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return Choice::tcg(format!("KVM is not usable: cannot open /dev/kvm ({e})"));
    }
    if let Ok(text) = std::fs::read_to_string(verdict_file(cache))
        && let Some((key, why)) = text.split_once('\n')
        && key == machine_key(qemu_version)
    {
        return Choice::tcg(why.trim().to_string());
    }
    Choice {
        accel: Accel::Kvm,
        trying: true,
        why: None,
    }
}

/// Remember that KVM does not work on this machine, and why.
pub fn remember_unusable(cache: &Path, qemu_version: &str, why: &str) {
    let file = verdict_file(cache);
    if let Some(parent) = file.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(file, format!("{}\n{why}\n", machine_key(qemu_version)));
}

/// Whether a console log shows that the guest's kernel got going.
pub fn shows_progress(console: &str) -> bool {
    PROGRESS.iter().any(|line| console.contains(line))
}

/// The first line of `qemu-system-x86_64 --version`.
pub async fn qemu_version() -> Result<String, crate::driver::DriverError> {
    let output = tokio::process::Command::new(super::vm::QEMU)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| {
            crate::driver::DriverError::new(format!(
                "cannot run {} (apt-get install qemu-system-x86): {e}",
                super::vm::QEMU
            ))
        })?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_holds_for_this_machine_and_qemu_only() {
        let cache = tempfile::tempdir().unwrap();
        if std::env::var_os("REDGREEN_QEMU_ACCEL").is_some()
            || std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/kvm")
                .is_err()
        {
            // Without /dev/kvm every choice is TCG, verdict or not.
            assert_eq!(choose(cache.path(), "QEMU 7.2").accel, Accel::Tcg);
            return;
        }
        assert!(choose(cache.path(), "QEMU 7.2").trying);
        remember_unusable(cache.path(), "QEMU 7.2", "KVM is not usable: QEMU stopped");
        assert_eq!(
            choose(cache.path(), "QEMU 7.2"),
            Choice::tcg("KVM is not usable: QEMU stopped")
        );
        // Another QEMU is tried again.
        assert!(choose(cache.path(), "QEMU 8.0").trying);
    }

    #[test]
    fn kernel_progress_is_seen_on_the_console() {
        assert!(!shows_progress(""));
        assert!(!shows_progress(
            "SeaBIOS (version 1.16.2)\nBooting from ROM..\n"
        ));
        assert!(shows_progress(
            "[    1.234] Freeing unused kernel image (initmem) memory: 2700K\n"
        ));
        assert!(shows_progress("[    2.0] Run /init as init process\n"));
    }
}
