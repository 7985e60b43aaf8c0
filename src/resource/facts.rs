//! Facts about a host, gathered in the same round trip as the probe.

use serde::Serialize;
use serde_json::{Value, json};

use crate::shell::TaggedLines;

/// What redgreen knows about a host once it has probed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    /// debian, redhat, alpine, arch, suse, or the os_id.
    pub os_family: String,
    /// ID from /etc/os-release (debian, ubuntu, fedora, ...).
    pub os_id: String,
    /// VERSION_ID from /etc/os-release.
    pub os_version: String,
    /// VERSION_CODENAME from /etc/os-release (bookworm, jammy, ...).
    pub os_codename: String,
    /// uname -m.
    pub arch: String,
    /// The host's name for itself.
    pub hostname: String,
    /// systemd, openrc or sysvinit.
    pub init: String,
    /// apt, dnf, yum, apk, zypper, pacman, or none.
    pub package_manager: String,
    /// Online CPUs.
    pub cpus: u64,
    /// Total memory in MiB.
    pub memory_mb: u64,
    /// The user scripts run as (root after sudo).
    pub user: String,
    /// The container technology the host runs in (docker, podman, lxc, ...),
    /// empty on a VM or bare metal.
    pub container: String,
}

/// The part of the probe that gathers facts. It leaves `$rg_init` and `$rg_pm`
/// (init system, package manager) set for the probes that follow.
pub const PROBE: &str = r#"( [ -r /etc/os-release ] && . /etc/os-release
  rg_emit facts os_id "${ID:-unknown}"; rg_emit facts os_like "${ID_LIKE:-}"
  rg_emit facts os_version "${VERSION_ID:-}"; rg_emit facts os_codename "${VERSION_CODENAME:-}" )
rg_emit facts arch "$(uname -m)"
rg_emit facts hostname "$(uname -n)"
if [ -d /run/systemd/system ]; then rg_init=systemd; elif command -v openrc >/dev/null 2>&1; then rg_init=openrc; else rg_init=sysvinit; fi
rg_emit facts init $rg_init
rg_pm=none; for p in apt-get dnf yum apk zypper pacman; do if command -v $p >/dev/null 2>&1; then rg_pm=${p%-get}; break; fi; done
rg_emit facts package_manager $rg_pm
if [ -s /run/systemd/container ]; then rg_emit facts container "$(head -n1 /run/systemd/container)"
elif [ -e /.dockerenv ]; then rg_emit facts container docker
elif [ -e /run/.containerenv ]; then rg_emit facts container podman
fi
rg_emit facts cpus "$(nproc 2>/dev/null || echo 1)"
while read -r k v _; do if [ "$k" = MemTotal: ]; then rg_emit facts memory_mb $((v / 1024)); fi; done < /proc/meminfo
rg_emit facts user "$(id -un)"
"#;

impl Facts {
    /// Read the facts the probe printed.
    pub fn from_lines(lines: &TaggedLines) -> Facts {
        let get = |key: &str| lines.get("facts", key).unwrap_or("").to_string();
        let os_id = get("os_id");
        let os_like = get("os_like");
        Facts {
            os_family: family(&os_id, &os_like),
            os_id,
            os_version: get("os_version"),
            os_codename: get("os_codename"),
            arch: get("arch"),
            hostname: get("hostname"),
            init: get("init"),
            package_manager: get("package_manager"),
            cpus: get("cpus").parse().unwrap_or(0),
            memory_mb: get("memory_mb").parse().unwrap_or(0),
            user: get("user"),
            container: get("container"),
        }
    }

    /// The `facts` object of the template context.
    pub fn to_value(&self) -> Value {
        json!(self)
    }
}

/// The family of an OS, from ID and ID_LIKE of /etc/os-release.
fn family(id: &str, like: &str) -> String {
    let words: Vec<&str> = std::iter::once(id).chain(like.split_whitespace()).collect();
    let has = |names: &[&str]| words.iter().any(|w| names.contains(w));
    if has(&["debian", "ubuntu"]) {
        "debian"
    } else if has(&["rhel", "fedora", "centos"]) {
        "redhat"
    } else if has(&["alpine"]) {
        "alpine"
    } else if has(&["arch"]) {
        "arch"
    } else if has(&["suse", "opensuse"]) {
        "suse"
    } else {
        id
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_id_like() {
        assert_eq!(family("ubuntu", "debian"), "debian");
        assert_eq!(family("rocky", "rhel centos fedora"), "redhat");
        assert_eq!(family("alpine", ""), "alpine");
        assert_eq!(family("nixos", ""), "nixos");
    }

    #[tokio::test]
    async fn the_probe_reads_this_machine() {
        use crate::transport::{Script, Transport, local::LocalTransport};
        let mut script = Script::root(format!("{}{PROBE}echo @end\n", crate::shell::PRELUDE));
        script.as_root = false;
        let output = LocalTransport::new().run(&script).await.unwrap();
        let facts = Facts::from_lines(&crate::shell::parse_lines(&output.stdout_text()));
        assert!(!facts.arch.is_empty());
        assert!(facts.cpus >= 1);
        assert!(facts.memory_mb > 0);
        assert!(["systemd", "openrc", "sysvinit"].contains(&facts.init.as_str()));
    }
}
