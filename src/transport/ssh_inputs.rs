//! Everything `ssh -G`'s answer depends on, hashed, so that a kept
//! connection's answer can be read back instead of asked again: `ssh -G` is
//! a process of about 4 ms of CPU per host, most of a warm command's work on
//! the controller.
//!
//! `ssh -G` reads its command line, the ssh binary's defaults, the ssh_config
//! files (the one `-F` names, else the user's `~/.ssh/config` and
//! `/etc/ssh/ssh_config`) with every file they `Include`, and the local user,
//! home and host name (for `%` tokens). Nothing else, unless a file uses what
//! is looked up when ssh runs: `Match` (`exec`, `localnetwork`, `canonical`,
//! ...), hostname canonicalization (DNS) or `${VARIABLE}` (the environment).
//! [`key`] hashes all of it: each file's path, type, owner, mode (ssh refuses a
//! user config others can write) and content, and for each `Include` the
//! files its pattern matches now. It gives no key, and ssh is asked, where a
//! file uses one of those or anything this reading does not follow exactly
//! (quotes, escapes, `[` or `{` in a pattern, includes nested too deep).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::Digest;

/// ssh's limit on nested Includes (READCONF_MAX_DEPTH).
const MAX_DEPTH: usize = 16;

/// The system-wide ssh_config ssh reads when no `-F` is given.
const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

/// A name for what `ssh ARGS` reads to answer `-G` (`args` without `-G`;
/// `config` is the file given with `-F`, if any), or `None` when the answer
/// may depend on more than that.
pub(super) fn key(args: &[OsString], config: Option<&Path>) -> Option<String> {
    let mut hash = sha2::Sha256::new();
    hash.update(b"redgreen ssh -G 1\0");
    for arg in args {
        hash.update(arg.as_bytes());
        hash.update([0]);
    }
    // The binary (its version's defaults), the user and the host name.
    let ssh = which::which("ssh").ok()?;
    let binary = std::fs::metadata(&ssh).ok()?;
    hash.update(ssh.as_os_str().as_bytes());
    for part in [binary.dev(), binary.ino(), binary.size()] {
        hash.update(part.to_le_bytes());
    }
    for part in [binary.mtime(), binary.mtime_nsec()] {
        hash.update(part.to_le_bytes());
    }
    let user = nix::unistd::User::from_uid(nix::unistd::getuid()).ok()??;
    let host = nix::unistd::gethostname().ok()?;
    hash.update(format!("\0{}\0{}\0", user.uid, user.name));
    hash.update(user.dir.as_os_str().as_bytes());
    hash.update([0]);
    hash.update(host.as_bytes());
    hash.update([0]);
    let mut reading = Reading {
        hash,
        home: user.dir,
    };
    match config {
        Some(path) if path == Path::new("none") => {}
        Some(path) => reading.file(path, Scope::User, 0)?,
        None => {
            let user_config = reading.home.join(".ssh/config");
            reading.file(&user_config, Scope::User, 0)?;
            reading.file(Path::new(SYSTEM_CONFIG), Scope::System, 0)?;
        }
    }
    Some(name_of(reading.hash))
}

/// Where a file's relative Includes are: `~/.ssh` for the user's
/// configuration (and the file `-F` names), `/etc/ssh` for the system's.
#[derive(Clone, Copy)]
enum Scope {
    User,
    System,
}

struct Reading {
    hash: sha2::Sha256,
    home: PathBuf,
}

