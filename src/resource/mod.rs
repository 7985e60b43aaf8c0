//! Resource types as pure functions: what to ask the host ([`Query`]), what
//! must change given the answers ([`Change`]), and the shell snippet that makes
//! the change ([`Decision::Apply`]).
//!
//! A resource never runs anything. The engine gathers the queries of every
//! resource of a host into one probe script (one round trip), plans every
//! resource locally, and sends every apply snippet in one more script.
//! Each apply snippet re-checks its own condition on the host just before it
//! acts, and prints `@TAG changed WHAT` for what it did.

pub mod apt_repository;
mod attrs;
pub mod command;
pub mod cron;
pub mod directory;
pub mod download;
pub mod facts;
pub mod fields;
pub mod file;
pub mod group;
pub mod line;
pub mod link;
pub mod package;
pub mod path;
pub mod service;
pub mod sysctl;
pub mod template;
pub mod user;

use std::collections::BTreeMap;
use std::path::Path as FsPath;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use facts::Facts;
pub use path::{PathKind, PathState};

use crate::config::PlannedResource;
use crate::diagnostic::Diag;
use crate::recipe::Spec;
use crate::template::Templates;

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
        /// The whole shell command, as built by [`command`].
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
}

/// What the probe found, and what the plan expects each path to be after
/// each resource so far (so that two resources on one path agree).
#[derive(Debug, Clone, Default)]
pub struct World {
    /// Facts about the host.
    pub facts: Facts,
    /// Path → state.
    pub paths: BTreeMap<String, PathState>,
    /// Directory → (distinct `user:group uid:gid` of its tree, distinct modes of its directories).
    pub trees: BTreeMap<String, path::TreeState>,
    /// Package → installed and candidate versions.
    pub packages: BTreeMap<String, package::PackageState>,
    /// The package cache's freshness.
    pub package_cache: package::CacheState,
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
    /// True once a resource planned before this one changes the host: what the
    /// probe saw may no longer hold (a package brings a service, a file makes a
    /// guard pass), so uncertain answers are re-checked on the host at apply.
    pub changed_earlier: bool,
    /// True once a resource planned before this one writes under a systemd
    /// unit directory: services re-check on the host (daemon-reload).
    pub unit_files_changed: bool,
}

/// The same decision, with `Create` and `Remove` naming `path` (for resources
/// that manage several files, like `apt_repository` and `sysctl`).
pub fn naming(decision: Decision, path: &str) -> Decision {
    match decision {
        Decision::Apply { changes, snippet } => Decision::Apply {
            changes: changes
                .into_iter()
                .map(|change| match change {
                    Change::Create { what } => Change::Create {
                        what: format!("{what} {path}"),
                    },
                    Change::Remove { what } => Change::Remove {
                        what: format!("{what} {path}"),
                    },
                    other => other,
                })
                .collect(),
            snippet,
        },
        other => other,
    }
}

/// Directories whose files are systemd units.
pub const UNIT_DIRS: &[&str] = &["/etc/systemd/", "/lib/systemd/", "/usr/lib/systemd/"];

impl World {
    /// The expected state of `path` (absent if the probe did not ask).
    pub fn path(&self, path: &str) -> PathState {
        self.paths.get(path).cloned().unwrap_or_default()
    }
}

/// What a resource needs to change on a host, for people to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// It does not exist and will be created.
    Create {
        /// What is created ("file", "directory", "symlink").
        what: String,
    },
    /// It exists and will be removed.
    Remove {
        /// What is removed.
        what: String,
    },
    /// A file's content changes.
    Content {
        /// A unified diff, when both sides are text and small enough.
        diff: Option<String>,
        /// sha256 before (None: no file).
        from: Option<String>,
        /// sha256 after.
        to: String,
    },
    /// Permissions change.
    Mode {
        /// Before.
        from: Option<String>,
        /// After.
        to: String,
    },
    /// Owner changes.
    Owner {
        /// Before.
        from: Option<String>,
        /// After.
        to: String,
    },
    /// Group changes.
    Group {
        /// Before.
        from: Option<String>,
        /// After.
        to: String,
    },
    /// A symlink's target changes.
    Target {
        /// Before.
        from: Option<String>,
        /// After.
        to: String,
    },
    /// Anything else, in words.
    Note {
        /// What changes.
        text: String,
    },
}

