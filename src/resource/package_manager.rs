//! The package managers the `package` resource drives, and the shell each is
//! driven with.
//!
//! Which one a host has comes from the facts (see [`super::facts::PROBE`]):
//! the os-release family first (ID, ID_LIKE), then the tool of that family
//! the host has, so a Debian host with dnf installed is still an apt host.
//!
//! apt's shell lives in [`super::package`] as it always did; this file holds
//! the others. Each manager has a function that prints the installed version
//! of a package (empty when it is not installed), one that prints the version
//! an install would pick (for `state: latest`), and, where the manager does
//! not keep its own metadata fresh (pacman, apk), a cache check and refresh
//! like apt's. dnf, yum and zypper refresh expired metadata by themselves.

/// A package manager redgreen installs packages with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// apt-get and dpkg (Debian, Ubuntu).
    Apt,
    /// dnf and rpm (Fedora, RHEL 8+, Rocky, Alma).
    Dnf,
    /// yum and rpm where dnf is missing (RHEL 7, CentOS 7).
    Yum,
    /// zypper and rpm (SUSE, openSUSE).
    Zypper,
    /// pacman (Arch).
    Pacman,
    /// apk (Alpine).
    Apk,
}

impl Manager {
    /// The manager the `package_manager` fact names, if redgreen drives it.
    pub fn from_fact(fact: &str) -> Option<Manager> {
        Some(match fact {
            "apt" => Manager::Apt,
            "dnf" => Manager::Dnf,
            "yum" => Manager::Yum,
            "zypper" => Manager::Zypper,
            "pacman" => Manager::Pacman,
            "apk" => Manager::Apk,
            _ => return None,
        })
    }

    /// Its name, as the facts say it.
    pub fn name(self) -> &'static str {
        match self {
            Manager::Apt => "apt",
            Manager::Dnf => "dnf",
            Manager::Yum => "yum",
            Manager::Zypper => "zypper",
            Manager::Pacman => "pacman",
            Manager::Apk => "apk",
        }
    }

    /// A package at a pinned version, in the manager's own syntax:
    /// `nginx=1.2-1` (apt, zypper, pacman, apk) or `nginx-1.2-1` (dnf, yum).
    pub fn pinned(self, name: &str, version: &str) -> String {
        match self {
            Manager::Dnf | Manager::Yum => format!("{name}-{version}"),
            _ => format!("{name}={version}"),
        }
    }

    /// True when the installed version satisfies a pin. apt compares exactly
    /// (as it always did); the others accept a pin without release
    /// (`2.0` holds for `2.0-1`) or without epoch (`2.0-1` for `1:2.0-1`),
    /// as their own version matching does.
    pub fn pin_holds(self, installed: &str, pin: &str) -> bool {
        if self == Manager::Apt {
            return installed == pin;
        }
        let installed = if pin.contains(':') {
            installed
        } else {
            installed
                .split_once(':')
                .map_or(installed, |(_, rest)| rest)
        };
        installed == pin
            || installed
                .strip_prefix(pin)
                .is_some_and(|rest| rest.starts_with('-'))
    }

    /// A valid package name for this manager. apt's (Debian's) names are
    /// lowercase; rpm, pacman and apk names may have capitals and `_`.
    pub fn valid_name(self, name: &str) -> bool {
        if self == Manager::Apt {
            return valid_debian_name(name);
        }
        name.len() >= 2
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c))
    }

    /// What a version of this manager looks like, for error messages.
    pub fn version_example(self) -> &'static str {
        match self {
            Manager::Apt => "a Debian version, like 1.22.1-9 or 1:2.3-1+deb12u1",
            Manager::Dnf | Manager::Yum | Manager::Zypper => {
                "an rpm version, like 1.20.1 or 1.20.1-14.el9 (or with an epoch, 1:1.20.1-14.el9)"
            }
            Manager::Pacman => "a pacman version, like 1.26.1 or 1.26.1-2",
            Manager::Apk => "an apk version, like 1.26.1-r0",
        }
    }

    /// The shell function printing the installed version of `$1`.
    pub(crate) fn version_function(self) -> &'static str {
        match self {
            Manager::Apt => "rg_dpkg_version",
            Manager::Dnf | Manager::Yum | Manager::Zypper => "rg_rpm_version",
            Manager::Pacman => "rg_pacman_version",
            Manager::Apk => "rg_apk_version",
        }
    }

    /// The shell function printing the version an install of `$1` would pick.
    pub(crate) fn candidate_function(self) -> &'static str {
        match self {
            Manager::Apt => "rg_apt_candidate",
            Manager::Dnf => "rg_dnf_candidate",
            Manager::Yum => "rg_yum_candidate",
            Manager::Zypper => "rg_zypper_candidate",
            Manager::Pacman => "rg_pacman_candidate",
            Manager::Apk => "rg_apk_candidate",
        }
    }

    /// The probe's shell functions for this manager.
    pub(crate) fn functions(self) -> &'static str {
        match self {
            Manager::Apt => APT_FUNCTIONS,
            Manager::Dnf | Manager::Yum | Manager::Zypper => RPM_FUNCTIONS,
            Manager::Pacman => PACMAN_FUNCTIONS,
            Manager::Apk => APK_FUNCTIONS,
        }
    }

    /// The shell function that refreshes the package cache when it is stale,
    /// for the managers that do not do it by themselves.
    pub(crate) fn refresh_function(self) -> Option<&'static str> {
        match self {
            Manager::Apt => Some("rg_apt_refresh"),
            Manager::Pacman => Some("rg_pacman_refresh"),
            Manager::Apk => Some("rg_apk_refresh"),
            Manager::Dnf | Manager::Yum | Manager::Zypper => None,
        }
    }

    /// The command that installs (or up- or downgrades to) the packages in
    /// `$rg_want`, all in one transaction.
    pub(crate) fn install_command(self) -> &'static str {
        match self {
            Manager::Apt => "rg_apt_get install",
            Manager::Dnf => "dnf -y -q install",
            Manager::Yum => "yum -y -q install",
            Manager::Zypper => {
                "zypper --non-interactive --quiet install --oldpackage --auto-agree-with-licenses"
            }
            Manager::Pacman => "pacman -S --noconfirm --needed",
            Manager::Apk => "apk add -q -u",
        }
    }

    /// The command that removes the packages in `$rg_drop`, in one transaction.
    pub(crate) fn remove_command(self) -> &'static str {
        match self {
            Manager::Apt => "rg_apt_get remove",
            Manager::Dnf => "dnf -y -q remove",
            Manager::Yum => "yum -y -q remove",
            Manager::Zypper => "zypper --non-interactive --quiet remove",
            Manager::Pacman => "pacman -R --noconfirm",
            Manager::Apk => "apk del -q",
        }
    }

    /// The shell word that asks for the newest version of `quoted` (a quoted
    /// name): an explicit version where a plain name would not upgrade an
    /// installed package (dnf, yum, zypper), the name otherwise.
    pub(crate) fn latest_arg(self, quoted: &str) -> String {
        match self {
            Manager::Dnf | Manager::Yum => {
                format!("{quoted}-\"$({} {quoted})\"", self.candidate_function())
            }
            Manager::Zypper => format!("{quoted}=\"$({} {quoted})\"", self.candidate_function()),
            _ => quoted.to_string(),
        }
    }
}

