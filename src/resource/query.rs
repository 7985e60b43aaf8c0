//! What the probe asks a host ([`Query`]), the shell that asks it, and
//! what it found ([`Probed`]), which the plan then updates resource by
//! resource.

use std::collections::BTreeMap;

use super::facts::Facts;
use super::path::{PathState, TreeState};
use super::{cron, evidence, group, package, path, service, sysctl, user};
use crate::shell::{TaggedLines, quote};

/// The largest file whose content the probe brings back for a diff.
pub const DIFF_LIMIT: u64 = 256 * 1024;
/// The largest file a `line` resource edits.
pub const LINE_LIMIT: u64 = 16 * 1024 * 1024;

/// A question the probe asks the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Query {
    /// The state of a path (type, mode, owner, sha256, link target), and its
    /// content when it is a file of at most `content_limit` bytes (0: never).
    Path {
        /// Absolute path.
        path: String,
        /// Bring the content back up to this size.
        content_limit: u64,
    },
    /// Owners and directory modes of everything below a directory.
    Tree {
        /// Absolute path.
        path: String,
    },
    /// Whether a package is installed (and at which version), and with
    /// `candidate`, the version the package cache would install.
    Package {
        /// Package name.
        name: String,
        /// Also ask for the candidate version.
        candidate: bool,
    },
    /// How old the package cache is, and whether a source changed since.
    PackageCache,
    /// A user account, its groups and its authorized keys.
    User {
        /// User name.
        name: String,
    },
    /// A group.
    Group {
        /// Group name.
        name: String,
    },
    /// A service: loaded, active, enabled.
    Service {
        /// Unit name.
        name: String,
    },
    /// The exit status of a side-effect-free check (`unless`, `only_if`).
    Guard {
        /// The whole shell command, as built by [`super::command`].
        check: String,
        /// The check as the recipe gives it, for messages.
        shown: String,
    },
    /// A user's crontab.
    Crontab {
        /// Whose.
        user: String,
    },
    /// A kernel parameter's current value.
    Sysctl {
        /// Its key (`net.ipv4.ip_forward`).
        key: String,
    },
    /// Evidence of use of what a removal removes (see [`super::evidence`]).
    Evidence {
        /// What is removed.
        subject: evidence::Subject,
        /// How far back "recent" looks, in seconds (`unused_for`).
        window: u64,
    },
}

/// What the probe found, and what the plan expects each path to be after
/// each resource so far (so that two resources on one path agree): the
/// host as the plan sees it.
#[derive(Debug, Clone, Default)]
pub struct Probed {
    /// Facts about the host.
    pub facts: Facts,
    /// Path → state.
    pub paths: BTreeMap<String, PathState>,
    /// Directory → (distinct `user:group uid:gid` of its tree, distinct modes of its directories).
    pub trees: BTreeMap<String, TreeState>,
    /// Package → installed and candidate versions.
    pub packages: BTreeMap<String, package::PackageState>,
    /// The package cache's freshness.
    pub package_cache: package::CacheState,
    /// The install the package resource planned last asks for, which the
    /// engine may join with the next ones into one transaction (see
    /// [`package::Transaction`]).
    pub package_transaction: Option<package::Transaction>,
    /// User name → account.
    pub users: BTreeMap<String, user::UserState>,
    /// Group name → group.
    pub groups: BTreeMap<String, group::GroupState>,
    /// Unit name → service state.
    pub services: BTreeMap<String, service::ServiceState>,
    /// Guard command → exit status on the host at probe time.
    pub guards: BTreeMap<String, i32>,
    /// User → crontab.
    pub crontabs: BTreeMap<String, cron::CrontabState>,
    /// Kernel parameter → value.
    pub sysctls: BTreeMap<String, sysctl::SysctlState>,
    /// What a removal removes → what the host shows of its use.
    pub evidence: BTreeMap<evidence::Subject, Vec<evidence::Sign>>,
    /// True once a resource planned before this one changes the host: what the
    /// probe saw may no longer hold (a package brings a service, a file makes a
    /// guard pass), so uncertain answers are re-checked on the host at apply.
    pub changed_earlier: bool,
    /// True once a resource planned before this one writes under a systemd
    /// unit directory: services re-check on the host (daemon-reload).
    pub unit_files_changed: bool,
}

/// Directories whose files are systemd units.
pub const UNIT_DIRS: &[&str] = &["/etc/systemd/", "/lib/systemd/", "/usr/lib/systemd/"];

impl Probed {
    /// The expected state of `path` (absent if the probe did not ask).
    pub fn path(&self, path: &str) -> PathState {
        self.paths.get(path).cloned().unwrap_or_default()
    }

    /// A resource planned now will change the host, and manages `paths`:
    /// what the probe saw may no longer hold for the resources after it.
    pub fn will_change(&mut self, paths: &[String]) {
        self.changed_earlier = true;
        if paths
            .iter()
            .any(|p| UNIT_DIRS.iter().any(|d| p.starts_with(d)))
        {
            self.unit_files_changed = true;
        }
    }
}

