//! What the probe reports about a path, and the shell that asks.

use std::collections::BTreeSet;

use super::Query;
use crate::shell::{Lines, decode, quote};

/// What is at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathKind {
    /// Nothing.
    #[default]
    Absent,
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Link,
    /// Something else (a socket, a device).
    Other,
}

impl PathKind {
    /// In words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            PathKind::Absent => "nothing",
            PathKind::File => "a regular file",
            PathKind::Dir => "a directory",
            PathKind::Link => "a symlink",
            PathKind::Other => "a special file",
        }
    }
}

/// The state of one path on a host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathState {
    /// What is there.
    pub kind: PathKind,
    /// Permission bits.
    pub mode: Option<u32>,
    /// Owner's uid.
    pub uid: Option<u32>,
    /// Group's gid.
    pub gid: Option<u32>,
    /// Owner's name (or the uid when it has none).
    pub user: Option<String>,
    /// Group's name (or the gid).
    pub group: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// sha256 of a regular file's content.
    pub sha256: Option<String>,
    /// The content, when the probe brought it back.
    pub content: Option<Vec<u8>>,
    /// A symlink's target.
    pub target: Option<String>,
}

impl PathState {
    /// True when something is at the path.
    pub fn exists(&self) -> bool {
        self.kind != PathKind::Absent
    }

    /// Read the answer under `tag`.
    pub fn from_lines(lines: &Lines, tag: &str) -> PathState {
        let kind = match lines.get(tag, "type") {
            Some("file") => PathKind::File,
            Some("dir") => PathKind::Dir,
            Some("link") => PathKind::Link,
            Some("other") => PathKind::Other,
            _ => PathKind::Absent,
        };
        let mut state = PathState {
            kind,
            ..PathState::default()
        };
        if let Some(stat) = lines.get(tag, "stat") {
            let fields: Vec<&str> = stat.split(' ').collect();
            if let [mode, uid, gid, user, group, size] = fields[..] {
                state.mode = u32::from_str_radix(mode, 8).ok();
                state.uid = uid.parse().ok();
                state.gid = gid.parse().ok();
                state.user = Some(user.to_string());
                state.group = Some(group.to_string());
                state.size = size.parse().ok();
            }
        }
        state.sha256 = lines.get(tag, "sha256").map(str::to_string);
        state.content = lines.get(tag, "content").and_then(decode);
        state.target = lines
            .get(tag, "target")
            .and_then(decode)
            .map(|t| String::from_utf8_lossy(&t).into_owned());
        state
    }

    /// True when `owner` (a name or a uid) is this path's owner.
    pub fn owned_by(&self, owner: &str) -> bool {
        self.user.as_deref() == Some(owner)
            || self.uid.map(|u| u.to_string()).as_deref() == Some(owner)
    }

    /// True when `group` (a name or a gid) is this path's group.
    pub fn in_group(&self, group: &str) -> bool {
        self.group.as_deref() == Some(group)
            || self.gid.map(|g| g.to_string()).as_deref() == Some(group)
    }
}

/// Owners and directory modes below a directory (for `recursive: true`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeState {
    /// Distinct `user group uid gid` of every entry.
    pub owners: BTreeSet<String>,
    /// Distinct modes of every directory.
    pub dir_modes: BTreeSet<u32>,
}

impl TreeState {
    /// Read the answer under `tag`.
    pub fn from_lines(lines: &Lines, tag: &str) -> TreeState {
        TreeState {
            owners: lines.all(tag, "owner").iter().cloned().collect(),
            dir_modes: lines
                .all(tag, "dirmode")
                .iter()
                .filter_map(|m| u32::from_str_radix(m, 8).ok())
                .collect(),
        }
    }

    /// True when every entry has this owner (name or uid) and group.
    pub fn all_owned_by(&self, owner: Option<&str>, group: Option<&str>) -> bool {
        self.owners.iter().all(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let [user, grp, uid, gid] = fields[..] else {
                return false;
            };
            owner.is_none_or(|o| o == user || o == uid)
                && group.is_none_or(|g| g == grp || g == gid)
        })
    }
}

/// Shell functions of the probe that answer path queries.
pub const PROBE_FUNCTIONS: &str = r#"rg_path() {
  if [ -L "$2" ]; then t=link; elif [ -d "$2" ]; then t=dir; elif [ -f "$2" ]; then t=file; elif [ -e "$2" ]; then t=other; else rg_emit "$1" type absent; return 0; fi
  rg_emit "$1" type $t
  rg_emit "$1" stat "$(stat -c '%a %u %g %U %G %s' -- "$2")"
  case $t in
    link) rg_emit "$1" target "$(printf %s "$(readlink -- "$2")" | rg_b64)" ;;
    file)
      rg_emit "$1" sha256 "$(sha256sum < "$2" | cut -c1-64)"
      if [ "$3" -gt 0 ] && [ "$(stat -c %s -- "$2")" -le "$3" ]; then rg_emit "$1" content "$(rg_b64 < "$2")"; fi ;;
  esac
}
rg_tree() {
  [ -d "$2" ] || return 0
  find "$2" -exec stat -c '%U %G %u %g' -- {} + 2>/dev/null | sort -u | head -n 50 | while read -r l; do rg_emit "$1" owner "$l"; done
  find "$2" -type d -exec stat -c '%a' -- {} + 2>/dev/null | sort -u | head -n 50 | while read -r l; do rg_emit "$1" dirmode "$l"; done
}
"#;

/// The probe line that answers one query under `tag`.
pub fn probe(tag: &str, query: &Query) -> String {
    match query {
        Query::Path {
            path,
            content_limit,
        } => format!("rg_path {tag} {} {content_limit}\n", quote(path)),
        Query::Tree { path } => format!("rg_tree {tag} {}\n", quote(path)),
        _ => String::new(),
    }
}
