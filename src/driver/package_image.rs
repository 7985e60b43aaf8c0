//! Test-host images for the package managers of other families, built from
//! Debian's own packaging of the real tools where no Rocky, SUSE or Arch
//! image can be pulled: `redgreen-dnf:bookworm`, `redgreen-zypper:bookworm`
//! and `redgreen-pacman:bookworm`; and `redgreen-busybox:bookworm`, a Debian
//! host whose account tools are BusyBox's (as on Alpine without shadow),
//! built from Debian's busybox source package.
//!
//! Each starts from the bootstrapped `debian:bookworm` image (systemd and
//! sshd as every test host), installs the manager, builds a local repository
//! of small packages at two versions each (rpmbuild + createrepo_c, or
//! hand-made pacman packages + repo-add) as the only repository, marks the
//! family in /etc/os-release (`ID_LIKE="rhel fedora"`, ...) and moves apt and
//! dpkg out of PATH. The managers then do real transactions against a real
//! rpm or pacman database; only the userland around them is Debian's.

use tokio::process::Command;

use super::DriverError;

/// One of redgreen's package-manager test images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageImage {
    /// The tool the image is for: the manager (dnf, zypper, pacman), or
    /// busybox (its account tools). Its `redgreen.package_manager` label.
    pub manager: &'static str,
    /// The os-release ID_LIKE of its family.
    pub like: &'static str,
    /// The script that installs the manager and builds the repository.
    script: &'static str,
    /// The last step (images/finish.sh: the family's os-release, apt and
    /// dpkg out of PATH), or none (the BusyBox image stays a Debian host).
    finish: Option<&'static str>,
}

const FINISH: &str = include_str!("images/finish.sh");

/// The image this name stands for, if it is one of these.
pub fn package_image(image: &str) -> Option<PackageImage> {
    let (name, tag) = image.split_once(':').unwrap_or((image, "latest"));
    if !matches!(tag, "bookworm" | "12" | "latest") {
        return None;
    }
    Some(match name {
        "redgreen-dnf" => PackageImage {
            manager: "dnf",
            like: "rhel fedora",
            script: include_str!("images/rpm.sh"),
            finish: Some(FINISH),
        },
        "redgreen-zypper" => PackageImage {
            manager: "zypper",
            like: "suse opensuse",
            script: include_str!("images/rpm.sh"),
            finish: Some(FINISH),
        },
        "redgreen-pacman" => PackageImage {
            manager: "pacman",
            like: "arch",
            script: include_str!("images/pacman.sh"),
            finish: Some(FINISH),
        },
        "redgreen-busybox" => PackageImage {
            manager: "busybox",
            like: "debian",
            script: include_str!("images/busybox.sh"),
            finish: None,
        },
        _ => return None,
    })
}

impl PackageImage {
    /// A digest of what builds the image: an image built by other scripts
    /// (an older redgreen's) is built again.
    pub fn version(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(self.script)
            .chain_update(self.finish.unwrap_or(""))
            .finalize();
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }
}

/// The build version an image carries (its `redgreen.image_version` label).
pub async fn built_version(engine: &str, image: &str) -> Option<String> {
    let output = Command::new(engine)
        .args([
            "image",
            "inspect",
            "--format",
            "{{index .Config.Labels \"redgreen.image_version\"}}",
            image,
        ])
        .output()
        .await
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The Debian image these are built on.
pub const BASE: &str = "debian:bookworm";

/// Build `image` on the (already present) [`BASE`] image: run the build in a
/// container of it, then commit that container under the image's name.
pub async fn build(
    engine: &str,
    image: &str,
    kind: PackageImage,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), DriverError> {
    progress(&format!(
        "building {image}: {}{} on {BASE}",
        kind.manager,
        if kind.finish.is_some() {
            " and a local repository"
        } else {
            ""
        }
    ));
    let container = format!("redgreen-build-{}-{}", kind.manager, std::process::id());
    let mut script = format!(
        "set -e\nrg_build() {{\n{}\n}}\nrg_build {} >&2\n",
        kind.script, kind.manager
    );
    if let Some(finish) = kind.finish {
        script.push_str(&format!(
            "rg_finish() {{\n{finish}\n}}\nrg_finish {} {} >&2\n",
            kind.manager,
            crate::shell::quote(kind.like),
        ));
    }
    let run = Command::new(engine)
        .args(["run", "--name", &container, BASE, "sh", "-c", &script])
        .output()
        .await
        .map_err(|e| DriverError::new(format!("cannot run {engine}: {e}")));
    // The image this one replaces (built by older scripts), removed after.
    let replaced = Command::new(engine)
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .await
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let result = async {
        let run = run?;
        if !run.status.success() {
            let log = String::from_utf8_lossy(&run.stderr);
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            return Err(DriverError::new(format!(
                "building {image} failed:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        let commit = Command::new(engine)
            .args([
                "commit",
                "--change",
                "LABEL redgreen.init=systemd",
                "--change",
                "LABEL redgreen.bootstrapped=",
                "--change",
                &format!("LABEL redgreen.package_manager={}", kind.manager),
                "--change",
                &format!("LABEL redgreen.image_version={}", kind.version()),
                "--change",
                "CMD [\"/sbin/init\"]",
                &container,
                image,
            ])
            .output()
            .await
            .map_err(|e| DriverError::new(format!("cannot run {engine} commit: {e}")))?;
        if !commit.status.success() {
            return Err(DriverError::new(format!(
                "{engine} commit of {image} failed: {}",
                String::from_utf8_lossy(&commit.stderr).trim()
            )));
        }
        Ok(())
    }
    .await;
    let _ = Command::new(engine)
        .args(["rm", "-f", &container])
        .output()
        .await;
    result?;
    if let Some(id) = replaced {
        // Fails, and keeps it, while a container still uses it.
        let _ = Command::new(engine).args(["rmi", &id]).output().await;
    }
    progress(&format!("built {image}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_managers() {
        assert_eq!(
            package_image("redgreen-dnf:bookworm").unwrap().manager,
            "dnf"
        );
        assert_eq!(package_image("redgreen-pacman").unwrap().like, "arch");
        assert_eq!(package_image("redgreen-dnf:9"), None);
        assert_eq!(package_image("debian:bookworm"), None);
        assert_eq!(
            package_image("redgreen-busybox:bookworm").unwrap().finish,
            None
        );
    }

    /// The build scripts are valid shell.
    #[test]
    fn scripts_parse() {
        for script in [
            include_str!("images/rpm.sh"),
            include_str!("images/pacman.sh"),
            include_str!("images/busybox.sh"),
            include_str!("images/finish.sh"),
        ] {
            let status = std::process::Command::new("sh")
                .args(["-n", "-c", script])
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}
