//! Base disk images for VM test hosts: a disk image file the user gives
//! (`image:`, a qcow2 or raw cloud image), or one built from Debian's
//! packages (`bootstrap: debian:bookworm`) and cached once per machine.
//!
//! A bootstrapped image is mmdebstrap (or debootstrap) into a folder with a
//! kernel, systemd, sshd and sudo, then `mkfs.ext4 -d` of that folder into a
//! raw ext4 image: nothing is mounted, no loop device, no partition table.
//! The kernel and initrd are copied out beside it, and the VM boots them
//! directly (no boot loader). Test hosts never write to a base image: each
//! boots from a copy-on-write overlay of its own.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::driver::{DriverError, have};

/// The names `bootstrap:` takes.
pub const BOOTSTRAPPABLE: &[&str] = &[
    "debian:bookworm",
    "debian:12",
    "debian:trixie",
    "debian:13",
    "debian:bullseye",
    "debian:11",
];

/// Packages of a bootstrapped VM image: the cloud kernel (small, made for
/// virtio VMs) with an initramfs, systemd as init with udev and
/// systemd-networkd, sshd to reach it, sudo for non-root logins, and the
/// usual small tools.
pub const PACKAGES: &[&str] = &[
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "systemd-sysv",
    "udev",
    "kmod",
    "openssh-server",
    "sudo",
    "ca-certificates",
    "iproute2",
    "procps",
];

/// The size of a bootstrapped root file system. The image file is sparse:
/// only what is written takes space, in the base and in each overlay.
pub const ROOT_SIZE: &str = "8G";

/// The script that turns a bootstrapped folder into a VM image.
const CUSTOMIZE: &str = include_str!("customize.sh");

/// The Debian suite a `bootstrap:` value names.
pub fn suite(name: &str) -> Option<&'static str> {
    let (distribution, release) = name.split_once(':').unwrap_or((name, "bookworm"));
    if distribution != "debian" {
        return None;
    }
    match release {
        "12" | "bookworm" | "stable" => Some("bookworm"),
        "13" | "trixie" => Some("trixie"),
        "11" | "bullseye" => Some("bullseye"),
        _ => None,
    }
}

/// How a VM boots its disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// Direct kernel boot: the kernel and initrd of a bootstrapped image.
    Kernel {
        /// `vmlinuz`.
        kernel: PathBuf,
        /// `initrd.img`.
        initrd: PathBuf,
    },
    /// The firmware boots the disk's own boot loader (cloud images).
    Firmware,
}

/// A base disk image, ready to be the backing file of overlays.
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    /// The disk image file.
    pub disk: PathBuf,
    /// `raw` or `qcow2`.
    pub format: String,
    /// How it boots.
    pub boot: Boot,
    /// What it was made from, for records and messages
    /// (`bootstrap debian:bookworm`, or the image path).
    pub label: String,
    /// Seconds spent building it in this run (None: it was there).
    pub built_seconds: Option<f64>,
}

/// Where redgreen caches what it builds for this machine's user:
/// `$REDGREEN_CACHE_DIR`, else `$XDG_CACHE_HOME/redgreen`, else
/// `~/.cache/redgreen`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REDGREEN_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("redgreen");
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache/redgreen")
}

/// The folder of the bootstrapped image of `suite`:
/// `<cache>/qemu/debian-<suite>-amd64-<recipe>`, where `<recipe>` is a short
/// hash of how it is built (packages, script, size), so that a redgreen that
/// builds images differently builds its own instead of using a stale one.
pub fn bootstrapped_dir(cache: &Path, suite: &str) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(PACKAGES.join(",").as_bytes());
    hasher.update(CUSTOMIZE.as_bytes());
    hasher.update(ROOT_SIZE.as_bytes());
    let recipe: String = hasher
        .finalize()
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    cache
        .join("qemu")
        .join(format!("debian-{suite}-amd64-{recipe}"))
}

/// The base of a bootstrapped image in `dir`, if it is complete.
fn bootstrapped(dir: &Path, name: &str) -> Option<Base> {
    // `built` is written last: a build that was interrupted has none.
    if !dir.join("built").is_file() {
        return None;
    }
    Some(Base {
        disk: dir.join("rootfs.img"),
        format: "raw".into(),
        boot: Boot::Kernel {
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
        },
        label: format!("bootstrap {name}"),
        built_seconds: None,
    })
}

