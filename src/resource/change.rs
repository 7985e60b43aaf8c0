//! What a resource decided for one host ([`Decision`]) and what it changes,
//! for people ([`Change`]).

use serde::{Deserialize, Serialize};

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
