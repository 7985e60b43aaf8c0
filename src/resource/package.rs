//! `package`: OS packages, through the package manager the facts name.
//!
//! apt (Debian, Ubuntu), dnf or yum (the RHEL family), zypper (SUSE), pacman
//! (Arch) and apk (Alpine); see [`super::package_manager`] for how each is
//! driven and how the facts choose one. apt's shell is unchanged from when it
//! was the only one, and lives here.
//!
//! * The probe asks the package database which version of each package is
//!   installed, and for `state: latest` also the version an install would
//!   pick.
//! * `present` installs what is missing (at `version` when pinned), `latest`
//!   also upgrades what is older than the candidate, `absent` removes
//!   (`apt-get remove`, configuration files stay).
//! * A list `package: [a, b, c]` is one resource and one transaction.
//! * `apt-get update` runs only before an install or upgrade, and only when
//!   the cache was never fetched, is older than [`CACHE_MAX_AGE`], or a source
//!   (`/etc/apt/sources.list*`, keyrings) is newer than the last update — for
//!   example written by an `apt_repository` earlier in the same converge.
//!   pacman and apk are refreshed by the same rule (their own sync databases
//!   and indexes); dnf, yum and zypper refresh expired metadata themselves.

use super::package_manager::{APT_FUNCTIONS, Manager, PIN_FUNCTION, valid_debian_name};
use super::{Change, Decision, PlanInput, Probed, Query};
use crate::diagnostic::Diag;
use crate::recipe::{Name, Spanned, Text};
use crate::shell::{TaggedLines, quote};
use serde::Deserialize;

use super::{Check, Holds, Kind, NameRule, QueryInput, ResourceType, literal};

/// `package: nginx` or `package: [curl, git]`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    /// present (default), absent or latest.
    #[schemars(with = "Option<Wanted>")]
    pub state: Option<Spanned<Wanted>>,
    /// A version to pin (one package only).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub version: Option<Text>,
}

/// `state` of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "PackageState")]
pub enum Wanted {
    /// Installed, any version (or the pinned `version`).
    #[default]
    Present,
    /// Not installed.
    Absent,
    /// Installed at the newest version available.
    Latest,
}

/// The `package` type.
pub struct Package;

impl ResourceType for Package {
    const KEY: &'static str = "package";
    const NAME: Holds = Holds::Name(Kind::Package);
    const LIST: bool = true;
    const NAME_RULE: Option<NameRule> = Some(NameRule {
        valid: valid_name,
        noun: "package name",
        label: "not a package name",
        help: "package names are letters, digits, and + - . _ (like nginx-light, libc6:amd64 or NetworkManager; Debian's are lowercase)",
    });
    type Spec = PackageSpec;

    fn removal(spec: &PackageSpec) -> Option<crate::recipe::Location> {
        spec.state
            .as_ref()
            .filter(|s| s.value == Wanted::Absent)
            .map(|s| s.referenced)
    }

    fn evidence(_: &PackageSpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        input
            .planned
            .names
            .iter()
            .map(|n| super::evidence::Subject::Package(n.clone()))
            .collect()
    }

    fn check(spec: &PackageSpec, check: &mut Check<'_>) {
        if let (Some(version), Name::List(_)) = (&spec.version, &check.resource.name.value) {
            let place = check.at(version.referenced);
            check.push(
                Diag::at(place, "`version` pins one package, but this is a list")
                    .label("version of a list")
                    .help("write the pinned package as a resource of its own"),
            );
        }
        if let Some(version) = &spec.version
            && literal(&version.value)
            && !valid_version(&version.value)
        {
            let place = check.at(version.referenced);
            check.push(
                Diag::at(
                    place,
                    format!("invalid package version '{}'", version.value),
                )
                .label("not a version")
                .help("a Debian version, like 1.22.1-9 or 1:2.3-1+deb12u1"),
            );
        }
    }

    fn queries(spec: &PackageSpec, input: &QueryInput<'_>) -> Vec<Query> {
        let planned = input.planned;
        let latest = spec.state.as_ref().map(|s| s.value) == Some(Wanted::Latest);
        let mut queries: Vec<Query> = planned
            .names
            .iter()
            .map(|name| Query::Package {
                name: name.clone(),
                candidate: latest,
            })
            .collect();
        queries.push(Query::PackageCache);
        queries
    }