/// The bootstrapped image `name` (`debian:bookworm`), built first if this
/// machine has none (or `force`). Builds of one image take turns across
/// processes; the second finds the first's result.
pub async fn ensure_bootstrapped(
    name: &str,
    mirror: Option<&str>,
    force: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Base, DriverError> {
    let Some(suite) = suite(name) else {
        return Err(DriverError::new(format!(
            "redgreen cannot bootstrap '{name}'; VM images are built from Debian's packages: {}",
            BOOTSTRAPPABLE.join(", ")
        )));
    };
    if std::env::consts::ARCH != "x86_64" {
        return Err(DriverError::new(format!(
            "the qemu driver builds and runs x86_64 VMs; this machine is {}",
            std::env::consts::ARCH
        )));
    }
    let dir = bootstrapped_dir(&cache_dir(), suite);
    if !force && let Some(base) = bootstrapped(&dir, name) {
        return Ok(base);
    }
    let parent = dir
        .parent()
        .expect("the image folder has a parent")
        .to_path_buf();
    std::fs::create_dir_all(&parent)
        .map_err(|e| DriverError::new(format!("cannot create {}: {e}", parent.display())))?;
    let lock = lock(&parent.join(format!("debian-{suite}.lock"))).await?;
    // Another process may have built it while this one waited.
    if !force && let Some(base) = bootstrapped(&dir, name) {
        return Ok(base);
    }
    let started = Instant::now();
    let result = build(suite, &dir, mirror, progress).await;
    drop(lock);
    result?;
    let mut base = bootstrapped(&dir, name).ok_or_else(|| {
        DriverError::new(format!(
            "the image of {name} is incomplete after building it"
        ))
    })?;
    base.built_seconds = Some(started.elapsed().as_secs_f64());
    Ok(base)
}

/// Run `qemu-img` with `args`: its output, or why it could not run.
pub async fn qemu_img<'a>(
    args: impl IntoIterator<Item = &'a OsStr>,
) -> Result<std::process::Output, DriverError> {
    Command::new("qemu-img")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            DriverError::new(format!(
                "cannot run qemu-img (apt-get install qemu-utils): {e}"
            ))
        })
}