impl Reading {
    /// Hash the file at `path` (or that there is none) and what it includes;
    /// `None` when ssh's answer could depend on more.
    fn file(&mut self, path: &Path, scope: Scope, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.hash.update(b"file\0");
        self.hash.update(path.as_os_str().as_bytes());
        self.hash.update([0]);
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.hash.update(b"none\0");
                return Some(());
            }
            Err(_) => return None,
        };
        if !meta.is_file() {
            return None;
        }
        self.hash.update(meta.uid().to_le_bytes());
        self.hash.update(meta.mode().to_le_bytes());
        let content = std::fs::read(path).ok()?;
        self.hash.update(sha2::Sha256::digest(&content));
        let text = String::from_utf8(content).ok()?;
        if text.contains("${") {
            return None;
        }
        for line in text.lines() {
            let line = line.trim_start_matches([' ', '\t', '\r', '\x0c']);
            let end = line.find([' ', '\t', '\r', '=']).unwrap_or(line.len());
            let keyword = line[..end].to_ascii_lowercase();
            if keyword.is_empty() || keyword.starts_with('#') {
                continue;
            }
            if keyword.contains(['"', '\'', '\\']) {
                return None;
            }
            if keyword == "match" || keyword.starts_with("canonical") {
                return None;
            }
            if keyword == "include" {
                self.include(&line[end..], scope, depth)?;
            }
        }
        Some(())
    }

    /// Hash the files an `Include` line's patterns (`rest`, after the
    /// keyword) match now, and what they include in turn.
    fn include(&mut self, rest: &str, scope: Scope, depth: usize) -> Option<()> {
        let rest = rest.trim_start_matches([' ', '\t', '=']);
        if rest.contains(['"', '\'', '\\', '%', '$', '[', '{']) {
            return None;
        }
        for pattern in rest.split_whitespace() {
            let pattern = if let Some(tail) = pattern.strip_prefix("~/") {
                self.home.join(tail)
            } else if pattern.starts_with('~') {
                return None;
            } else if pattern.starts_with('/') {
                PathBuf::from(pattern)
            } else {
                match scope {
                    Scope::User => self.home.join(".ssh").join(pattern),
                    Scope::System => Path::new("/etc/ssh").join(pattern),
                }
            };
            self.hash.update(b"include\0");
            self.hash.update(pattern.as_os_str().as_bytes());
            self.hash.update([0]);
            // glob(3) leaves files whose names start with a dot to patterns
            // that name the dot; these options match them too: more files
            // in the hash, never fewer.
            let options = glob::MatchOptions {
                case_sensitive: true,
                require_literal_separator: true,
                require_literal_leading_dot: false,
            };
            let matches = glob::glob_with(pattern.to_str()?, options).ok()?;
            for found in matches {
                self.file(&found.ok()?, scope, depth + 1)?;
            }
        }
        Some(())
    }
}

/// A name for what `hash` has read: its first 16 bytes, in hex (the names
/// of kept connections and of ssh's kept answers).
pub(super) fn name_of(hash: sha2::Sha256) -> String {
    use sha2::Digest;
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key for `-F config` and a fixed destination.
    fn key_of(config: &Path) -> Option<String> {
        key(&["-F".into(), config.into(), "web".into()], Some(config))
    }

    #[test]
    fn a_change_to_any_file_ssh_reads_changes_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let included = dir.path().join("conf.d");
        std::fs::create_dir(&included).unwrap();
        std::fs::write(
            &config,
            format!(
                "Host web\n  Port 2222\n\n  Include {}/*.conf\n",
                included.display()
            ),
        )
        .unwrap();
        let first = key_of(&config).expect("a plain config has a key");
        assert_eq!(key_of(&config), Some(first.clone()), "the same inputs");

        // A file that the Include's pattern matches from now on.
        std::fs::write(included.join("a.conf"), "Host web\n  User deploy\n").unwrap();
        let second = key_of(&config).unwrap();
        assert_ne!(first, second);
        // Its content.
        std::fs::write(included.join("a.conf"), "Host web\n  User admin\n").unwrap();
        let third = key_of(&config).unwrap();
        assert_ne!(second, third);
        // A file the pattern does not match changes nothing.
        std::fs::write(included.join("a.txt"), "Host web\n  User x\n").unwrap();
        assert_eq!(key_of(&config), Some(third.clone()));
        // The mode (ssh refuses a user config that others can write).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_ne!(key_of(&config), Some(third));
        // The command line.
        assert_ne!(
            key(
                &["-F".into(), config.clone().into(), "db".into()],
                Some(&config)
            ),
            key_of(&config)
        );
    }

    #[test]
    fn what_ssh_looks_up_when_it_runs_gives_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let included = dir.path().join("more.conf");
        let cases = [
            "Match exec \"test -e /tmp/x\"\n  User a\n",
            "  match host web\n",
            "MATCH=all\n",
            "CanonicalizeHostname yes\n",
            "Host web\n  IdentityFile ${HOME}/key\n",
            "\"Match\" all\n",
            "Include \"/etc/ssh/a b.conf\"\n",
            "Include /etc/ssh/conf.d/[ab].conf\n",
            "Include ~other/.ssh/config\n",
            "Include /etc/%h.conf\n",
        ];
        for case in cases {
            std::fs::write(&config, case).unwrap();
            assert_eq!(key_of(&config), None, "{case:?}");
        }
        // Also in a file it includes.
        std::fs::write(&included, "Match all\n").unwrap();
        std::fs::write(&config, format!("Include {}\n", included.display())).unwrap();
        assert_eq!(key_of(&config), None);
        // A file that includes itself: deeper than ssh goes.
        std::fs::write(&included, format!("Include {}\n", included.display())).unwrap();
        assert_eq!(key_of(&config), None);
        // Comments and words that only start like them do not count.
        std::fs::write(
            &config,
            "# Match exec x\nHost matcher\n  HostName canonical.example\n",
        )
        .unwrap();
        assert!(key_of(&config).is_some());
    }
}
