//! What the probe reports about a path, and the shell that asks.

use std::collections::BTreeSet;

use super::Query;
use crate::shell::{TaggedLines, decode, quote};

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
    pub fn from_lines(lines: &TaggedLines, tag: &str) -> PathState {
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
            .text(tag, "target")
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
    pub fn from_lines(lines: &TaggedLines, tag: &str) -> TreeState {
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
///
/// `rg_paths` answers many paths at once: one `stat` for every path that is
/// there and one `sha256sum` for every regular file, instead of a few
/// processes per path (on a small host each process costs about a
/// millisecond, and that was most of a no-op converge). `rg_paths_batch`
/// decides once, with the shell's own tests, what each path is, then prints
/// those decisions (`n` nothing, `s` stat only, `f` stat and sha256) on a
/// line, one stat record per present path and one sha256sum line per regular
/// file, in order. When a command fails (a path vanished between the test
/// and the command), every path is asked again one by one with `rg_path`.
/// Paths may hold any byte but NUL: they are never parsed back from the
/// output, which is matched to them by position.
pub const PROBE_FUNCTIONS: &str = r#"rg_path() {
  if [ -L "$2" ]; then t=link; elif [ -d "$2" ]; then t=dir; elif [ -f "$2" ]; then t=file; elif [ -e "$2" ]; then t=other; else rg_emit "$1" type absent; return 0; fi
  rg_emit "$1" type $t
  rg_emit "$1" stat "$(stat -c '%a %u %g %U %G %s' -- "$2")"
  case $t in
    link) rg_text "$1" target "$(readlink -- "$2")" ;;
    file)
      rg_emit "$1" sha256 "$(sha256sum < "$2" | cut -c1-64)"
      if [ "$3" -gt 0 ] && [ "$(stat -c %s -- "$2")" -le "$3" ]; then rg_emit "$1" content "$(rg_b64 < "$2")"; fi ;;
  esac
}
rg_paths_batch() {
  n=$# k=0 fl=
  for w do
    k=$((k + 1))
    if [ $k -eq 2 ]; then
      if [ -L "$w" ]; then fl=${fl}s; set -- "$@" "$w"
      elif [ -f "$w" ]; then fl=${fl}f; set -- "$@" "$w"
      elif [ -e "$w" ]; then fl=${fl}s; set -- "$@" "$w"
      else fl=${fl}n; fi
    elif [ $k -eq 3 ]; then k=0; fi
  done
  shift $n
  echo "$fl"
  [ $# -gt 0 ] || return 0
  stat --printf '%F|%a %u %g %U %G %s\n' -- "$@" || return 1
  n=$# rest=$fl
  for w do
    c=n
    while [ "$c" = n ]; do c=${rest%"${rest#?}"}; rest=${rest#?}; done
    [ "$c" = f ] && set -- "$@" "$w"
  done
  shift $n
  [ $# -eq 0 ] || sha256sum -- "$@" || return 1
}
rg_paths() {
  rg_o=$(rg_paths_batch "$@" 2>/dev/null) || {
    while [ $# -ge 3 ]; do rg_path "$1" "$2" "$3"; shift 3; done
    return 0
  }
  nl='
'
  rg_o="$rg_o$nl"
  fl=${rg_o%%"$nl"*} rg_s=${rg_o#*"$nl"}
  rg_h=$rg_s rest=$fl
  while [ -n "$rest" ]; do
    [ "${rest%"${rest#?}"}" = n ] || rg_h=${rg_h#*"$nl"}
    rest=${rest#?}
  done
  while [ $# -ge 3 ]; do
    c=${fl%"${fl#?}"} fl=${fl#?}
    if [ "$c" = n ]; then rg_emit "$1" type absent; shift 3; continue; fi
    st=${rg_s%%"$nl"*} rg_s=${rg_s#*"$nl"}
    case $c:${st%%|*} in
      f:*) t=file ;;
      *:directory) t=dir ;;
      *:'symbolic link') t=link ;;
      *) t=other ;;
    esac
    st=${st#*|}
    rg_emit "$1" type $t
    rg_emit "$1" stat "$st"
    case $t in
      link) rg_text "$1" target "$(readlink -- "$2")" ;;
      file)
        h=${rg_h%%"$nl"*} rg_h=${rg_h#*"$nl"}
        h=${h#\\}
        rg_emit "$1" sha256 "${h%% *}"
        if [ "$3" -gt 0 ] && [ "${st##* }" -le "$3" ]; then rg_emit "$1" content "$(rg_b64 < "$2")"; fi ;;
    esac
    shift 3
  done
}
rg_tree() {
  [ -d "$2" ] || return 0
  find "$2" -exec stat -c '%U %G %u %g' -- {} + 2>/dev/null | sort -u | head -n 50 | while read -r l; do rg_emit "$1" owner "$l"; done
  find "$2" -type d -exec stat -c '%a' -- {} + 2>/dev/null | sort -u | head -n 50 | while read -r l; do rg_emit "$1" dirmode "$l"; done
}
"#;

/// The probe line that answers every path query (`(tag, path, content
/// limit)`) at once.
pub fn probe_paths(paths: &[(String, &str, u64)]) -> String {
    if paths.is_empty() {
        return String::new();
    }
    let mut line = String::from("rg_paths");
    for (tag, path, limit) in paths {
        line.push_str(&format!(" {tag} {} {limit}", quote(path)));
    }
    line.push('\n');
    line
}

/// The probe line that answers a tree query under `tag` (paths: [`probe_paths`]).
pub fn probe(tag: &str, query: &Query) -> String {
    match query {
        Query::Tree { path } => format!("rg_tree {tag} {}\n", quote(path)),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::{PRELUDE, parse_lines};

    /// Run a script with `sh` (dash on Debian, as on the hosts).
    fn run(script: &str) -> TaggedLines {
        let out = std::process::Command::new("sh")
            .args(["-c", script])
            .output()
            .expect("sh runs");
        parse_lines(&String::from_utf8_lossy(&out.stdout))
    }

    /// Awkward paths: a newline, a backslash, a leading dash, quotes, a
    /// missing one between present ones, a link, a directory, a FIFO, an
    /// empty file and a file over the content limit.
    fn awkward(dir: &std::path::Path) -> Vec<String> {
        let names = [
            "plain",
            "two\nlines",
            "back\\slash",
            "-dash",
            "it's \"quoted\" $HOME `x`",
            "missing",
            "link",
            "dir",
            "fifo",
            "empty",
            "big",
        ];
        let p = |n: &str| dir.join(n);
        for n in ["plain", "two\nlines", "back\\slash", "-dash", names[4]] {
            std::fs::write(p(n), format!("content of {n}\n")).unwrap();
        }
        std::os::unix::fs::symlink("plain", p("link")).unwrap();
        std::fs::create_dir(p("dir")).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(p("fifo"))
                .status()
                .unwrap()
                .success()
        );
        std::fs::write(p("empty"), "").unwrap();
        std::fs::write(p("big"), "x".repeat(100)).unwrap();
        names
            .iter()
            .map(|n| p(n).to_str().unwrap().to_string())
            .collect()
    }

    fn one_by_one(paths: &[(String, &str, u64)]) -> TaggedLines {
        let mut script = format!("{PRELUDE}{PROBE_FUNCTIONS}");
        for (tag, path, limit) in paths {
            script.push_str(&format!("rg_path {tag} {} {limit}\n", quote(path)));
        }
        run(&script)
    }

    /// The batch's answers for the awkward paths, with `shell` defined after
    /// the probe's functions, and the answers asked one path at a time.
    fn answers(shell: &str) -> (TaggedLines, TaggedLines) {
        let dir = tempfile::tempdir().unwrap();
        let names = awkward(dir.path());
        let paths: Vec<(String, &str, u64)> = names
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("q{i}"), p.as_str(), 50))
            .collect();
        let batch = run(&format!(
            "{PRELUDE}{PROBE_FUNCTIONS}{shell}\n{}",
            probe_paths(&paths)
        ));
        (batch, one_by_one(&paths))
    }

    #[test]
    fn the_batch_answers_what_one_path_at_a_time_answers() {
        // One by one is not how the batch got its answers.
        let (batch, alone) = answers("rg_path() { echo '@fallback used yes'; }");
        assert_eq!(batch.get("fallback", "used"), None);
        assert_eq!(batch, alone);
        let state = |i: usize| PathState::from_lines(&batch, &format!("q{i}"));
        assert_eq!(state(1).kind, PathKind::File);
        assert_eq!(
            state(1).content.as_deref(),
            Some(&b"content of two\nlines\n"[..])
        );
        assert_eq!(state(2).sha256.as_ref().map(String::len), Some(64));
        assert_eq!(state(5).kind, PathKind::Absent);
        assert_eq!(state(6).kind, PathKind::Link);
        assert_eq!(state(6).target.as_deref(), Some("plain"));
        assert_eq!(state(7).kind, PathKind::Dir);
        assert_eq!(state(8).kind, PathKind::Other);
        assert_eq!(state(9).content.as_deref(), Some(&b""[..]));
        assert_eq!(state(10).size, Some(100));
        assert_eq!(state(10).content, None);
    }

    #[test]
    fn a_failing_batch_asks_one_path_at_a_time() {
        // A stat that fails, as when a path vanishes after the shell's test.
        let (batch, alone) =
            answers("stat() { [ \"$1\" = --printf ] && return 1; command stat \"$@\"; }");
        assert_eq!(batch, alone);
        assert_eq!(PathState::from_lines(&batch, "q0").kind, PathKind::File);
    }
}
