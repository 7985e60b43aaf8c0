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
    /// The tools that manage accounts: shadow (useradd, groupadd, usermod,
    /// ...), busybox (BusyBox's adduser, addgroup, deluser, delgroup, as on
    /// Alpine without the shadow package), or none.
    pub account_tools: String,
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
///
/// The package manager is the tool of the os-release family (ID, ID_LIKE,
/// the same words as [`family`]) that the host has: a Debian host with dnf
/// installed is still apt, a RHEL-like one without dnf has yum. Only an
/// unknown family falls back to the first tool found.
///
/// Every process the probe starts costs the host about a millisecond of
/// CPU, the most of what a no-op converge asks of it: the facts read what
/// the shell can read itself instead of starting one each. The host's name
/// and architecture come from `/proc/sys/kernel/{hostname,arch}` (what
/// `uname -nm` says; `arch` only on recent kernels), the online CPUs from
/// the shell's own `Cpus_allowed_list` (what `nproc` counts), the user from
/// its effective uid and the first `/etc/passwd` line with it (what `id
/// -un` finds through NSS's `files`). Where any of them is missing (an
/// older kernel, no /proc, a user only LDAP knows), `uname`, `nproc` or
/// `id` answers as before.
pub const PROBE: &str = r#"( [ -r /etc/os-release ] && . /etc/os-release
  rg_emit facts os_id "${ID:-unknown}"; rg_emit facts os_like "${ID_LIKE:-}"
  rg_emit facts os_version "${VERSION_ID:-}"; rg_emit facts os_codename "${VERSION_CODENAME:-}" )
rg_host= rg_arch=
if [ -r /proc/sys/kernel/hostname ]; then read -r rg_host < /proc/sys/kernel/hostname; fi
if [ -r /proc/sys/kernel/arch ]; then read -r rg_arch < /proc/sys/kernel/arch; fi
if [ -z "$rg_host" ] || [ -z "$rg_arch" ]; then rg_u=$(uname -nm); rg_host=${rg_u%% *} rg_arch=${rg_u##* }; fi
rg_emit facts arch "$rg_arch"
rg_emit facts hostname "$rg_host"
if [ -d /run/systemd/system ]; then rg_init=systemd; elif command -v openrc >/dev/null 2>&1; then rg_init=openrc; else rg_init=sysvinit; fi
rg_emit facts init $rg_init
rg_pm=$( [ -r /etc/os-release ] && . /etc/os-release; echo " ${ID:-} ${ID_LIKE:-} ")
case $rg_pm in
  *" debian "*|*" ubuntu "*) rg_pm="apt-get" ;;
  *" rhel "*|*" fedora "*|*" centos "*) rg_pm="dnf yum" ;;
  *" alpine "*) rg_pm=apk ;;
  *" arch "*) rg_pm=pacman ;;
  *" suse "*|*" opensuse "*) rg_pm=zypper ;;
  *) rg_pm="apt-get dnf yum apk zypper pacman" ;;
esac
for p in $rg_pm none; do if [ $p = none ] || command -v $p >/dev/null 2>&1; then rg_pm=${p%-get}; break; fi; done
rg_emit facts package_manager $rg_pm
if command -v useradd >/dev/null 2>&1; then rg_emit facts account_tools shadow
elif adduser --help 2>&1 | grep -q BusyBox; then rg_emit facts account_tools busybox
else rg_emit facts account_tools none; fi
if [ -s /run/systemd/container ]; then rg_emit facts container "$(head -n1 /run/systemd/container)"
elif [ -e /.dockerenv ]; then rg_emit facts container docker
elif [ -e /run/.containerenv ]; then rg_emit facts container podman
fi
rg_cpus= rg_euid= rg_user=
if [ -r /proc/self/status ]; then
  while read -r k a b _; do
    case $k in Uid:) rg_euid=$b ;; Cpus_allowed_list:) rg_cpus=$a ;; esac
  done < /proc/self/status
fi
case $rg_cpus in
  ''|*[!0-9,-]*) rg_emit facts cpus "$(nproc 2>/dev/null || echo 1)" ;;
  *) rg_emit facts cpus_list "$rg_cpus" ;;
esac
while read -r k v _; do if [ "$k" = MemTotal: ]; then rg_emit facts memory_mb $((v / 1024)); fi; done < /proc/meminfo
if [ -n "$rg_euid" ] && [ -r /etc/passwd ]; then
  while IFS=: read -r n _ u _; do if [ "$u" = "$rg_euid" ]; then rg_user=$n; break; fi; done < /etc/passwd
fi
[ -n "$rg_user" ] || rg_user=$(id -un)
rg_emit facts user "$rg_user"
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
            account_tools: get("account_tools"),
            cpus: get("cpus")
                .parse()
                .ok()
                .or_else(|| count_cpus(&get("cpus_list")))
                .unwrap_or(0),
            memory_mb: get("memory_mb").parse().unwrap_or(0),
            user: get("user"),
            container: get("container"),
        }
    }

    /// The tools the `user` and `group` resources use: BusyBox's where the
    /// probe found them instead of shadow's, shadow's otherwise (where
    /// neither is there, shadow's commands fail with "not found").
    pub fn accounts(&self) -> AccountTools {
        if self.account_tools == "busybox" {
            AccountTools::Busybox
        } else {
            AccountTools::Shadow
        }
    }

    /// The `facts` object of the template context.
    pub fn to_value(&self) -> Value {
        json!(self)
    }
}

