//! Base images for container test hosts, built from Debian's packages where no
//! image can be pulled: mmdebstrap (or debootstrap) into a tarball, then
//! `docker import` under the image's own name, with sshd and systemd inside.

use std::process::Stdio;

use tokio::process::Command;

use super::package_image::package_image;
use super::{DriverError, have};

/// Packages every bootstrapped image has: systemd as init, sshd to reach it,
/// sudo for non-root logins, and the usual small tools.
pub const PACKAGES: &[&str] = &[
    "systemd-sysv",
    "openssh-server",
    "sudo",
    "ca-certificates",
    "iproute2",
    "procps",
];

/// What redgreen needs to know about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// It runs systemd as PID 1 (`/sbin/init`).
    pub systemd: bool,
    /// Its init, from the `redgreen.init` label: systemd, openrc, sysvinit,
    /// or empty (sshd alone is the container's command).
    pub init: String,
    /// redgreen built it from Debian's packages (`debian-bookworm`,
    /// `ubuntu-noble`), or it was saved from a test host of such an image:
    /// apt, and the key of its shared package cache.
    pub bootstrapped: Option<String>,
}

/// The init an image name asks for: `debian:bookworm-openrc` runs OpenRC,
/// `debian:12-sysvinit` sysvinit, any other name systemd.
pub fn init_of(image: &str) -> &'static str {
    let tag = image.split_once(':').map(|(_, t)| t).unwrap_or("");
    if tag.ends_with("-openrc") {
        "openrc"
    } else if tag.ends_with("-sysvinit") {
        "sysvinit"
    } else {
        "systemd"
    }
}

/// The packages that make `init` PID 1 (Debian's OpenRC runs under
/// sysvinit's /sbin/init, which hands its runlevels to `openrc`).
fn init_packages(init: &str) -> &'static [&'static str] {
    match init {
        "openrc" => &["sysvinit-core", "openrc"],
        "sysvinit" => &["sysvinit-core"],
        _ => &["systemd-sysv"],
    }
}

/// A Debian-family image redgreen can build: (distribution, suite). A Debian
/// tag may end in `-openrc` or `-sysvinit` for that init instead of systemd.
pub fn bootstrappable(image: &str) -> Option<(&'static str, String)> {
    let (name, tag) = image.split_once(':').unwrap_or((image, "latest"));
    let (tag, other_init) = match tag
        .strip_suffix("-openrc")
        .or_else(|| tag.strip_suffix("-sysvinit"))
    {
        Some(tag) => (tag, true),
        None => (tag, false),
    };
    let name = name
        .trim_start_matches("docker.io/")
        .trim_start_matches("library/");
    match name {
        "debian" => {
            let suite = match tag {
                "12" | "bookworm" | "latest" | "stable" => "bookworm",
                "11" | "bullseye" => "bullseye",
                "13" | "trixie" => "trixie",
                "sid" | "unstable" => "sid",
                _ => return None,
            };
            Some(("debian", suite.to_string()))
        }
        "ubuntu" if !other_init => {
            let suite = match tag {
                "22.04" | "jammy" => "jammy",
                "24.04" | "noble" | "latest" => "noble",
                "20.04" | "focal" => "focal",
                _ => return None,
            };
            Some(("ubuntu", suite.to_string()))
        }
        _ => None,
    }
}

/// Look an image up locally.
pub async fn inspect(engine: &str, image: &str) -> Result<Option<ImageInfo>, DriverError> {
    let output = Command::new(engine)
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            image,
        ])
        .output()
        .await
        .map_err(|e| DriverError::new(format!("cannot run {engine}: {e}")))?;
    if !output.status.success() {
        return Ok(None);
    }
    let labels: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    Ok(Some(ImageInfo {
        systemd: labels.get("redgreen.init").and_then(|v| v.as_str()) == Some("systemd"),
        init: labels
            .get("redgreen.init")
            .and_then(|v| v.as_str())
            .filter(|v| ["systemd", "openrc", "sysvinit"].contains(v))
            .unwrap_or("")
            .to_string(),
        bootstrapped: labels
            .get("redgreen.bootstrapped")
            .and_then(|v| v.as_str())
            .filter(|v| {
                !v.is_empty()
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            })
            .map(str::to_string),
    }))
}

/// False for a package-manager test image built by other scripts than this
/// redgreen's (it is built again); true otherwise.
pub async fn is_current(engine: &str, image: &str) -> bool {
    match package_image(image) {
        Some(kind) => {
            super::package_image::built_version(engine, image).await == Some(kind.version())
        }
        None => true,
    }
}

