//! The ledger: what was last converged on a host, kept on the host itself in
//! `/var/lib/redgreen/state.json` (the repository's git commit and whether
//! the working tree was dirty, the recipes, the time, the result, redgreen's
//! version, and the features' last result), so that `redgreen status` shows
//! the commit deployed to every host at a glance.
//!
//! The probe reads the ledger in its round trip. A converge that applies
//! anything writes it at the end of the apply script (with the result). A
//! converge that applies nothing writes it only when the recorded commit,
//! dirtiness or result differ, so that a no-op converge of a host already on
//! this commit stays one round trip.

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::shell::{Lines, decode, encode, quote};

/// Where the ledger lives on a host.
pub const PATH: &str = "/var/lib/redgreen/state.json";

/// The ledger of one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// The host's name in redgreen.yml when it was converged.
    pub host: String,
    /// The repository's commit (`git rev-parse HEAD`), if it is a git repository.
    pub commit: Option<String>,
    /// Whether the working tree had uncommitted changes.
    pub dirty: bool,
    /// The recipes applied, in order.
    pub recipes: Vec<String>,
    /// When (RFC 3339, UTC).
    pub converged_at: String,
    /// ok or failed.
    pub result: String,
    /// The redgreen version that converged it.
    pub redgreen: String,
    /// The features' last result on this host, when they ran.
    #[serde(default)]
    pub features: Option<FeaturesResult>,
}

/// How the features last ended on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturesResult {
    /// passed or failed.
    pub result: String,
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that failed.
    pub failed: usize,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The commit the features were at.
    pub commit: Option<String>,
}

/// Where the repository is: its commit and whether the tree is dirty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revision {
    /// `git rev-parse HEAD`, None outside a git repository.
    pub commit: Option<String>,
    /// Uncommitted changes to tracked or untracked files.
    pub dirty: bool,
}

impl Revision {
    /// The revision of the repository holding `root`.
    pub fn of(root: &Path) -> Revision {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        match git(&["rev-parse", "HEAD"]) {
            Some(commit) if !commit.is_empty() => Revision {
                commit: Some(commit),
                dirty: git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty()),
            },
            _ => Revision::default(),
        }
    }

    /// The short commit (and `+dirty`) for people.
    pub fn short(&self) -> String {
        short(self.commit.as_deref(), self.dirty)
    }
}

/// `abc1234`, `abc1234+dirty`, or `(no git)`.
pub fn short(commit: Option<&str>, dirty: bool) -> String {
    match commit {
        Some(commit) => format!(
            "{}{}",
            &commit[..commit.len().min(7)],
            if dirty { "+dirty" } else { "" }
        ),
        None => "(no git)".into(),
    }
}

/// The current time, RFC 3339 in UTC.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The probe line that brings the ledger back (under tag `ledger`).
pub const PROBE: &str = "if [ -r /var/lib/redgreen/state.json ]; then rg_emit ledger content \"$(rg_b64 < /var/lib/redgreen/state.json)\"; fi\n";

/// The ledger the probe found, if any (a ledger that does not parse counts as none).
pub fn read(lines: &Lines) -> Option<Ledger> {
    let content = decode(lines.get("ledger", "content")?)?;
    serde_json::from_slice(&content).ok()
}

/// Whether a converge that applies nothing must still write `wanted`: the
/// recorded commit, dirtiness or result differ (or there is no ledger).
pub fn needs_write(recorded: Option<&Ledger>, wanted: &Ledger) -> bool {
    match recorded {
        None => true,
        Some(recorded) => {
            recorded.commit != wanted.commit
                || recorded.dirty != wanted.dirty
                || recorded.result != "ok"
        }
    }
}

/// Shell defining `rg_ledger ok|failed`, which writes the ledger with that
/// result through a temporary file renamed into place. The features' last
/// result is kept from the recorded ledger.
pub fn write_function(wanted: &Ledger) -> String {
    let json = |result: &str| {
        let mut ledger = wanted.clone();
        ledger.result = result.into();
        encode(&serde_json::to_vec_pretty(&ledger).expect("ledgers serialize"))
    };
    format!(
        "rg_ledger() {{\n\
         \x20 case $1 in ok) rg_l={ok} ;; *) rg_l={failed} ;; esac\n\
         \x20 mkdir -p /var/lib/redgreen\n\
         \x20 rg_lt=$(mktemp /var/lib/redgreen/.state.XXXXXX)\n\
         \x20 printf %s \"$rg_l\" | base64 -d > \"$rg_lt\" && chmod 0644 \"$rg_lt\" && mv -f \"$rg_lt\" {path}\n\
         }}\n",
        ok = quote(&json("ok")),
        failed = quote(&json("failed")),
        path = quote(PATH),
    )
}

/// A whole script that only writes the ledger (a converge that changes
/// nothing but records a new commit).
pub fn write_script(wanted: &Ledger) -> String {
    format!(
        "{}{}rg_ledger {}\necho @end\n",
        crate::shell::PRELUDE,
        write_function(wanted),
        if wanted.result == "ok" {
            "ok"
        } else {
            "failed"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(commit: Option<&str>, result: &str) -> Ledger {
        Ledger {
            host: "web1".into(),
            commit: commit.map(String::from),
            dirty: false,
            recipes: vec!["base".into()],
            converged_at: "2026-11-26T07:00:00Z".into(),
            result: result.into(),
            redgreen: "0.1.0".into(),
            features: None,
        }
    }

    #[test]
    fn a_recorded_commit_needs_no_write() {
        let wanted = ledger(Some("abc"), "ok");
        let mut recorded = ledger(Some("abc"), "ok");
        recorded.converged_at = "2026-01-01T00:00:00Z".into();
        recorded.recipes = vec!["other".into()];
        assert!(!needs_write(Some(&recorded), &wanted));
        assert!(needs_write(Some(&ledger(Some("def"), "ok")), &wanted));
        assert!(needs_write(Some(&ledger(Some("abc"), "failed")), &wanted));
        assert!(needs_write(None, &wanted));
    }

    #[test]
    fn the_write_function_writes_json_through_a_temporary_file() {
        let function = write_function(&ledger(Some("abc1234def"), "ok"));
        assert!(function.contains("mktemp /var/lib/redgreen/.state.XXXXXX"));
        assert!(function.contains("mv -f \"$rg_lt\" '/var/lib/redgreen/state.json'"));
    }

    #[test]
    fn short_commits() {
        assert_eq!(short(Some("abcdef0123456"), false), "abcdef0");
        assert_eq!(short(Some("abcdef0123456"), true), "abcdef0+dirty");
        assert_eq!(short(None, false), "(no git)");
    }
}