/// Every manager, in the order the facts look for them.
pub const ALL: [Manager; 6] = [
    Manager::Apt,
    Manager::Dnf,
    Manager::Yum,
    Manager::Apk,
    Manager::Zypper,
    Manager::Pacman,
];

/// rpm's installed version (`[EPOCH:]VERSION-RELEASE`) for dnf, yum and
/// zypper, and how each of them finds the version an install would pick.
pub const RPM_FUNCTIONS: &str = r#"rg_rpm_version() {
  rpm -q --qf '%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n' "$1" 2>/dev/null | grep -v ' ' | head -n 1
}
rg_dnf_candidate() {
  dnf -q repoquery --latest-limit 1 --qf '%{evr}' "$1" 2>/dev/null | head -n 1
}
rg_yum_candidate() {
  yum -q list "$1" 2>/dev/null | awk 'NF == 3 { v = $2 } NF == 2 && w { v = $1 } { w = (NF == 1) } END { print v }'
}
rg_zypper_candidate() {
  zypper --non-interactive --quiet info "$1" 2>/dev/null | sed -n 's/^Version *: //p' | head -n 1
}
"#;

/// pacman's versions, and its sync databases, which only `pacman -Sy` refreshes.
pub const PACMAN_FUNCTIONS: &str = r#"rg_pacman_version() {
  pacman -Q "$1" 2>/dev/null | awk -v n="$1" '$1 == n { print $2; exit }'
}
rg_pacman_candidate() {
  pacman -Sddp --print-format '%v' "$1" 2>/dev/null | head -n 1
}
rg_pacman_cache() {
  set -- /var/lib/pacman/sync/*.db
  if [ ! -e "$1" ]; then echo missing; return 0; fi
  if [ -n "$(find /etc/pacman.conf /etc/pacman.d -maxdepth 1 -newer /var/lib/pacman/sync 2>/dev/null | head -n 1)" ]; then echo sources; return 0; fi
  echo $(( $(date +%s) - $(stat -c %Y -- /var/lib/pacman/sync) ))
}
rg_pacman_refresh() {
  rg_c=$(rg_pacman_cache)
  case $rg_c in missing|sources) ;; *) [ "$rg_c" -gt 3600 ] || return 0 ;; esac
  pacman -Sy --noconfirm >&2 && touch -- /var/lib/pacman/sync
}
"#;

/// apk's versions, and its indexes, which only `apk update` refreshes.
pub const APK_FUNCTIONS: &str = r#"rg_apk_version() {
  apk list --installed "$1" 2>/dev/null | awk -v n="$1" 'index($1, n "-") == 1 { v = substr($1, length(n) + 2); if (v ~ /^[0-9]/) { print v; exit } }'
}
rg_apk_candidate() {
  apk policy "$1" 2>/dev/null | sed -n 's/^  \([^ ]*\):$/\1/p' | head -n 1
}
rg_apk_cache() {
  set -- /var/cache/apk/APKINDEX.*.tar.gz
  if [ ! -e "$1" ]; then echo missing; return 0; fi
  if [ -n "$(find /etc/apk/repositories /etc/apk/keys -maxdepth 1 -newer /var/cache/apk 2>/dev/null | head -n 1)" ]; then echo sources; return 0; fi
  echo $(( $(date +%s) - $(stat -c %Y -- /var/cache/apk) ))
}
rg_apk_refresh() {
  rg_c=$(rg_apk_cache)
  case $rg_c in missing|sources) ;; *) [ "$rg_c" -gt 3600 ] || return 0 ;; esac
  apk update -q >&2 && touch -- /var/cache/apk
}
"#;

/// True when `installed` satisfies `pin` on a host whose manager is
/// `$rg_pm`-independent: the shell twin of [`Manager::pin_holds`] for the
/// managers other than apt.
pub const PIN_FUNCTION: &str = r#"rg_pin_holds() {
  rg_h=$1
  case $2 in *:*) ;; *) rg_h=${rg_h#*:} ;; esac
  case $rg_h in "$2"|"$2"-*) return 0 ;; esac
  return 1
}
"#;

/// apt's functions: the installed version (dpkg), the candidate version and
/// the age of the package lists.
pub const APT_FUNCTIONS: &str = r#"rg_dpkg_version() {
  dpkg-query -W -f='${db:Status-Abbrev}|${Version}\n' -- "$1" 2>/dev/null |
    while IFS='|' read -r rg_ds rg_dv; do case $rg_ds in ?i?) echo "$rg_dv"; break ;; esac; done
}
rg_apt_candidate() {
  apt-cache policy -- "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -n 1
}
rg_apt_cache() {
  set -- /var/lib/apt/lists/*_Packages*
  if [ ! -e "$1" ]; then echo missing; return 0; fi
  rg_ref=/var/lib/apt/periodic/update-success-stamp
  if [ ! -e "$rg_ref" ] || [ /var/lib/apt/lists -nt "$rg_ref" ]; then rg_ref=/var/lib/apt/lists; fi
  if [ -n "$(find /etc/apt/sources.list /etc/apt/sources.list.d /etc/apt/keyrings /etc/apt/trusted.gpg.d -maxdepth 1 -newer "$rg_ref" 2>/dev/null | head -n 1)" ]; then echo sources; return 0; fi
  echo $(( $(date +%s) - $(stat -c %Y -- "$rg_ref") ))
}
"#;

/// True for a valid Debian package name, optionally with an architecture
/// (`libc6:amd64`).
pub fn valid_debian_name(name: &str) -> bool {
    let (base, arch) = match name.split_once(':') {
        Some((base, arch)) => (base, Some(arch)),
        None => (name, None),
    };
    let base_ok = base.len() >= 2
        && base.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && base
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    let arch_ok = arch.is_none_or(|a| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    base_ok && arch_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_follow_each_managers_matching() {
        assert!(Manager::Dnf.pin_holds("2.0-1", "2.0"));
        assert!(Manager::Dnf.pin_holds("2.0-1", "2.0-1"));
        assert!(Manager::Dnf.pin_holds("1:2.0-1", "2.0"));
        assert!(Manager::Dnf.pin_holds("1:2.0-1", "1:2.0-1"));
        assert!(!Manager::Dnf.pin_holds("2.0.1-1", "2.0"));
        assert!(!Manager::Dnf.pin_holds("1:2.0-1", "0:2.0-1"));
        assert!(!Manager::Apt.pin_holds("2.0-1", "2.0"));
        assert_eq!(Manager::Dnf.pinned("rg-hello", "1.0"), "rg-hello-1.0");
        assert_eq!(Manager::Zypper.pinned("rg-hello", "1.0"), "rg-hello=1.0");
    }

    #[test]
    fn names_of_other_families_may_have_capitals() {
        assert!(Manager::Dnf.valid_name("NetworkManager"));
        assert!(Manager::Pacman.valid_name("python_foo"));
        assert!(!Manager::Apt.valid_name("NetworkManager"));
        assert!(!Manager::Dnf.valid_name("-y"));
        assert!(!Manager::Dnf.valid_name("a b"));
    }

    /// The shell pin check agrees with the Rust one.
    #[test]
    fn the_shell_pin_check_agrees() {
        for (installed, pin) in [
            ("2.0-1", "2.0"),
            ("1:2.0-1", "2.0"),
            ("2.0.1-1", "2.0"),
            ("1:2.0-1", "1:2.0-1"),
            ("2.0-1", "2.0-2"),
        ] {
            let script = format!("{PIN_FUNCTION}rg_pin_holds '{installed}' '{pin}'");
            let status = std::process::Command::new("sh")
                .args(["-c", &script])
                .status()
                .unwrap();
            assert_eq!(
                status.success(),
                Manager::Dnf.pin_holds(installed, pin),
                "{installed} {pin}"
            );
        }
    }
}