/// The shell functions the probe lines of `queries` call.
pub fn probe_functions(queries: &[Query]) -> String {
    let mut script = String::from(path::PROBE_FUNCTIONS);
    let has = |f: fn(&Query) -> bool| queries.iter().any(f);
    if has(|q| matches!(q, Query::Package { .. } | Query::PackageCache)) {
        script.push_str(&package::probe_functions());
    }
    if has(|q| matches!(q, Query::User { .. })) {
        script.push_str(user::PROBE_FUNCTIONS);
    }
    if has(|q| matches!(q, Query::Group { .. })) {
        script.push_str(group::PROBE_FUNCTIONS);
    }
    if has(|q| matches!(q, Query::Service { .. })) {
        script.push_str(service::PROBE_FUNCTIONS);
    }
    if has(|q| matches!(q, Query::Crontab { .. })) {
        script.push_str(cron::PROBE_FUNCTIONS);
    }
    if has(|q| matches!(q, Query::Sysctl { .. })) {
        script.push_str(sysctl::PROBE_FUNCTIONS);
    }
    if has(|q| matches!(q, Query::Evidence { .. })) {
        script.push_str(evidence::PROBE_FUNCTIONS);
    }
    script
}

/// The probe lines that answer `queries`, each under the tag `qN` (N its
/// index): every path at once (see `path::PROBE_FUNCTIONS`), then the rest.
pub fn probe_lines(queries: &[Query]) -> String {
    let paths: Vec<(String, &str, u64)> = queries
        .iter()
        .enumerate()
        .filter_map(|(index, query)| match query {
            Query::Path {
                path,
                content_limit,
            } => Some((format!("q{index}"), path.as_str(), *content_limit)),
            _ => None,
        })
        .collect();
    // Evidence first: listing a tree or reading a file for a diff would
    // make its access time now.
    let mut script = String::new();
    for (index, query) in queries.iter().enumerate() {
        if matches!(query, Query::Evidence { .. }) {
            script.push_str(&query.probe_line(&format!("q{index}")));
        }
    }
    script.push_str(&path::probe_paths(&paths));
    // Every package with a plain name at once (see package::PROBE_FUNCTIONS),
    // then the rest one by one.
    let (mut packages, mut rest) = (String::new(), String::new());
    for (index, query) in queries.iter().enumerate() {
        match query {
            Query::Package { name, candidate } if package::batched(name) => {
                packages.push_str(&format!(
                    " q{index} {} {}",
                    quote(name),
                    u8::from(*candidate)
                ));
            }
            Query::Evidence { .. } => {}
            _ => rest.push_str(&query.probe_line(&format!("q{index}"))),
        }
    }
    if !packages.is_empty() {
        script.push_str(&format!("rg_pkgs{packages}\n"));
    }
    script.push_str(&rest);
    script
}

impl Query {
    /// The probe line that answers this query under `tag`.
    pub fn probe_line(&self, tag: &str) -> String {
        match self {
            Query::Path { .. } => String::new(),
            Query::Tree { .. } => path::probe(tag, self),
            Query::Package { name, candidate } => {
                format!("rg_pkg {tag} {} {}\n", quote(name), u8::from(*candidate))
            }
            Query::PackageCache => format!("rg_emit {tag} cache \"$(rg_pkg_cache)\"\n"),
            Query::User { name } => format!("rg_user {tag} {}\n", quote(name)),
            Query::Group { name } => format!("rg_group {tag} {}\n", quote(name)),
            Query::Service { name } => format!("rg_service {tag} {}\n", quote(name)),
            // A guard is side-effect free by contract; its output is not wanted.
            Query::Guard { check, .. } => {
                format!("( {check} ) </dev/null >/dev/null 2>&1; rg_emit {tag} status $?\n")
            }
            Query::Crontab { user } => format!("rg_crontab {tag} {}\n", quote(user)),
            Query::Sysctl { key } => format!("rg_sysctl {tag} {}\n", quote(key)),
            Query::Evidence { subject, window } => {
                subject.probe_line(tag, std::time::Duration::from_secs(*window))
            }
        }
    }
}