/// Make sure `image` exists locally: as it is, else bootstrapped from Debian's
/// packages (Debian and Ubuntu images), else pulled.
pub async fn ensure(
    engine: &str,
    image: &str,
    mirror: Option<&str>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<ImageInfo, DriverError> {
    let current = async || is_current(engine, image).await;
    if let Some(info) = inspect(engine, image).await?
        && current().await
    {
        return Ok(info);
    }
    // One bootstrap per image at a time, across processes.
    let lock = lock(image).await?;
    let result = async {
        if let Some(info) = inspect(engine, image).await?
            && current().await
        {
            return Ok(info);
        }
        if bootstrappable(image).is_some() || package_image(image).is_some() {
            bootstrap(engine, image, mirror, progress).await?;
        } else {
            progress(&format!("pulling {image}"));
            let output = Command::new(engine)
                .args(["pull", image])
                .output()
                .await
                .map_err(|e| DriverError::new(format!("cannot run {engine}: {e}")))?;
            if !output.status.success() {
                return Err(DriverError::new(format!(
                    "image {image} is not here and cannot be pulled: {}\nredgreen builds Debian and Ubuntu images by itself (`redgreen image bootstrap debian:bookworm`); for other images, build or load one with sshd inside",
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
        }
        inspect(engine, image)
            .await?
            .ok_or_else(|| DriverError::new(format!("image {image} is still missing after building it")))
    }
    .await;
    drop(lock);
    result
}

async fn lock(image: &str) -> Result<std::fs::File, DriverError> {
    let safe: String = image
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    super::lock_file(std::env::temp_dir().join(format!("redgreen-image-{safe}.lock"))).await
}

/// Build `image` from Debian's packages and import it.
pub async fn bootstrap(
    engine: &str,
    image: &str,
    mirror: Option<&str>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), DriverError> {
    if let Some(kind) = package_image(image) {
        // The package-manager test images are built on debian:bookworm.
        Box::pin(ensure(engine, super::package_image::BASE, mirror, progress)).await?;
        return super::package_image::build(engine, image, kind, progress).await;
    }
    let Some((distribution, suite)) = bootstrappable(image) else {
        return Err(DriverError::new(format!(
            "redgreen can bootstrap Debian and Ubuntu images (debian:bookworm, debian:12, ubuntu:noble, ...; debian:bookworm-openrc or debian:12-sysvinit for that init instead of systemd) and its package-manager test images (redgreen-dnf:bookworm, redgreen-zypper:bookworm, redgreen-pacman:bookworm), not {image}"
        )));
    };
    let init = init_of(image);
    progress(&format!(
        "building {image} from {distribution} {suite} packages"
    ));
    let includes = init_packages(init)
        .iter()
        .chain(PACKAGES.iter().filter(|p| **p != "systemd-sysv"))
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    let hooks = [
        // Every test host gets its own host key at creation.
        r#"rm -f "$1"/etc/ssh/ssh_host_*"#,
        r#"mkdir -p -m 0700 "$1"/root/.ssh"#,
        r#": > "$1"/etc/machine-id"#,
        r#"rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/archives/*.deb"#,
    ];
    let mut producer = if have("mmdebstrap") {
        let mut command = Command::new("mmdebstrap");
        command
            .arg("--variant=minbase")
            .arg(format!("--include={includes}"));
        for hook in hooks {
            command.arg(format!("--customize-hook={hook}"));
        }
        command.arg(&suite).arg("-");
        if let Some(mirror) = mirror {
            command.arg(mirror);
        }
        command
    } else if have("debootstrap") {
        let mut script = format!(
            "set -e; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; debootstrap --variant=minbase --include={includes} {suite} \"$d\" {} >&2; set -- \"$d\";",
            mirror.map(crate::shell::quote).unwrap_or_default()
        );
        for hook in hooks {
            script.push_str(hook);
            script.push_str("; ");
        }
        script.push_str("tar -C \"$d\" -c .");
        let mut command = Command::new("sh");
        command.args(["-c", &script]);
        command
    } else {
        return Err(DriverError::new(super::tools::MISSING));
    };
    let mut producer = producer
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| DriverError::new(format!("cannot start the bootstrap: {e}")))?;
    let tarball: Stdio = producer
        .stdout
        .take()
        .expect("piped stdout")
        .try_into()
        .map_err(|e| DriverError::new(format!("cannot pipe the bootstrap: {e}")))?;
    let importer = Command::new(engine)
        .args([
            "import",
            "--change",
            &format!("LABEL redgreen.init={init}"),
            "--change",
            &format!("LABEL redgreen.bootstrapped={distribution}-{suite}"),
            "--change",
            "CMD [\"/sbin/init\"]",
            "-",
            image,
        ])
        .stdin(tarball)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| DriverError::new(format!("cannot run {engine} import: {e}")))?;

    let log = super::bootstrap_log(producer.stderr.take(), progress).await;
    let produced = producer
        .wait()
        .await
        .map_err(|e| DriverError::new(e.to_string()))?;
    let imported = importer
        .wait_with_output()
        .await
        .map_err(|e| DriverError::new(e.to_string()))?;
    if !produced.success() {
        return Err(DriverError::new(format!(
            "bootstrapping {image} failed:\n{}",
            log.join("\n")
        )));
    }
    if !imported.status.success() {
        return Err(DriverError::new(format!(
            "{engine} import of {image} failed: {}",
            String::from_utf8_lossy(&imported.stderr).trim()
        )));
    }
    progress(&format!("imported {image}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_names_map_to_suites() {
        assert_eq!(
            bootstrappable("debian:bookworm"),
            Some(("debian", "bookworm".into()))
        );
        assert_eq!(
            bootstrappable("debian:12"),
            Some(("debian", "bookworm".into()))
        );
        assert_eq!(
            bootstrappable("ubuntu:24.04"),
            Some(("ubuntu", "noble".into()))
        );
        assert_eq!(bootstrappable("alpine:3.20"), None);
        assert_eq!(bootstrappable("debian:potato"), None);
        assert_eq!(
            bootstrappable("debian:11-openrc"),
            Some(("debian", "bullseye".into()))
        );
        assert_eq!(
            bootstrappable("debian:trixie-sysvinit"),
            Some(("debian", "trixie".into()))
        );
        assert_eq!(bootstrappable("ubuntu:noble-openrc"), None);
        assert_eq!(bootstrappable("debian:bookworm-runit"), None);
        assert_eq!(init_of("debian:bookworm-openrc"), "openrc");
        assert_eq!(init_of("debian:12-sysvinit"), "sysvinit");
        assert_eq!(init_of("debian:12"), "systemd");
    }
}
