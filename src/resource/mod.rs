//! Resource types as pure functions: what to ask the host ([`Query`]), what
//! must change given the answers ([`Change`]), and the shell snippet that makes
//! the change ([`Decision::Apply`]).
//!
//! A resource never runs anything. The engine gathers the queries of every
//! resource of a host into one probe script (one round trip), plans every
//! resource locally, and sends every apply snippet in one more script.
//! Each apply snippet re-checks its own condition on the host just before it
//! acts, and prints `@TAG changed WHAT` for what it did.

mod attrs;
pub mod directory;
pub mod facts;
pub mod file;
pub mod line;
pub mod link;
pub mod path;
pub mod template;

use std::collections::BTreeMap;
use std::path::Path as FsPath;

use serde::Serialize;
use serde_json::Value;

pub use facts::Facts;
pub use path::{PathKind, PathState};

use crate::config::{Diag, PlannedResource};
use crate::recipe::{Kind, Spec};
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
}

impl World {
    /// The expected state of `path` (absent if the probe did not ask).
    pub fn path(&self, path: &str) -> PathState {
        self.paths.get(path).cloned().unwrap_or_default()
    }
}

/// What a resource needs to change on a host, for people to read.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A value that is set where there was none reads "mode 0644".
        let from = |v: &Option<String>| v.as_ref().map(|v| format!("{v} → ")).unwrap_or_default();
        match self {
            Change::Create { what } => write!(f, "create {what}"),
            Change::Remove { what } => write!(f, "remove {what}"),
            Change::Content { diff, .. } => match diff {
                Some(diff) => {
                    let (added, removed) = diff_counts(diff);
                    write!(f, "content (+{added} -{removed})")
                }
                None => write!(f, "content"),
            },
            Change::Mode { from: a, to } => write!(f, "mode {}{to}", from(a)),
            Change::Owner { from: a, to } => write!(f, "owner {}{to}", from(a)),
            Change::Group { from: a, to } => write!(f, "group {}{to}", from(a)),
            Change::Target { from: a, to } => write!(f, "target {}{to}", from(a)),
            Change::Note { text } => f.write_str(text),
        }
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

    /// Render an inline string of this resource (content, targets, values).
    pub fn render(&self, text: &crate::recipe::Text) -> Result<String, Diag> {
        let place = crate::config::yaml::place_of(&self.planned.recipe.source, text.referenced);
        self.templates
            .render_inline(&text.value, self.context, &place)
    }
}

/// The questions a resource asks the probe.
pub fn queries(planned: &PlannedResource<'_>, want_diff: bool) -> Vec<Query> {
    let name = || planned.names[0].clone();
    let content_limit = if want_diff { DIFF_LIMIT } else { 0 };
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
        _ => Vec::new(),
    }
}

/// Decide what a resource must change, given the world so far, and update the
/// world to what it will be after the change.
pub fn plan(input: &PlanInput<'_>, world: &mut World) -> Result<Decision, Diag> {
    match &input.planned.resource.value.spec {
        Spec::File(spec) => file::plan(input, spec, world),
        Spec::Template(spec) => template::plan(input, spec, world),
        Spec::Directory(spec) => directory::plan(input, spec, world),
        Spec::Link(spec) => link::plan(input, spec, world),
        Spec::Line(spec) => line::plan(input, spec, world),
        other => {
            let kind = other.kind().map_or("unknown", Kind::as_str);
            Err(Diag::at(
                input.planned.place(),
                format!("the {kind} resource is not supported by this version of redgreen yet"),
            )
            .label("not supported yet")
            .help("supported types: file, template, directory, link, line"))
        }
    }
}

/// The shell text of the probe: the prelude, the facts, and every query.
pub fn probe_script(queries: &[Query]) -> String {
    let mut script = String::from(crate::shell::PRELUDE);
    script.push_str(path::PROBE_FUNCTIONS);
    // The script arrives on stdin: nothing in it may read stdin.
    script.push_str("{\n");
    script.push_str(facts::PROBE);
    for (index, query) in queries.iter().enumerate() {
        script.push_str(&path::probe(&format!("q{index}"), query));
    }
    script.push_str("} </dev/null\necho @end\n");
    script
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
        }
    }
    world
}

/// Merge duplicate queries (the same path asked by several resources), keeping
/// the largest content limit.
pub fn dedup_queries(queries: Vec<Query>) -> Vec<Query> {
    let mut paths: BTreeMap<String, u64> = BTreeMap::new();
    let mut trees: Vec<String> = Vec::new();
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
    out
}