impl Change {
    /// True when the change deletes something from the host: a file, link,
    /// directory (with what is in it), package, user, group, cron entry or
    /// line. Converge applies these only from a saved plan or with
    /// `--allow-removals`.
    pub fn is_removal(&self) -> bool {
        matches!(self, Change::Remove { .. })
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A value that is set where there was none reads "mode 0644".
        let from = |v: &Option<String>| v.as_ref().map(|v| format!("{v} → ")).unwrap_or_default();
        let text = match self {
            Change::Create { what } => format!("create {what}"),
            Change::Remove { what } => format!("remove {what}"),
            Change::Content { diff, .. } => match diff {
                Some(diff) => {
                    let (added, removed) = diff_counts(diff);
                    format!("content (+{added} -{removed})")
                }
                None => "content".into(),
            },
            Change::Mode { from: a, to } => format!("mode {}{to}", from(a)),
            Change::Owner { from: a, to } => format!("owner {}{to}", from(a)),
            Change::Group { from: a, to } => format!("group {}{to}", from(a)),
            Change::Target { from: a, to } => format!("target {}{to}", from(a)),
            Change::Note { text } => text.clone(),
        };
        // Paths, link targets and names come from recipes and hosts.
        f.write_str(&crate::output::shown(&text))
    }
}

fn diff_counts(diff: &str) -> (usize, usize) {
    let added = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .count();
    let removed = diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .count();
    (added, removed)
}

/// What a resource decided for one host.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Already as it should be.
    Ok,
    /// Not applied here, and why (`when` did not hold).
    Skip(String),
    /// These changes, made by this snippet.
    Apply {
        /// What changes, for people.
        changes: Vec<Change>,
        /// Shell code that re-checks and makes the changes; prints
        /// `@TAG changed WHAT` (TAG is `$rg_tag`).
        snippet: String,
    },
}

/// Everything a resource's plan may look at, besides the world.
pub struct PlanInput<'a> {
    /// The resource for this host, names rendered.
    pub planned: &'a PlannedResource<'a>,
    /// The template context (vars, host, facts).
    pub context: &'a Value,
    /// The project's templates.
    pub templates: &'a Templates,
    /// The project's files/ directory.
    pub files_dir: &'a FsPath,
    /// Whether the probe brought contents back for diffs.
    pub want_diff: bool,
}

impl PlanInput<'_> {
    /// The resource's (first) name, rendered.
    pub fn name(&self) -> &str {
        &self.planned.names[0]
    }

    /// Check the resource's templated values, rendered with the facts, by
    /// the rules literal ones obey ([`fields`]), before they reach a script.
    pub fn check_values(&self) -> Result<(), Diag> {
        let at = |loc| self.planned.recipe.source.place(loc);
        fields::check_rendered(&self.planned.resource.value, &at, &|text, loc| {
            self.templates
                .render_inline(text, self.context, &at(loc))
                .ok()
        })
    }

    /// Read a file under files/ that a field of this resource names (`source`,
    /// an apt key): only a regular file inside the project, links followed.
    pub fn read_file(&self, name: &crate::recipe::Text) -> Result<Vec<u8>, Diag> {
        let root = self.files_dir.parent().unwrap_or(self.files_dir);
        let shown = format!("files/{}", name.value);
        crate::files::walk::read_inside(root, &self.files_dir.join(&name.value), &shown).map_err(
            |problem| {
                Diag::at(self.planned.recipe.source.place(name.referenced), problem)
                    .label("this file")
            },
        )
    }

    /// Render an inline string of this resource (content, targets, values).
    pub fn render(&self, text: &crate::recipe::Text) -> Result<String, Diag> {
        let place = self.planned.recipe.source.place(text.referenced);
        self.templates
            .render_inline(&text.value, self.context, &place)
    }
}

/// What [`queries`] needs besides the resource: fields used in queries are
/// rendered before facts are known (the probe is what gathers them).
pub struct QueryInput<'a> {
    /// The resource for this host, names rendered.
    pub planned: &'a PlannedResource<'a>,
    /// The template context without facts (vars, host).
    pub context: &'a Value,
    /// The project's templates.
    pub templates: &'a Templates,
    /// Whether the probe brings contents back for diffs.
    pub want_diff: bool,
}