    fn plan(
        spec: &PackageSpec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag> {
        let fact = probed.facts.package_manager.as_str();
        let Some(manager) = Manager::from_fact(fact) else {
            let message = if fact == "none" || fact.is_empty() {
                "no package manager found on this host (looked for apt-get, dnf, yum, apk, zypper, pacman)".to_string()
            } else {
                format!("this host's package manager is {fact}, which redgreen does not drive")
            };
            return Err(Diag::at(input.planned.place(), message)
                .label("package")
                .help("redgreen installs packages with apt, dnf, yum, zypper, pacman and apk; use a `command` resource meanwhile, with `when: { package_manager: ... }`"));
        };
        let state = spec.state.as_ref().map(|s| s.value).unwrap_or_default();
        let pin = spec.version.as_ref().map(|v| input.render(v)).transpose()?;
        if let Some(pin) = &pin
            && !valid_version(pin)
        {
            return Err(Diag::at(
                input.planned.place(),
                format!("invalid package version '{pin}'"),
            )
            .help(manager.version_example()));
        }
        let wants: Vec<Want> = input
            .planned
            .names
            .iter()
            .map(|name| Want {
                name: name.clone(),
                pin: pin.clone(),
            })
            .collect();
        for want in &wants {
            if !manager.valid_name(&want.name) {
                return Err(Diag::at(
                    input.planned.place(),
                    format!("invalid package name '{}'", want.name),
                )
                .help(if manager == Manager::Apt {
                    "Debian's package names are lowercase letters, digits, and + - . (like nginx-light or libc6:amd64)"
                } else {
                    "package names are letters, digits, and + - . _ (like nginx or NetworkManager)"
                }));
            }
        }

        let mut changes = Vec::new();
        let snippet;
        match state {
            Wanted::Absent => {
                let drop: Vec<&Want> = wants
                    .iter()
                    .filter(|w| installed(probed, &w.name).is_some())
                    .collect();
                if drop.is_empty() {
                    return Ok(Decision::Ok);
                }
                changes.push(Change::Remove {
                    what: format!(
                        "{} {}",
                        if drop.len() == 1 {
                            "package"
                        } else {
                            "packages"
                        },
                        names(&drop)
                    ),
                });
                for want in &drop {
                    probed
                        .packages
                        .entry(want.name.clone())
                        .or_default()
                        .installed = None;
                }
                snippet = remove_snippet(manager, &wants);
            }
            Wanted::Present | Wanted::Latest => {
                let latest = state == Wanted::Latest;
                let mut install = Vec::new();
                for want in &wants {
                    let current = probed.packages.get(&want.name).cloned().unwrap_or_default();
                    let text = match (&current.installed, &want.pin) {
                        (None, Some(pin)) => {
                            Some(format!("install {}", manager.pinned(&want.name, pin)))
                        }
                        (None, None) => Some(format!("install {}", want.name)),
                        (Some(have), Some(pin)) if !manager.pin_holds(have, pin) => {
                            Some(format!("{} {have} → {pin}", want.name))
                        }
                        (Some(have), None) if latest => match &current.candidate {
                            Some(candidate) if candidate != have => {
                                Some(format!("upgrade {} {have} → {candidate}", want.name))
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    if let Some(text) = text {
                        install.push(want);
                        changes.push(Change::Note { text });
                    }
                }
                let stale = probed.package_cache.stale();
                // With a stale cache, `latest` cannot know the newest version
                // without refreshing it first.
                let refresh_for_latest = latest && install.is_empty() && stale.is_some();
                if install.is_empty() && !refresh_for_latest {
                    return Ok(Decision::Ok);
                }
                if let Some(why) = stale {
                    changes.insert(
                        0,
                        Change::Note {
                            text: format!("refresh the package cache first ({why})"),
                        },
                    );
                    probed.package_cache = CacheState::Age(0);
                }
                if refresh_for_latest {
                    changes.push(Change::Note {
                        text: format!(
                            "upgrade {} if the refreshed cache has newer versions",
                            names(&wants.iter().collect::<Vec<_>>())
                        ),
                    });
                }
                for want in &wants {
                    let entry = probed.packages.entry(want.name.clone()).or_default();
                    if let Some(pin) = &want.pin {
                        if !entry
                            .installed
                            .as_deref()
                            .is_some_and(|have| manager.pin_holds(have, pin))
                        {
                            entry.installed = Some(pin.clone());
                        }
                    } else if entry.installed.is_none() || latest {
                        entry.installed =
                            entry.candidate.clone().or_else(|| Some("(newest)".into()));
                    }
                }
                snippet = install_snippet(manager, &wants, latest);
                probed.package_transaction = Some(Transaction {
                    manager,
                    wants: wants
                        .iter()
                        .map(|w| (w.name.clone(), w.pin.clone()))
                        .collect(),
                    latest,
                });
            }
        }
        Ok(Decision::Apply { changes, snippet })
    }
}

/// The package cache is refreshed before an install when it is older than this (seconds).
pub const CACHE_MAX_AGE: u64 = 3600;

/// What the probe found about one package.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageState {
    /// The installed version; None when not installed.
    pub installed: Option<String>,
    /// The version the cache would install (asked for `latest` only).
    pub candidate: Option<String>,
}

impl PackageState {
    /// Read the answer under `tag`.
    pub fn from_lines(lines: &TaggedLines, tag: &str) -> PackageState {
        let version = |key: &str| {
            lines
                .get(tag, key)
                .map(str::trim)
                .filter(|v| !v.is_empty() && *v != "-" && *v != "(none)")
                .map(str::to_string)
        };
        PackageState {
            installed: version("installed"),
            candidate: version("candidate"),
        }
    }
}

/// How fresh the package cache is.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum CacheState {
    /// Not asked (no package resource, or not apt).
    #[default]
    Unknown,
    /// Never fetched (no package lists).
    Missing,
    /// A source or key is newer than the last update.
    SourcesChanged,
    /// Fetched this many seconds ago.
    Age(u64),
}

impl CacheState {
    /// Read the answer under `tag`.
    pub fn from_lines(lines: &TaggedLines, tag: &str) -> CacheState {
        match lines.get(tag, "cache").map(str::trim) {
            Some("missing") => CacheState::Missing,
            Some("sources") => CacheState::SourcesChanged,
            Some(age) => age.parse().map_or(CacheState::Unknown, CacheState::Age),
            None => CacheState::Unknown,
        }
    }

    /// Why the cache must be refreshed before installing, if it must.
    pub fn stale(&self) -> Option<String> {
        match self {
            CacheState::Unknown => None,
            CacheState::Missing => Some("the package cache was never fetched".into()),
            CacheState::SourcesChanged => {
                Some("a package source changed since the last update".into())
            }
            CacheState::Age(age) if *age > CACHE_MAX_AGE => {
                Some(format!("the package cache is {} old", human_age(*age)))
            }
            CacheState::Age(_) => None,
        }
    }
}

fn human_age(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// Shell functions of the probe about packages: `rg_pkg TAG NAME CANDIDATE?`
/// and `rg_pkg_cache` answer through the functions of the host's manager
/// (`$rg_pm`, set by the facts), so one probe script serves every family.
///
/// `rg_pkgs TAG NAME CANDIDATE? ...` answers for many packages at once: on
/// apt, one `dpkg-query` for all of them (it reads the whole status file
/// each time, about 3 ms on a small host), each name then found in its
/// answer by the shell, the first installed line of its own (as
/// `rg_dpkg_version` takes); elsewhere one query each. Only plain names
/// (no `:arch`, see [`batched`]) are asked this way.
pub const PROBE_FUNCTIONS: &str = r#"rg_pkg() {
  case $rg_pm in
    apt) rg_v=rg_dpkg_version rg_c=rg_apt_candidate ;;
    dnf|yum|zypper) rg_v=rg_rpm_version rg_c=rg_${rg_pm}_candidate ;;
    pacman|apk) rg_v=rg_${rg_pm}_version rg_c=rg_${rg_pm}_candidate ;;
    *) return 0 ;;
  esac
  rg_emit "$1" installed "$($rg_v "$2")"
  if [ "$3" = 1 ]; then rg_emit "$1" candidate "$($rg_c "$2")"; fi
}
rg_pkg_cache() {
  case $rg_pm in apt|pacman|apk) rg_${rg_pm}_cache ;; esac
}
rg_pkgs() {
  if [ "$rg_pm" != apt ]; then
    while [ $# -ge 3 ]; do rg_pkg "$1" "$2" "$3"; shift 3; done
    return 0
  fi
  nl='
'
  rg_o=$nl$(rg_dpkg_batch "$@")$nl
  while [ $# -ge 3 ]; do
    v=
    case $rg_o in *"$nl"?i?"|$2|"*) v=${rg_o#*"$nl"?i?"|$2|"}; v=${v%%"$nl"*} ;; esac
    rg_emit "$1" installed "$v"
    if [ "$3" = 1 ]; then rg_emit "$1" candidate "$(rg_apt_candidate "$2")"; fi
    shift 3
  done
}
rg_dpkg_batch() {
  n=$# k=0
  for w do
    k=$((k + 1))
    if [ $k -eq 2 ]; then set -- "$@" "$w"; elif [ $k -eq 3 ]; then k=0; fi
  done
  shift $n
  dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Version}\n' -- "$@" 2>/dev/null
  return 0
}
"#;

/// Whether the probe asks for `name` with the others in one `rg_pkgs`:
/// a Debian package name without an architecture, which dpkg-query's
/// answer names exactly as it was asked.
pub fn batched(name: &str) -> bool {
    valid_debian_name(name) && !name.contains(':')
}

/// All the package functions of the probe: the dispatch above, and every
/// manager's own (the probe script is written before the facts are known).
pub fn probe_functions() -> String {
    let mut out = String::from(PROBE_FUNCTIONS);
    for manager in super::package_manager::ALL {
        if manager != Manager::Yum && manager != Manager::Zypper {
            out.push_str(manager.functions());
        }
    }
    out
}

/// See [`crate::shell::SHARED_PACKAGE_CACHE`].
use crate::shell::SHARED_PACKAGE_CACHE as SHARED;

/// The apply snippet's own helpers: the probe functions, a cache refresh, and
/// apt-get with the options that keep it non-interactive (and, on a shared
/// package cache, one at a time).
fn apply_functions() -> String {
    format!(
        "{APT_FUNCTIONS}rg_apt_refresh() {{\n\
         \x20 rg_c=$(rg_apt_cache)\n\
         \x20 case $rg_c in missing|sources) ;; *) [ \"$rg_c\" -gt {CACHE_MAX_AGE} ] || return 0 ;; esac\n\
         \x20 rg_apt_get update >&2\n\
         \x20 mkdir -p -- /var/lib/apt/periodic && touch -- /var/lib/apt/periodic/update-success-stamp\n\
         }}\n\
         rg_apt_get() {{ set -- apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \"$@\"; \
         if [ -e {SHARED} ] && command -v flock >/dev/null 2>&1; then set -- flock -w 600 {SHARED} \"$@\"; fi; \
         DEBIAN_FRONTEND=noninteractive \"$@\"; }}\n"
    )
}

/// True for a name some package manager accepts (checked again against the
/// host's own manager when planning, see [`Manager::valid_name`]).
pub fn valid_name(name: &str) -> bool {
    valid_debian_name(name) || Manager::Dnf.valid_name(name)
}

/// True for a valid version: Debian's (`1:1.22.1-9+deb12u1`), rpm's
/// (`1.20.1-14.el9_2`, `1.0^git1`), pacman's or apk's (`1.2-r0`).
pub fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.starts_with(|c: char| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~:-_^".contains(c))
}

/// What a package resource installs, kept beside its snippet so that the
/// engine can install the packages of consecutive package resources of a
/// host in one transaction ([`joined_snippet`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The host's manager.
    pub manager: Manager,
    /// Each package and its pin.
    pub wants: Vec<(String, Option<String>)>,
    /// `state: latest`.
    pub latest: bool,
}