/// How many CPUs a list such as `0-3,8,10-11` (the kernel's
/// `Cpus_allowed_list`) names; `None` for anything else.
fn count_cpus(list: &str) -> Option<u64> {
    list.split(',').try_fold(0u64, |count, part| {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
        Some(count + last.checked_sub(first)? + 1)
    })
}

/// The tools that manage users and groups on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountTools {
    /// shadow: useradd, usermod, userdel, groupadd, groupmod, groupdel.
    Shadow,
    /// BusyBox: adduser, deluser, addgroup, delgroup (no usermod or
    /// groupmod: an existing account's uid, primary group, shell, home or a
    /// group's gid cannot be changed).
    Busybox,
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

    /// shadow's useradd wins over BusyBox's adduser; Debian's own adduser
    /// (a Perl script, no "BusyBox" in its help) does not count as BusyBox.
    #[test]
    fn account_tools_are_told_apart() {
        let start = PROBE.find("if command -v useradd").unwrap();
        let end = start + PROBE[start..].find("account_tools none; fi\n").unwrap() + 22;
        let part = &PROBE[start..end];
        let run = |tools: &[(&str, &str)]| {
            let dir = tempfile::tempdir().unwrap();
            let write = |tool: &str, body: &str| {
                let path = dir.path().join(tool);
                std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            };
            for (tool, body) in tools {
                write(tool, body);
            }
            // grep, and nothing else of this machine's PATH.
            write("grep", "exec /bin/grep \"$@\"");
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", &format!("{}{part}", crate::shell::PRELUDE)])
                .env("PATH", dir.path())
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let busybox = "echo 'BusyBox v1.36.1 multi-call binary.' >&2";
        assert_eq!(
            run(&[("useradd", ""), ("adduser", busybox)]),
            "@facts account_tools shadow"
        );
        assert_eq!(run(&[("adduser", busybox)]), "@facts account_tools busybox");
        assert_eq!(
            run(&[("adduser", "echo 'adduser [--uid ID] USER' >&2")]),
            "@facts account_tools none"
        );
        assert_eq!(run(&[]), "@facts account_tools none");
    }

    /// The manager follows the family, not whichever tool is found first.
    #[test]
    fn the_package_manager_follows_the_family() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for tool in ["apt-get", "dnf", "pacman"] {
            let path = bin.join(tool);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let part = &PROBE
            [PROBE.find("rg_pm=$(").unwrap()..PROBE.find("rg_emit facts package_manager").unwrap()];
        let run = |release: &str| {
            let release_file = dir.path().join("os-release");
            std::fs::write(&release_file, release).unwrap();
            let script = part.replace("/etc/os-release", &release_file.display().to_string());
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("{script}echo $rg_pm")])
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert_eq!(run("ID=debian\n"), "apt");
        assert_eq!(run("ID=rocky\nID_LIKE=\"rhel centos fedora\"\n"), "dnf");
        assert_eq!(run("ID=arch\n"), "pacman");
        assert_eq!(run("ID=alpine\n"), "none", "no apk here");
        assert_eq!(run("ID=nixos\n"), "apt", "unknown: the first tool found");
    }

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(count_cpus("0"), Some(1));
        assert_eq!(count_cpus("0-1"), Some(2));
        assert_eq!(count_cpus("0-3,8,10-11"), Some(7));
        for bad in ["", "3-1", "0-", "a", "0,,1"] {
            assert_eq!(count_cpus(bad), None, "{bad}");
        }
    }

    /// The facts the shell reads itself say what uname, nproc and id say,
    /// without starting them (here they answer "wrong"); where what it reads
    /// is not there, those commands answer.
    #[test]
    fn the_facts_read_by_the_shell_agree_with_uname_nproc_and_id() {
        let ask = |program: &str, args: &[&str]| {
            let out = std::process::Command::new(program)
                .args(args)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        let (hostname, arch) = (ask("uname", &["-n"]), ask("uname", &["-m"]));
        let user = ask("id", &["-un"]);
        let cpus: u64 = ask("nproc", &[]).parse().unwrap();
        let wrong = tempfile::tempdir().unwrap();
        for tool in ["uname", "nproc", "id"] {
            let path = wrong.path().join(tool);
            std::fs::write(&path, "#!/bin/sh\necho wrong 0\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let facts = |script: &str, path: &str| {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("{}{script}", crate::shell::PRELUDE)])
                .env("PATH", path)
                .output()
                .unwrap();
            Facts::from_lines(&crate::shell::parse_lines(&String::from_utf8_lossy(
                &out.stdout,
            )))
        };
        let shadowed = format!("{}:/usr/bin:/bin", wrong.path().display());
        let read = facts(PROBE, &shadowed);
        assert_eq!(read.hostname, hostname);
        assert_eq!(read.cpus, cpus);
        assert_eq!(read.user, user);
        if std::path::Path::new("/proc/sys/kernel/arch").exists() {
            assert_eq!(read.arch, arch);
        }
        // Nothing to read: the commands answer.
        let unread = PROBE
            .replace("/proc/sys/kernel/", "/nonexistent/")
            .replace("/proc/self/status", "/nonexistent")
            .replace("/etc/passwd", "/nonexistent");
        let asked = facts(&unread, "/usr/bin:/bin");
        assert_eq!(
            (asked.hostname, asked.arch, asked.cpus, asked.user),
            (hostname, arch, cpus, user)
        );
        let shadowed = facts(&unread, &shadowed);
        assert_eq!((shadowed.user.as_str(), shadowed.cpus), ("wrong 0", 0));
    }

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