impl QueryInput<'_> {
    /// Render a field for the probe; None when it cannot be rendered without
    /// facts (the plan then reports it, with the facts at hand).
    pub fn render(&self, text: &crate::recipe::Text) -> Option<String> {
        let place = self.planned.recipe.source.place(text.referenced);
        self.templates
            .render_inline(&text.value, self.context, &place)
            .ok()
    }
}

/// The questions a resource asks the probe.
pub fn queries(input: &QueryInput<'_>) -> Vec<Query> {
    let planned = input.planned;
    let name = || planned.names[0].clone();
    let content_limit = if input.want_diff { DIFF_LIMIT } else { 0 };
    match &planned.resource.value.spec {
        Spec::File(_) | Spec::Template(_) => vec![Query::Path {
            path: name(),
            content_limit,
        }],
        Spec::Directory(spec) => {
            let mut queries = vec![Query::Path {
                path: name(),
                content_limit: 0,
            }];
            if spec.recursive.as_ref().is_some_and(|r| r.value) {
                queries.push(Query::Tree { path: name() });
            }
            queries
        }
        Spec::Link(_) => vec![Query::Path {
            path: name(),
            content_limit: 0,
        }],
        Spec::Line(_) => vec![Query::Path {
            path: planned.path.clone().unwrap_or_default(),
            content_limit: LINE_LIMIT,
        }],
        Spec::Package(spec) => package::queries(planned, spec),
        Spec::User(_) => vec![Query::User { name: name() }],
        Spec::Group(_) => vec![Query::Group { name: name() }],
        Spec::Service(_) => vec![Query::Service { name: name() }],
        Spec::Command(spec) => command::queries(input, spec),
        Spec::Cron(spec) => cron::queries(input, spec),
        Spec::Sysctl(_) => sysctl::queries(&name(), content_limit),
        Spec::AptRepository(_) => apt_repository::queries(&name(), content_limit),
        Spec::Download(_) => vec![Query::Path {
            path: name(),
            content_limit: 0,
        }],
        Spec::Unknown => Vec::new(),
    }
}

/// Decide what a resource must change, given the world so far, and update the
/// world to what it will be after the change.
pub fn plan(input: &PlanInput<'_>, world: &mut World) -> Result<Decision, Diag> {
    input.check_values()?;
    match &input.planned.resource.value.spec {
        Spec::File(spec) => file::plan(input, spec, world),
        Spec::Template(spec) => template::plan(input, spec, world),
        Spec::Directory(spec) => directory::plan(input, spec, world),
        Spec::Link(spec) => link::plan(input, spec, world),
        Spec::Line(spec) => line::plan(input, spec, world),
        Spec::Package(spec) => package::plan(input, spec, world),
        Spec::User(spec) => user::plan(input, spec, world),
        Spec::Group(spec) => group::plan(input, spec, world),
        Spec::Service(spec) => service::plan(input, spec, world),
        Spec::Command(spec) => command::plan(input, spec, world),
        Spec::Cron(spec) => cron::plan(input, spec, world),
        Spec::Sysctl(spec) => sysctl::plan(input, spec, world),
        Spec::AptRepository(spec) => apt_repository::plan(input, spec, world),
        Spec::Download(spec) => download::plan(input, spec, world),
        Spec::Unknown => Err(Diag::at(
            input.planned.place(),
            "unknown resource type (reported by validation)",
        )),
    }
}