/// The test that a package is still to be installed, and the word that asks
/// the manager for it.
fn needed_and_arg(manager: Manager, want: &Want, latest: bool) -> (String, String) {
    let n = quote(&want.name);
    let version = manager.version_function();
    let candidate = manager.candidate_function();
    match (&want.pin, latest, manager) {
        (Some(pin), _, Manager::Apt) => (
            format!("[ \"$({version} {n})\" != {} ]", quote(pin)),
            quote(&want.arg()),
        ),
        (Some(pin), _, _) => (
            format!("! rg_pin_holds \"$({version} {n})\" {}", quote(pin)),
            quote(&manager.pinned(&want.name, pin)),
        ),
        (None, false, _) => (format!("[ -z \"$({version} {n})\" ]"), n.clone()),
        (None, true, Manager::Apt) => (
            format!(
                "[ -z \"$({version} {n})\" ] || [ \"$({version} {n})\" != \"$({candidate} {n})\" ]"
            ),
            n.clone(),
        ),
        (None, true, _) => (
            format!(
                "[ -n \"$({candidate} {n})\" ] && [ \"$({version} {n})\" != \"$({candidate} {n})\" ]"
            ),
            manager.latest_arg(&n),
        ),
    }
}

/// One snippet that installs the packages of several package resources (by
/// apply tag, in order) in one transaction of their manager, re-checking each
/// package first, and says `changed` for each resource whose packages it
/// installed. The engine gives it to the first of them; the others run
/// nothing of their own.
pub fn joined_snippet(members: &[(String, &Transaction)]) -> String {
    let manager = members[0].1.manager;
    let mut out = if manager == Manager::Apt {
        apply_functions()
    } else {
        format!("{}{PIN_FUNCTION}", manager.functions())
    };
    out.push_str("rg_want=\n");
    for (tag, _) in members {
        out.push_str(&format!("rg_want_{tag}=\n"));
    }
    let refresh = manager.refresh_function();
    if let Some(refresh) = refresh
        && members.iter().any(|(_, t)| t.latest)
    {
        // The newest version is only known after a refresh.
        out.push_str(&format!("{refresh}\n"));
    }
    let mut pinned = false;
    for (tag, transaction) in members {
        for (name, pin) in &transaction.wants {
            pinned |= pin.is_some();
            let want = Want {
                name: name.clone(),
                pin: pin.clone(),
            };
            let (needed, arg) = needed_and_arg(manager, &want, transaction.latest);
            out.push_str(&format!(
                "if {needed}; then rg_want=\"$rg_want \"{arg}; rg_want_{tag}=\"$rg_want_{tag} \"{arg}; fi\n"
            ));
        }
    }
    out.push_str("if [ -n \"$rg_want\" ]; then\n");
    if let Some(refresh) = refresh {
        out.push_str(&format!("  {refresh}\n"));
    }
    let (options, end) = match manager {
        Manager::Apt if pinned => (" --allow-downgrades", " --"),
        Manager::Apt => ("", " --"),
        _ => ("", ""),
    };
    out.push_str(&format!(
        "  {}{options}{end} $rg_want >&2\n",
        manager.install_command()
    ));
    for (tag, _) in members {
        out.push_str(&format!(
            "  if [ -n \"$rg_want_{tag}\" ]; then rg_emit {tag} changed \"installed$rg_want_{tag}\"; fi\n"
        ));
    }
    out.push_str("fi\n");
    out
}