/// Read the probe's answers.
pub fn read_answers(queries: &[Query], lines: &TaggedLines) -> Probed {
    let mut probed = Probed {
        facts: Facts::from_lines(lines),
        ..Probed::default()
    };
    for (index, query) in queries.iter().enumerate() {
        let tag = format!("q{index}");
        match query {
            Query::Path { path, .. } => {
                probed
                    .paths
                    .insert(path.clone(), PathState::from_lines(lines, &tag));
            }
            Query::Tree { path } => {
                probed
                    .trees
                    .insert(path.clone(), TreeState::from_lines(lines, &tag));
            }
            Query::Package { name, .. } => {
                probed
                    .packages
                    .insert(name.clone(), package::PackageState::from_lines(lines, &tag));
            }
            Query::PackageCache => {
                probed.package_cache = package::CacheState::from_lines(lines, &tag);
            }
            Query::User { name } => {
                probed
                    .users
                    .insert(name.clone(), user::UserState::from_lines(lines, &tag));
            }
            Query::Group { name } => {
                probed
                    .groups
                    .insert(name.clone(), group::GroupState::from_lines(lines, &tag));
            }
            Query::Service { name } => {
                probed
                    .services
                    .insert(name.clone(), service::ServiceState::from_lines(lines, &tag));
            }
            Query::Guard { check, .. } => {
                if let Some(status) = lines.get(&tag, "status").and_then(|s| s.parse().ok()) {
                    probed.guards.insert(check.clone(), status);
                }
            }
            Query::Crontab { user } => {
                probed
                    .crontabs
                    .insert(user.clone(), cron::CrontabState::from_lines(lines, &tag));
            }
            Query::Sysctl { key } => {
                probed
                    .sysctls
                    .insert(key.clone(), sysctl::SysctlState::from_lines(lines, &tag));
            }
            Query::Evidence { subject, window } => {
                probed.evidence.insert(
                    subject.clone(),
                    subject.read(lines, &tag, std::time::Duration::from_secs(*window)),
                );
            }
        }
    }
    probed
}

impl Query {
    /// What the question is about, in words: `the file /etc/motd`.
    pub fn subject(&self) -> String {
        match self {
            Query::Path { path, .. } => format!("the path {path}"),
            Query::Tree { path } => format!("what is inside {path}"),
            Query::Package { name, .. } => format!("the package {name}"),
            Query::PackageCache => "the package cache".into(),
            Query::User { name } => format!("the user {name}"),
            Query::Group { name } => format!("the group {name}"),
            Query::Service { name } => format!("the service {name}"),
            Query::Guard { shown, .. } => format!("the check `{shown}`"),
            Query::Crontab { user } => format!("the crontab of {user}"),
            Query::Sysctl { key } => format!("the kernel parameter {key}"),
            Query::Evidence { subject, .. } => format!("the use of {}", subject.shown()),
        }
    }
}

/// What the probe found for each question, as a digest per subject, so that
/// two probes of one host can be compared (a saved plan's against now's).
/// Left out: the package cache (its age grows by itself), evidence of use
/// (times and processes change by themselves; a saved plan's evidence is
/// compared by the guard, see `unused_for`) and file contents
/// (brought back only for diffs; their sha256 stands for them).
pub fn answers(queries: &[Query], lines: &TaggedLines) -> BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    let mut out = BTreeMap::new();
    for (index, query) in queries.iter().enumerate() {
        if matches!(query, Query::PackageCache | Query::Evidence { .. }) {
            continue;
        }
        let mut hasher = Sha256::new();
        if let Some(keys) = lines.tag(&format!("q{index}")) {
            for (key, values) in keys.iter().filter(|(k, _)| *k != "content") {
                for value in values {
                    hasher.update(format!("{key}={value}\n"));
                }
            }
        }
        let digest: String = hasher.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        out.insert(query.subject(), digest);
    }
    out
}

/// Merge duplicate queries (the same path asked by several resources), keeping
/// the largest content limit; paths come first (sorted), then trees, then the
/// other questions in the order they were first asked.
pub fn dedup_queries(queries: Vec<Query>) -> Vec<Query> {
    let mut paths: BTreeMap<String, u64> = BTreeMap::new();
    let mut trees: Vec<String> = Vec::new();
    let mut others: Vec<Query> = Vec::new();
    for query in queries {
        match query {
            Query::Path {
                path,
                content_limit,
            } => {
                let limit = paths.entry(path).or_insert(0);
                *limit = (*limit).max(content_limit);
            }
            Query::Tree { path } => {
                if !trees.contains(&path) {
                    trees.push(path);
                }
            }
            Query::Package { name, candidate } => {
                let existing = others.iter_mut().find_map(|q| match q {
                    Query::Package { name: n, candidate } if *n == name => Some(candidate),
                    _ => None,
                });
                match existing {
                    Some(c) => *c |= candidate,
                    None => others.push(Query::Package { name, candidate }),
                }
            }
            other => {
                if !others.contains(&other) {
                    others.push(other);
                }
            }
        }
    }
    let mut out: Vec<Query> = paths
        .into_iter()
        .map(|(path, content_limit)| Query::Path {
            path,
            content_limit,
        })
        .collect();
    out.extend(trees.into_iter().map(|path| Query::Tree { path }));
    out.extend(others);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_questions_are_asked_once() {
        let queries = dedup_queries(vec![
            Query::Package {
                name: "curl".into(),
                candidate: false,
            },
            Query::PackageCache,
            Query::Package {
                name: "curl".into(),
                candidate: true,
            },
            Query::PackageCache,
            Query::Path {
                path: "/a".into(),
                content_limit: 0,
            },
        ]);
        assert_eq!(
            queries,
            [
                Query::Path {
                    path: "/a".into(),
                    content_limit: 0
                },
                Query::Package {
                    name: "curl".into(),
                    candidate: true
                },
                Query::PackageCache,
            ]
        );
    }
}