/// The paths a resource manages, for `restart_on` (a service restarts when a
/// resource that manages one of these paths changes).
pub fn managed_paths(planned: &PlannedResource<'_>) -> Vec<String> {
    match &planned.resource.value.spec {
        Spec::File(_)
        | Spec::Template(_)
        | Spec::Directory(_)
        | Spec::Link(_)
        | Spec::Download(_) => planned.names.clone(),
        Spec::Line(_) => planned.path.iter().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The shell text of the probe: the prelude, the facts, and every query.
pub fn probe_script(queries: &[Query]) -> String {
    let mut script = String::from(crate::shell::PRELUDE);
    let has = |f: fn(&Query) -> bool| queries.iter().any(f);
    script.push_str(path::PROBE_FUNCTIONS);
    if has(|q| matches!(q, Query::Package { .. } | Query::PackageCache)) {
        script.push_str(package::PROBE_FUNCTIONS);
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
    // The script arrives on stdin: nothing in it may read stdin.
    script.push_str("{\n");
    script.push_str(facts::PROBE);
    script.push_str(crate::ledger::PROBE);
    // Every path at once (see `path::PROBE_FUNCTIONS`), then the rest.
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
    script.push_str(&path::probe_paths(&paths));
    for (index, query) in queries.iter().enumerate() {
        script.push_str(&probe_line(&format!("q{index}"), query));
    }
    script.push_str("} </dev/null\necho @end\n");
    script
}

/// The probe line that answers one query under `tag`.
fn probe_line(tag: &str, query: &Query) -> String {
    use crate::shell::quote;
    match query {
        Query::Path { .. } => String::new(),
        Query::Tree { .. } => path::probe(tag, query),
        Query::Package { name, candidate } => {
            format!("rg_pkg {tag} {} {}\n", quote(name), u8::from(*candidate))
        }
        Query::PackageCache => format!("rg_emit {tag} cache \"$(rg_apt_cache)\"\n"),
        Query::User { name } => format!("rg_user {tag} {}\n", quote(name)),
        Query::Group { name } => format!("rg_group {tag} {}\n", quote(name)),
        Query::Service { name } => format!("rg_service {tag} {}\n", quote(name)),
        // A guard is side-effect free by contract; its output is not wanted.
        Query::Guard { check, .. } => {
            format!("( {check} ) </dev/null >/dev/null 2>&1; rg_emit {tag} status $?\n")
        }
        Query::Crontab { user } => format!("rg_crontab {tag} {}\n", quote(user)),
        Query::Sysctl { key } => format!("rg_sysctl {tag} {}\n", quote(key)),
    }
}

/// Read the probe's answers into a world.
pub fn read_answers(queries: &[Query], lines: &crate::shell::Lines) -> World {
    let mut world = World {
        facts: Facts::from_lines(lines),
        ..World::default()
    };
    for (index, query) in queries.iter().enumerate() {
        let tag = format!("q{index}");
        match query {
            Query::Path { path, .. } => {
                world
                    .paths
                    .insert(path.clone(), PathState::from_lines(lines, &tag));
            }
            Query::Tree { path } => {
                world
                    .trees
                    .insert(path.clone(), path::TreeState::from_lines(lines, &tag));
            }
            Query::Package { name, .. } => {
                world
                    .packages
                    .insert(name.clone(), package::PackageState::from_lines(lines, &tag));
            }
            Query::PackageCache => {
                world.package_cache = package::CacheState::from_lines(lines, &tag);
            }
            Query::User { name } => {
                world
                    .users
                    .insert(name.clone(), user::UserState::from_lines(lines, &tag));
            }
            Query::Group { name } => {
                world
                    .groups
                    .insert(name.clone(), group::GroupState::from_lines(lines, &tag));
            }
            Query::Service { name } => {
                world
                    .services
                    .insert(name.clone(), service::ServiceState::from_lines(lines, &tag));
            }
            Query::Guard { check, .. } => {
                if let Some(status) = lines.get(&tag, "status").and_then(|s| s.parse().ok()) {
                    world.guards.insert(check.clone(), status);
                }
            }
            Query::Crontab { user } => {
                world
                    .crontabs
                    .insert(user.clone(), cron::CrontabState::from_lines(lines, &tag));
            }
            Query::Sysctl { key } => {
                world
                    .sysctls
                    .insert(key.clone(), sysctl::SysctlState::from_lines(lines, &tag));
            }
        }
    }
    world
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
        }
    }
}

/// What the probe found for each question, as a digest per subject, so that
/// two probes of one host can be compared (a saved plan's against now's).
/// Left out: the package cache (its age grows by itself) and file contents
/// (brought back only for diffs; their sha256 stands for them).
pub fn answers(queries: &[Query], lines: &crate::shell::Lines) -> BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    let mut out = BTreeMap::new();
    for (index, query) in queries.iter().enumerate() {
        if matches!(query, Query::PackageCache) {
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

/// Plan a recipe's resources against a made-up world, without a host.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Decision, PlanInput, World};
    use crate::config::{Overrides, Project, expand_host};

    /// What planning each resource of `recipe` (in order) decided; `files`
    /// are put under files/. Errors are one-line diagnostics.
    pub fn plan(
        recipe: &str,
        files: &[(&str, &[u8])],
        world: &mut World,
    ) -> Vec<Result<Decision, String>> {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(
            dir.path().join("redgreen.yml"),
            "hosts:\n  h: { address: 127.0.0.1, groups: [g] }\ngroups:\n  g: { recipes: [r] }\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("recipes")).unwrap();
        std::fs::create_dir_all(dir.path().join("files")).unwrap();
        std::fs::write(dir.path().join("recipes/r.yml"), recipe).unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join("files").join(name), content).unwrap();
        }
        let project = Project::load(dir.path())
            .map_err(|d| format!("{d:?}"))
            .unwrap();
        let host = crate::template::host_value("h", "127.0.0.1", &["g".into()]);
        let expanded = expand_host(
            &project,
            &["g".into()],
            &Default::default(),
            &host,
            &Overrides::default(),
        )
        .map_err(|d| format!("{d:?}"))
        .unwrap();
        let facts = world.facts.to_value();
        let context = crate::template::context(&expanded.vars, &host, Some(&facts));
        expanded
            .resources
            .iter()
            .map(|planned| {
                let input = PlanInput {
                    planned,
                    context: &context,
                    templates: &project.templates,
                    files_dir: &project.files_dir(),
                    want_diff: true,
                };
                let decision = super::plan(&input, world).map_err(|d| d.message.clone());
                if matches!(decision, Ok(Decision::Apply { .. })) {
                    world.changed_earlier = true;
                }
                decision
            })
            .collect()
    }

    /// A Debian 12 host with systemd and apt, as the probe would describe it.
    pub fn debian() -> World {
        let mut world = World::default();
        world.facts.os_family = "debian".into();
        world.facts.os_id = "debian".into();
        world.facts.os_codename = "bookworm".into();
        world.facts.init = "systemd".into();
        world.facts.package_manager = "apt".into();
        world
    }

    /// The changes of a decision, as shown to people.
    pub fn changes(decision: &Result<Decision, String>) -> Vec<String> {
        match decision {
            Ok(Decision::Apply { changes, .. }) => {
                changes.iter().map(ToString::to_string).collect()
            }
            Ok(Decision::Ok) => vec!["ok".into()],
            Ok(Decision::Skip(why)) => vec![format!("skip: {why}")],
            Err(e) => vec![format!("error: {e}")],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind_of_query() -> Vec<Query> {
        vec![
            Query::Path {
                path: "/etc/motd".into(),
                content_limit: DIFF_LIMIT,
            },
            Query::Tree {
                path: "/srv/www".into(),
            },
            Query::Package {
                name: "nginx-light".into(),
                candidate: true,
            },
            Query::PackageCache,
            Query::User {
                name: "deploy".into(),
            },
            Query::Group { name: "app".into() },
            Query::Service {
                name: "nginx".into(),
            },
            Query::Guard {
                check: command::Invocation::default().wrap("test -f /srv/app/.migrated"),
                shown: "test -f /srv/app/.migrated".into(),
            },
            Query::Crontab {
                user: "deploy".into(),
            },
            Query::Sysctl {
                key: "net.ipv4.ip_forward".into(),
            },
        ]
    }

    #[test]
    fn the_probe_asks_every_question_in_one_script() {
        insta::assert_snapshot!(probe_script(&every_kind_of_query()));
    }

    /// The whole probe runs under the machine's sh and finishes, whatever
    /// this machine lacks (no such user, unit or package here).
    #[test]
    fn the_probe_runs_to_its_end() {
        let queries = every_kind_of_query();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(probe_script(&queries))
            .output()
            .unwrap();
        let lines = crate::shell::parse_lines(&String::from_utf8_lossy(&out.stdout));
        assert!(lines.complete, "{}", String::from_utf8_lossy(&out.stderr));
        let world = read_answers(&queries, &lines);
        assert!(!world.facts.arch.is_empty());
        assert!(
            world
                .guards
                .contains_key(&command::Invocation::default().wrap("test -f /srv/app/.migrated"))
        );
    }

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