/// One package as the resource wants it.
struct Want {
    name: String,
    /// A pinned version.
    pin: Option<String>,
}

impl Want {
    /// What apt-get is given: `name` or `name=version`.
    fn arg(&self) -> String {
        match &self.pin {
            Some(pin) => format!("{}={pin}", self.name),
            None => self.name.clone(),
        }
    }
}

fn installed<'w>(probed: &'w Probed, name: &str) -> Option<&'w str> {
    probed
        .packages
        .get(name)
        .and_then(|p| p.installed.as_deref())
}

fn names(wants: &[&Want]) -> String {
    wants
        .iter()
        .map(|w| w.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shell that re-checks every package on the host, refreshes the cache if it
/// must, and installs (or upgrades) what is still needed in one transaction.
fn install_snippet(manager: Manager, wants: &[Want], latest: bool) -> String {
    if manager == Manager::Apt {
        return apt_install_snippet(wants, latest);
    }
    let mut out = format!("{}{PIN_FUNCTION}rg_want=\n", manager.functions());
    let refresh = manager.refresh_function();
    if let (true, Some(refresh)) = (latest, refresh) {
        // The newest version is only known after a refresh.
        out.push_str(&format!("{refresh}\n"));
    }
    for want in wants {
        let (needed, arg) = needed_and_arg(manager, want, latest);
        out.push_str(&format!(
            "if {needed}; then rg_want=\"$rg_want \"{arg}; fi\n"
        ));
    }
    out.push_str("if [ -n \"$rg_want\" ]; then\n");
    if let Some(refresh) = refresh {
        out.push_str(&format!("  {refresh}\n"));
    }
    out.push_str(&format!(
        "  {} $rg_want >&2\n\
         \x20 rg_emit \"$rg_tag\" changed \"installed$rg_want\"\n\
         fi\n",
        manager.install_command()
    ));
    out
}

/// Shell that removes the packages still installed, in one transaction.
fn remove_snippet(manager: Manager, wants: &[Want]) -> String {
    if manager == Manager::Apt {
        return apt_remove_snippet(wants);
    }
    let version = manager.version_function();
    let mut out = format!("{}rg_drop=\n", manager.functions());
    for want in wants {
        let n = quote(&want.name);
        out.push_str(&format!(
            "if [ -n \"$({version} {n})\" ]; then rg_drop=\"$rg_drop \"{n}; fi\n"
        ));
    }
    out.push_str(&format!(
        "if [ -n \"$rg_drop\" ]; then\n\
         \x20 {} $rg_drop >&2\n\
         \x20 rg_emit \"$rg_tag\" changed \"removed$rg_drop\"\n\
         fi\n",
        manager.remove_command()
    ));
    out
}

/// apt's install snippet (see [`install_snippet`]).
fn apt_install_snippet(wants: &[Want], latest: bool) -> String {
    let mut out = apply_functions();
    out.push_str("rg_want=\n");
    if latest {
        // The newest version is only known after a refresh.
        out.push_str("rg_apt_refresh\n");
    }
    for want in wants {
        let n = quote(&want.name);
        let needed = match (&want.pin, latest) {
            (Some(pin), _) => format!("[ \"$(rg_dpkg_version {n})\" != {} ]", quote(pin)),
            (None, false) => format!("[ -z \"$(rg_dpkg_version {n})\" ]"),
            (None, true) => format!(
                "[ -z \"$(rg_dpkg_version {n})\" ] || [ \"$(rg_dpkg_version {n})\" != \"$(rg_apt_candidate {n})\" ]"
            ),
        };
        out.push_str(&format!(
            "if {needed}; then rg_want=\"$rg_want \"{}; fi\n",
            quote(&want.arg())
        ));
    }
    // A pin may be older than what is installed.
    let downgrades = if wants.iter().any(|w| w.pin.is_some()) {
        " --allow-downgrades"
    } else {
        ""
    };
    out.push_str(&format!(
        "if [ -n \"$rg_want\" ]; then\n\
         \x20 rg_apt_refresh\n\
         \x20 rg_apt_get install{downgrades} -- $rg_want >&2\n\
         \x20 rg_emit \"$rg_tag\" changed \"installed$rg_want\"\n\
         fi\n"
    ));
    out
}

/// apt's remove snippet (see [`remove_snippet`]).
fn apt_remove_snippet(wants: &[Want]) -> String {
    let mut out = apply_functions();
    out.push_str("rg_drop=\n");
    for want in wants {
        let n = quote(&want.name);
        out.push_str(&format!(
            "if [ -n \"$(rg_dpkg_version {n})\" ]; then rg_drop=\"$rg_drop \"{n}; fi\n"
        ));
    }
    out.push_str(
        "if [ -n \"$rg_drop\" ]; then\n\
         \x20 rg_apt_get remove -- $rg_drop >&2\n\
         \x20 rg_emit \"$rg_tag\" changed \"removed$rg_drop\"\n\
         fi\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wants(names: &[&str], pin: Option<&str>) -> Vec<Want> {
        names
            .iter()
            .map(|n| Want {
                name: n.to_string(),
                pin: pin.map(str::to_string),
            })
            .collect()
    }

    #[test]
    fn names_and_versions_are_checked() {
        assert!(valid_name("nginx-light"));
        assert!(valid_name("libc6:amd64"));
        assert!(valid_name("g++"));
        assert!(!valid_name("nginx light"));
        assert!(valid_name("Nginx"), "an rpm name");
        assert!(!valid_debian_name("Nginx"));
        assert!(!valid_name("-y"));
        assert!(!valid_name("x"));
        assert!(valid_version("1:1.22.1-9+deb12u1"));
        assert!(valid_version("2.0~rc1"));
        assert!(!valid_version("latest"));
        assert!(!valid_version("1.0; rm -rf /"));
    }

    #[test]
    fn cache_states_say_why_they_are_stale() {
        assert_eq!(CacheState::Age(10).stale(), None);
        assert_eq!(
            CacheState::Age(3 * 86_400).stale().unwrap(),
            "the package cache is 3 days old"
        );
        assert!(CacheState::Missing.stale().is_some());
        assert!(CacheState::SourcesChanged.stale().is_some());
        assert_eq!(CacheState::Unknown.stale(), None);
    }

    #[test]
    fn probe_answers_parse() {
        let lines = crate::shell::parse_lines(
            "@q0 installed 1.22.1-9\n@q0 candidate 1.22.1-10\n@q1 installed \n@q1 candidate (none)\n@q2 cache 42\n@q3 cache sources\n",
        );
        assert_eq!(
            PackageState::from_lines(&lines, "q0"),
            PackageState {
                installed: Some("1.22.1-9".into()),
                candidate: Some("1.22.1-10".into())
            }
        );
        assert_eq!(
            PackageState::from_lines(&lines, "q1"),
            PackageState::default()
        );
        assert_eq!(CacheState::from_lines(&lines, "q2"), CacheState::Age(42));
        assert_eq!(
            CacheState::from_lines(&lines, "q3"),
            CacheState::SourcesChanged
        );
    }

    #[test]
    fn install_snippet_rechecks_and_installs_in_one_transaction() {
        insta::assert_snapshot!(install_snippet(
            Manager::Apt,
            &wants(&["nginx-light", "curl"], None),
            false
        ));
    }

    #[test]
    fn latest_and_pinned_snippets() {
        insta::assert_snapshot!(
            "latest",
            install_snippet(Manager::Apt, &wants(&["curl"], None), true)
        );
        insta::assert_snapshot!(
            "pinned",
            install_snippet(
                Manager::Apt,
                &wants(&["nginx-light"], Some("1.22.1-9")),
                false
            )
        );
    }

    #[test]
    fn remove_snippet_rechecks() {
        insta::assert_snapshot!(remove_snippet(Manager::Apt, &wants(&["telnet"], None)));
    }

    /// The probe functions run under dash: for every manager, on a machine
    /// without its tools they report nothing installed.
    #[test]
    fn probe_functions_are_valid_shell() {
        for manager in super::super::package_manager::ALL {
            let script = format!(
                "{}{}{}rg_pm={}\nrg_pkg q0 surely-not-a-package-here 1\nrg_emit q1 cache \"$(rg_pkg_cache)\"\n",
                crate::shell::PRELUDE,
                probe_functions(),
                apply_functions(),
                manager.name()
            );
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            let lines = crate::shell::parse_lines(&String::from_utf8_lossy(&out.stdout));
            assert_eq!(
                PackageState::from_lines(&lines, "q0"),
                PackageState::default(),
                "{manager:?}"
            );
            if manager == Manager::Apt {
                assert!(lines.get("q1", "cache").is_some(), "{lines:?}");
            }
        }
    }

    /// Many packages in one dpkg-query answer as each asked alone does,
    /// on this machine's dpkg (with a name of each kind: installed, known
    /// to no one, and with its architecture, which is asked alone).
    #[test]
    fn packages_asked_together_answer_as_each_alone() {
        let arch = std::process::Command::new("dpkg")
            .arg("--print-architecture")
            .output()
            .unwrap();
        let libc = format!("libc6:{}", String::from_utf8_lossy(&arch.stdout).trim());
        let names = [
            "zsh",
            "surely-not-a-package-here",
            "libc6",
            "dpkg",
            libc.as_str(),
        ];
        let run = |lines: String| {
            let script = format!(
                "{}{}rg_pm=apt\n{lines}",
                crate::shell::PRELUDE,
                probe_functions()
            );
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            crate::shell::parse_lines(&String::from_utf8_lossy(&out.stdout))
        };
        let queries: Vec<Query> = names
            .iter()
            .map(|name| Query::Package {
                name: name.to_string(),
                candidate: false,
            })
            .collect();
        let together = run(crate::resource::query::probe_lines(&queries));
        assert!(
            crate::resource::query::probe_lines(&queries).contains("rg_pkgs q0 'zsh' 0 q1 "),
            "asked together"
        );
        let alone = run(names
            .iter()
            .enumerate()
            .map(|(i, name)| format!("rg_pkg q{i} {} 0\n", crate::shell::quote(name)))
            .collect());
        for (i, name) in names.iter().enumerate() {
            let tag = format!("q{i}");
            let state = PackageState::from_lines(&together, &tag);
            assert_eq!(state, PackageState::from_lines(&alone, &tag), "{name}");
            assert_eq!(state.installed.is_some(), *name != names[1], "{name}");
        }
    }

    /// Every manager's apply snippets, as written (apk's are tested on no
    /// real host: these snapshots and `sh -n` are all it gets).
    #[test]
    fn snippets_of_every_manager() {
        for manager in super::super::package_manager::ALL {
            let name = manager.name();
            let pinned = &wants(&["rg-hello"], Some("1.0"));
            let scripts = [
                (
                    "present",
                    install_snippet(manager, &wants(&["rg-hello", "rg-tool"], None), false),
                ),
                (
                    "latest",
                    install_snippet(manager, &wants(&["rg-hello"], None), true),
                ),
                ("pinned", install_snippet(manager, pinned, false)),
                (
                    "absent",
                    remove_snippet(manager, &wants(&["rg-hello", "rg-tool"], None)),
                ),
            ];
            for (what, script) in scripts {
                let checked = std::process::Command::new("sh")
                    .args(["-n", "-c", &script])
                    .output()
                    .unwrap();
                assert!(
                    checked.status.success(),
                    "{name} {what}: {}",
                    String::from_utf8_lossy(&checked.stderr)
                );
                if manager != Manager::Apt {
                    insta::assert_snapshot!(format!("{name}_{what}"), script);
                }
            }
        }
    }

    /// Two resources' packages in one transaction, each resource told what
    /// it installed.
    #[test]
    fn joined_transactions() {
        for manager in [Manager::Apt, Manager::Dnf] {
            let first = Transaction {
                manager,
                wants: vec![("rg-hello".into(), None), ("rg-extra".into(), None)],
                latest: false,
            };
            let second = Transaction {
                manager,
                wants: vec![("rg-tool".into(), Some("1.0".into()))],
                latest: true,
            };
            let script = joined_snippet(&[("r0".into(), &first), ("r2".into(), &second)]);
            let checked = std::process::Command::new("sh")
                .args(["-n", "-c", &script])
                .status()
                .unwrap();
            assert!(checked.success());
            let tail = &script[script.find("rg_want=\n").unwrap()..];
            insta::assert_snapshot!(format!("joined_{}", manager.name()), tail);
        }
    }

    use crate::resource::testing;

    #[test]
    fn unknown_managers_are_refused_by_name() {
        let mut probed = testing::debian();
        probed.facts.package_manager = "nix".into();
        let out = testing::plan("resources:\n  - package: nginx\n", &[], &mut probed);
        assert_eq!(
            testing::changes(&out[0]),
            ["error: this host's package manager is nix, which redgreen does not drive"]
        );
    }

    #[test]
    fn pins_are_written_in_the_managers_syntax() {
        let mut probed = testing::debian();
        probed.facts.package_manager = "dnf".into();
        probed.packages.insert(
            "rg-tool".into(),
            PackageState {
                installed: Some("2.0-1".into()),
                candidate: None,
            },
        );
        let recipe = "resources:\n  - package: rg-hello\n    version: '1.0'\n  - package: rg-tool\n    version: '2.0'\n  - package: NetworkManager\n";
        let out = testing::plan(recipe, &[], &mut probed);
        assert_eq!(testing::changes(&out[0]), ["install rg-hello-1.0"]);
        assert_eq!(testing::changes(&out[1]), ["ok"], "2.0-1 holds the pin 2.0");
        assert_eq!(testing::changes(&out[2]), ["install NetworkManager"]);
        probed.facts.package_manager = "apt".into();
        let out = testing::plan(
            "resources:\n  - package: NetworkManager\n",
            &[],
            &mut probed,
        );
        assert!(
            testing::changes(&out[0])[0].starts_with("error: invalid package name"),
            "{:?}",
            testing::changes(&out[0])
        );
    }

    #[test]
    fn a_list_installs_only_what_is_missing() {
        let mut probed = testing::debian();
        probed.package_cache = CacheState::Age(60);
        probed.packages.insert(
            "curl".into(),
            PackageState {
                installed: Some("7.88".into()),
                candidate: None,
            },
        );
        let out = testing::plan(
            "resources:\n  - package: [nginx-light, curl]\n  - package: [telnet, curl-dev]\n    state: absent\n    reason: a test of removals\n",
            &[],
            &mut probed,
        );
        assert_eq!(testing::changes(&out[0]), ["install nginx-light"]);
        assert_eq!(testing::changes(&out[1]), ["ok"], "neither is installed");
    }

    #[test]
    fn a_changed_source_refreshes_the_cache_before_installing() {
        let mut probed = testing::debian();
        probed.package_cache = CacheState::Age(60);
        let out = testing::plan(
            "resources:\n  - apt_repository: example\n    uri: https://example.org/debian\n  - package: example-tool\n",
            &[],
            &mut probed,
        );
        assert_eq!(
            testing::changes(&out[1]),
            [
                "refresh the package cache first (a package source changed since the last update)",
                "install example-tool"
            ]
        );
    }

    #[test]
    fn latest_upgrades_to_the_candidate_and_refreshes_a_stale_cache() {
        let mut probed = testing::debian();
        probed.package_cache = CacheState::Age(60);
        probed.packages.insert(
            "curl".into(),
            PackageState {
                installed: Some("1.0".into()),
                candidate: Some("1.0".into()),
            },
        );
        let recipe = "resources:\n  - package: curl\n    state: latest\n";
        assert_eq!(
            testing::changes(&testing::plan(recipe, &[], &mut probed.clone())[0]),
            ["ok"]
        );
        probed.package_cache = CacheState::Age(2 * 86_400);
        assert_eq!(
            testing::changes(&testing::plan(recipe, &[], &mut probed)[0]),
            [
                "refresh the package cache first (the package cache is 2 days old)",
                "upgrade curl if the refreshed cache has newer versions"
            ]
        );
    }
}
