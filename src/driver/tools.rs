//! The tool that builds Debian and Ubuntu base images (mmdebstrap, or
//! debootstrap), and installing it where redgreen may: as root on a Debian
//! or Ubuntu controller, with apt-get, unless told not to (`--no-install`).
//! So that the README's one command works on a fresh machine with Docker.

use std::process::Stdio;

use tokio::process::Command;

use super::{DriverError, have};

/// The message when no bootstrap tool is here and redgreen does not install one.
pub const MISSING: &str =
    "neither mmdebstrap nor debootstrap is installed; install one (apt-get install mmdebstrap)";

/// What the controller is, as far as installing a tool goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controller {
    /// redgreen runs as root.
    pub root: bool,
    /// /etc/os-release says Debian or Ubuntu (or a derivative).
    pub debian_like: bool,
    /// apt-get is a command here.
    pub apt_get: bool,
}

impl Controller {
    /// This machine.
    pub fn this() -> Controller {
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        Controller {
            // SAFETY: geteuid has no preconditions and cannot fail.
            root: unsafe { libc::geteuid() } == 0,
            debian_like: debian_like(&os_release),
            apt_get: have("apt-get"),
        }
    }
}

/// Whether os-release text names Debian or Ubuntu, itself or as `ID_LIKE`.
pub fn debian_like(os_release: &str) -> bool {
    os_release.lines().any(|line| {
        let Some((key, value)) = line.split_once('=') else {
            return false;
        };
        (key == "ID" || key == "ID_LIKE")
            && value
                .trim_matches('"')
                .split_whitespace()
                .any(|id| id == "debian" || id == "ubuntu")
    })
}

/// What to do when a base image must be built and no tool is here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Install mmdebstrap with apt-get.
    Install,
    /// Stop, with this message.
    Stop(String),
}

/// Decide: install when allowed, as root, on Debian or Ubuntu with apt-get;
/// else stop with the message that says how to install it by hand, and why
/// redgreen did not.
pub fn decide(controller: Controller, allowed: bool) -> Decision {
    let why = if !allowed {
        "not installing it: --no-install"
    } else if !controller.root {
        "redgreen installs it by itself only when it runs as root"
    } else if !controller.debian_like || !controller.apt_get {
        "redgreen installs it by itself only on Debian or Ubuntu, with apt-get"
    } else {
        return Decision::Install;
    };
    Decision::Stop(format!("{MISSING} ({why})"))
}

/// Make sure a bootstrap tool is here: `Ok(None)` when one is, else
/// [`decide`]; on [`Decision::Install`], `notice` hears one line, then
/// mmdebstrap is installed and `Ok(Some("mmdebstrap"))` returned.
pub async fn ensure(
    allowed: bool,
    notice: &(dyn Fn(&str) + Sync),
) -> Result<Option<&'static str>, DriverError> {
    if have("mmdebstrap") || have("debootstrap") {
        return Ok(None);
    }
    match decide(Controller::this(), allowed) {
        Decision::Stop(message) => Err(DriverError::new(message)),
        Decision::Install => {
            notice(
                "installing mmdebstrap with apt-get, to build the test-host image from Debian's packages (--no-install: stop instead)",
            );
            install("mmdebstrap").await?;
            Ok(Some("mmdebstrap"))
        }
    }
}

/// `apt-get update`, then `apt-get install -y PACKAGE`, without questions.
async fn install(package: &str) -> Result<(), DriverError> {
    for args in [vec!["update", "-q"], vec!["install", "-y", "-q", package]] {
        let output = Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| DriverError::new(format!("cannot run apt-get: {e}")))?;
        if !output.status.success() {
            let err = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = err.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(DriverError::new(format!(
                "apt-get {} failed while installing {package}:\n{}\n{MISSING}",
                args[0],
                tail.join("\n")
            )));
        }
    }
    if !have(package) {
        return Err(DriverError::new(format!(
            "apt-get installed {package}, but it is still not a command here"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_ON_DEBIAN: Controller = Controller {
        root: true,
        debian_like: true,
        apt_get: true,
    };

    #[test]
    fn root_on_debian_installs() {
        assert_eq!(decide(ROOT_ON_DEBIAN, true), Decision::Install);
    }

    #[test]
    fn no_install_stops_with_the_message_of_before() {
        let Decision::Stop(message) = decide(ROOT_ON_DEBIAN, false) else {
            panic!("--no-install must stop");
        };
        assert!(message.starts_with(MISSING), "{message}");
        assert!(message.contains("--no-install"), "{message}");
    }

    #[test]
    fn not_root_stops() {
        let user = Controller {
            root: false,
            ..ROOT_ON_DEBIAN
        };
        let Decision::Stop(message) = decide(user, true) else {
            panic!("a user cannot apt-get install");
        };
        assert!(message.contains("as root"), "{message}");
    }

    #[test]
    fn another_system_stops() {
        for other in [
            Controller {
                debian_like: false,
                ..ROOT_ON_DEBIAN
            },
            Controller {
                apt_get: false,
                ..ROOT_ON_DEBIAN
            },
        ] {
            let Decision::Stop(message) = decide(other, true) else {
                panic!("no apt-get, no install");
            };
            assert!(message.contains("Debian or Ubuntu"), "{message}");
        }
    }

    #[test]
    fn os_release_names() {
        assert!(debian_like("ID=debian\nVERSION_ID=\"12\"\n"));
        assert!(debian_like("ID=ubuntu\nID_LIKE=debian\n"));
        assert!(debian_like("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"));
        assert!(!debian_like("ID=fedora\nID_LIKE=\"rhel centos\"\n"));
        assert!(!debian_like("ID=\"debianish\"\n"));
        assert!(!debian_like(""));
    }
}