/// A user's disk image: its format, as `qemu-img info` sees it.
pub async fn from_file(path: &Path) -> Result<Base, DriverError> {
    // Overlays name their backing file by this path: it must not depend on
    // the folder QEMU runs in.
    let path = &std::fs::canonicalize(path).map_err(|e| {
        DriverError::new(format!(
            "cannot open the disk image {}: {e}",
            path.display()
        ))
    })?;
    let output = qemu_img([
        OsStr::new("info"),
        OsStr::new("--output=json"),
        path.as_os_str(),
    ])
    .await?;
    if !output.status.success() {
        return Err(DriverError::new(format!(
            "cannot read the disk image {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let info: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| DriverError::new(format!("qemu-img info said something unexpected: {e}")))?;
    let format = info["format"].as_str().unwrap_or("raw").to_string();
    if format != "raw" && format != "qcow2" {
        return Err(DriverError::new(format!(
            "{} is a {format} image; the qemu driver boots qcow2 and raw images (convert it with `qemu-img convert -O qcow2`)",
            path.display()
        )));
    }
    Ok(Base {
        disk: path.to_path_buf(),
        format,
        boot: Boot::Firmware,
        label: path.display().to_string(),
        built_seconds: None,
    })
}

async fn lock(path: &Path) -> Result<std::fs::File, DriverError> {
    crate::driver::lock_file(path.to_path_buf()).await
}

/// Build the image of `suite` into `dir`: in a folder beside it first, renamed
/// into place when complete, so that an interrupted build leaves nothing that
/// looks usable.
async fn build(
    suite: &str,
    dir: &Path,
    mirror: Option<&str>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), DriverError> {
    let io = |what: &str, e: std::io::Error| DriverError::new(format!("{what}: {e}"));
    let parent = dir.parent().expect("the image folder has a parent");
    let prefix = format!(".build-{suite}-");
    remove_stale_builds(parent, &prefix);
    let work = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(parent)
        .map_err(|e| io("cannot make a build folder", e))?;
    let out = work.path().join("image");
    std::fs::create_dir(&out).map_err(|e| io("cannot make a build folder", e))?;
    let script = work.path().join("customize.sh");
    std::fs::write(&script, CUSTOMIZE).map_err(|e| io("cannot write the build script", e))?;
    let root = work.path().join("root");
    let includes = PACKAGES.join(",");
    progress(&format!(
        "building the debian:{suite} VM image from Debian's packages (once per machine)"
    ));
    // mmdebstrap's hooks see /proc, /sys and /dev mounted inside the folder,
    // which `mkfs.ext4 -d` would copy: the image is made once the bootstrap
    // has finished and unmounted them.
    let bootstrap = |tool: &str, options: &[&str]| {
        let mut command = Command::new(tool);
        command
            .arg("--variant=minbase")
            .args(options)
            .arg(format!("--include={includes}"))
            .arg(suite)
            .arg(&root);
        if let Some(mirror) = mirror {
            command.arg(mirror);
        }
        command
    };
    let mut command = if have("mmdebstrap") {
        bootstrap("mmdebstrap", &["--mode=root", "--format=directory"])
    } else if have("debootstrap") {
        bootstrap("debootstrap", &[])
    } else {
        return Err(DriverError::new(
            "neither mmdebstrap nor debootstrap is installed; install one (apt-get install mmdebstrap)",
        ));
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| io("cannot start the bootstrap", e))?;
    let log = crate::driver::bootstrap_log(child.stderr.take(), progress).await;
    let status = child.wait().await.map_err(|e| io("the bootstrap", e))?;
    if !status.success() {
        return Err(DriverError::new(format!(
            "bootstrapping the debian:{suite} VM image failed{}:\n{}",
            if is_root() {
                ""
            } else {
                " (building a VM image needs root, as debootstrap does; or give the platform a cloud image with `image:`)"
            },
            log.join("\n")
        )));
    }
    progress("making the disk image (mkfs.ext4 -d)");
    let made = Command::new("sh")
        .arg(&script)
        .arg(&root)
        .arg(&out)
        .arg(ROOT_SIZE)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| io("cannot run the image script", e))?;
    if !made.status.success() {
        return Err(DriverError::new(format!(
            "making the debian:{suite} VM image failed: {}",
            String::from_utf8_lossy(&made.stderr).trim()
        )));
    }
    for file in ["vmlinuz", "initrd.img", "rootfs.img"] {
        if !out.join(file).is_file() {
            return Err(DriverError::new(format!(
                "bootstrapping the debian:{suite} VM image made no {file}:\n{}",
                log.join("\n")
            )));
        }
    }
    std::fs::write(out.join("built"), format!("{suite}\n"))
        .map_err(|e| io("cannot finish the image", e))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| io(&format!("cannot remove the old {}", dir.display()), e))?;
    }
    std::fs::rename(&out, dir)
        .map_err(|e| io(&format!("cannot move the image to {}", dir.display()), e))?;
    Ok(())
}

/// Remove what killed builds of this suite left (the caller holds the
/// suite's lock, so no build of it is running), except a folder that still
/// has something mounted inside (a bootstrap killed before it unmounted
/// /proc and /sys): deleting through a mount is never safe.
fn remove_stale_builds(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        let inside = format!("{}/", path.display());
        let mounted = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .any(|point| point.starts_with(&inside));
        if mounted {
            tracing::warn!(
                "{} has file systems mounted inside (a killed build); unmount them and remove it",
                path.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_names_map_to_suites() {
        assert_eq!(suite("debian:bookworm"), Some("bookworm"));
        assert_eq!(suite("debian:12"), Some("bookworm"));
        assert_eq!(suite("debian:trixie"), Some("trixie"));
        assert_eq!(suite("ubuntu:noble"), None);
        assert_eq!(suite("debian:potato"), None);
        for name in BOOTSTRAPPABLE {
            assert!(suite(name).is_some(), "{name}");
        }
    }

    #[test]
    fn the_image_folder_names_the_suite_and_how_it_is_built() {
        let dir = bootstrapped_dir(Path::new("/cache"), "bookworm");
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(dir.starts_with("/cache/qemu"), "{}", dir.display());
        assert!(name.starts_with("debian-bookworm-amd64-"), "{name}");
        assert_eq!(name.len(), "debian-bookworm-amd64-".len() + 8, "{name}");
        assert_eq!(dir, bootstrapped_dir(Path::new("/cache"), "bookworm"));
    }

    #[test]
    fn leftovers_of_killed_builds_of_the_suite_are_removed() {
        let parent = tempfile::tempdir().unwrap();
        for dir in [
            ".build-bookworm-a1/root/etc",
            ".build-trixie-b2/root",
            "debian-bookworm-amd64-0123abcd",
        ] {
            std::fs::create_dir_all(parent.path().join(dir)).unwrap();
        }
        remove_stale_builds(parent.path(), ".build-bookworm-");
        let mut left: Vec<String> = std::fs::read_dir(parent.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".build-trixie-b2", "debian-bookworm-amd64-0123abcd"]);
    }

    #[test]
    fn an_interrupted_build_is_not_an_image() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(bootstrapped(dir.path(), "debian:bookworm"), None);
        std::fs::write(dir.path().join("built"), "bookworm\n").unwrap();
        let base = bootstrapped(dir.path(), "debian:bookworm").unwrap();
        assert_eq!(base.disk, dir.path().join("rootfs.img"));
        assert_eq!(base.format, "raw");
    }
}
