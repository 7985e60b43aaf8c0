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
//! this commit stays one round trip. A ledger that cannot be written (a full
//! or read-only file system) fails the host, and leaves no temporary file.
//!
//! The same folder holds the host's converge lock: every script that changes
//! the host (apply, ledger) runs under it ([`locked`]), so that two converges
//! of one host at once take turns instead of both writing what each planned
//! from the same probe. The lock is taken inside the script, in the same
//! round trip; a converge that finds it taken waits as long as another
//! converge may hold it, and gives up with a clear failure when it stays
//! taken longer. The wait does not count against the script's own
//! `command_timeout`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::shell::{TaggedLines, decode, encode, quote};
use crate::transport::{KILL_AFTER, Script, Transport, TransportError};

/// Where the ledger lives on a host.
pub const PATH: &str = "/var/lib/redgreen/state.json";

/// Where the host's record of removals lives: one JSON line per removal
/// a converge made ([`Removed`]), appended, never rewritten.
pub const REMOVED: &str = "/var/lib/redgreen/removed.jsonl";

/// Shell defining `rg_record_removal BASE64-LINE`, which appends the line
/// to [`REMOVED`]. A record that cannot be written does not undo the
/// removal; the script says so (`@ledger removal_not_recorded ...`).
pub const RECORD_REMOVAL: &str = "rg_record_removal() {\n  if ! { mkdir -p /var/lib/redgreen && printf '%s' \"$1\" | base64 -d >> /var/lib/redgreen/removed.jsonl; } 2>/dev/null; then rg_emit ledger removal_not_recorded \"$rg_tag\"; fi\n}\n";

/// One removal as the host records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Removed {
    /// When the converge that removed it started (RFC 3339, UTC).
    pub at: String,
    /// The host's name in redgreen.yml.
    pub host: String,
    /// The repository's commit.
    pub commit: Option<String>,
    /// What was removed: `user olddeploy`.
    pub removed: String,
    /// The changes, in words.
    pub changes: Vec<String>,
    /// Why (`reason:`).
    pub reason: Option<String>,
    /// Where the removal is written: `recipes/site.yml:12:5`.
    pub declared: String,
    /// What the host showed of its use when it was planned.
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// One line of [`REMOVED`]: the record as compact JSON, secrets masked.
pub fn removed_line(removed: &Removed) -> String {
    let mut value = serde_json::to_value(removed).expect("records serialize");
    crate::secrets::redact_json(&mut value);
    value.to_string()
}

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
    /// How the converge ended.
    pub result: Converged,
    /// The redgreen version that converged it.
    pub redgreen: String,
    /// The features' last result on this host, when they ran.
    #[serde(default)]
    pub features: Option<FeaturesResult>,
}

/// How the features last ended on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturesResult {
    /// How they ended.
    pub result: FeaturesEnded,
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that failed.
    pub failed: usize,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The commit the features were at.
    pub commit: Option<String>,
}

/// How a converge ended, as a ledger records it (`ok` or `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Converged {
    /// Everything applied.
    Ok,
    /// Something failed.
    Failed,
}

impl Converged {
    /// The word in the ledger.
    pub fn word(self) -> &'static str {
        match self {
            Converged::Ok => "ok",
            Converged::Failed => "failed",
        }
    }
}

impl From<&str> for Converged {
    /// The word as a ledger holds it: `ok`, anything else failed.
    fn from(word: &str) -> Self {
        if word == "ok" {
            Converged::Ok
        } else {
            Converged::Failed
        }
    }
}

impl std::fmt::Display for Converged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.word())
    }
}

/// How the features last ended on a host, as a ledger records it (`passed`
/// or `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeaturesEnded {
    /// Every scenario passed.
    Passed,
    /// A scenario failed.
    Failed,
}

impl std::fmt::Display for FeaturesEnded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            FeaturesEnded::Passed => "passed",
            FeaturesEnded::Failed => "failed",
        })
    }
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

/// The lock file that converges of a host take turns on (`flock`).
pub const LOCK: &str = "/var/lib/redgreen/converge.lock";

/// Shell defining `rg_lock WAIT`: open the lock file on fd 9 and take the
/// lock (`flock`), waiting up to WAIT seconds. It prints `@lock waited N`
/// when it had to wait; when the lock stays taken, or the file cannot be
/// opened, it prints `@lock busy WAIT` or `@lock failed BASE64-ERROR` and
/// ends the script (`@end`) before anything is changed. The lock is held
/// until the script ends (every snippet runs with fd 9 closed, so that
/// nothing it leaves running holds it). A host without `flock` is not
/// locked (`@lock unavailable`).
const LOCK_FUNCTION: &str = r#"rg_lock() {
  if ! rg_le=$(mkdir -p /var/lib/redgreen 2>&1 && (: >>/var/lib/redgreen/converge.lock) 2>&1); then
    printf '@lock failed %s
' "$(printf '%s' "$rg_le" | rg_b64)"; echo @end; exit 0
  fi
  exec 9>>/var/lib/redgreen/converge.lock
  if ! command -v flock >/dev/null 2>&1; then rg_emit lock unavailable; return 0; fi
  if flock -n 9; then return 0; fi
  rg_lw=$(date +%s)
  if flock -w "$1" 9; then rg_emit lock waited "$(( $(date +%s) - rg_lw ))"; return 0; fi
  rg_emit lock busy "$1"; echo @end; exit 0
}
"#;

/// What the converge lock said in a script's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lock {
    /// Taken (after waiting this many seconds for another converge).
    Taken {
        /// Seconds waited, when another converge held it.
        waited: Option<u64>,
    },
    /// Another converge held it for this many seconds: nothing was changed.
    Busy(u64),
    /// The lock file could not be opened: nothing was changed.
    Failed(String),
    /// The host has no `flock`: not locked.
    Unavailable,
}

impl Lock {
    /// The lock as a script's output reports it.
    pub fn of(lines: &TaggedLines) -> Lock {
        if let Some(wait) = lines.get("lock", "busy") {
            return Lock::Busy(wait.parse().unwrap_or(0));
        }
        if let Some(error) = lines.get("lock", "failed") {
            return Lock::Failed(decoded(error));
        }
        if lines.get("lock", "unavailable").is_some() {
            return Lock::Unavailable;
        }
        Lock::Taken {
            waited: lines.get("lock", "waited").and_then(|w| w.parse().ok()),
        }
    }

    /// Why nothing was changed, when the lock was not taken.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Lock::Busy(wait) => Some(format!(
                "another converge of this host held its lock ({LOCK}) for {wait}s, longer than a converge with this command_timeout takes; nothing was changed; run again once it is done"
            )),
            Lock::Failed(error) => Some(format!(
                "cannot open the converge lock {LOCK}: {error}; nothing was changed"
            )),
            Lock::Taken { .. } | Lock::Unavailable => None,
        }
    }

    /// What is worth a note, when the lock was taken.
    pub fn note(&self) -> Option<String> {
        match self {
            Lock::Taken { waited: Some(seconds) } => Some(format!(
                "waited {seconds}s for another converge of this host to finish (it held {LOCK})"
            )),
            Lock::Unavailable => Some(
                "this host has no flock (util-linux): two converges of it at once are not kept apart"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// How long a converge waits for another one's lock: as long as another
/// converge with the same `command_timeout` may hold it (its script's time,
/// and the time its host gives it to stop).
pub fn lock_wait(command_timeout: Duration) -> u64 {
    command_timeout.as_secs().max(1) + KILL_AFTER.as_secs()
}

/// How long a script made by [`locked`] may take in all: the wait for the
/// lock, then its own `command_timeout`.
pub fn locked_timeout(command_timeout: Duration) -> Duration {
    Duration::from_secs(lock_wait(command_timeout)) + command_timeout + KILL_AFTER
}

/// `body` (a whole script) under the host's converge lock: take the lock,
/// waiting [`lock_wait`], then run `body` in a shell of its own (from a
/// here-document) that the host stops after `command_timeout`, so that the
/// wait does not shorten the time the changes may take. Its exit status is
/// the body's (124 when the host stopped it).
pub fn locked(body: &str, command_timeout: Duration) -> String {
    // A delimiter that no line of the body is.
    let mut delimiter = String::from("RG_LOCKED");
    while body.lines().any(|line| line == delimiter) {
        delimiter.push('_');
    }
    format!(
        "{prelude}{LOCK_FUNCTION}rg_lock {wait}\nexec timeout -k {kill} {timeout} sh -s <<'{delimiter}'\n{body}{newline}{delimiter}\n",
        prelude = crate::shell::PRELUDE,
        wait = lock_wait(command_timeout),
        kill = KILL_AFTER.as_secs(),
        timeout = command_timeout.as_secs().max(1),
        newline = if body.ends_with('\n') { "" } else { "\n" },
    )
}

/// Why the ledger could not be written, if the script said so.
pub fn write_failure(lines: &TaggedLines) -> Option<String> {
    lines
        .get("ledger", "failed")
        .map(|error| format!("the ledger {PATH} could not be written: {}", decoded(error)))
}

fn decoded(value: &str) -> String {
    decode(value)
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "(no message)".into())
}

/// The probe lines that bring the ledger back (under tag `ledger`), and
/// make `rg_b64` one process where base64 can leave its output unwrapped
/// (GNU's `-w0`), not two: the ledger's own encoding is the test, so a
/// host that has one starts no process to find out.
pub const PROBE: &str = r#"if [ -r /var/lib/redgreen/state.json ] && rg_l=$(base64 -w0 2>/dev/null < /var/lib/redgreen/state.json); then
  rg_b64() { base64 -w0; }
  rg_emit ledger content "$rg_l"
else
  if base64 -w0 </dev/null >/dev/null 2>&1; then rg_b64() { base64 -w0; }; fi
  if [ -r /var/lib/redgreen/state.json ]; then rg_emit ledger content "$(rg_b64 < /var/lib/redgreen/state.json)"; fi
fi
"#;

/// The ledger the probe found, if any (a ledger that does not parse counts as none).
pub fn read(lines: &TaggedLines) -> Option<Ledger> {
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
                || recorded.result != Converged::Ok
        }
    }
}

/// Shell defining `rg_ledger ok|failed`, which writes the ledger with that
/// result through a temporary file renamed into place. The features' last
/// result is kept from the recorded ledger. When anything of it fails (a
/// full file system), the temporary file is removed and the script prints
/// `@ledger failed BASE64-ERROR`.
pub fn write_function(wanted: &Ledger) -> String {
    let json = |result: Converged| {
        let mut ledger = wanted.clone();
        ledger.result = result;
        encode(&serde_json::to_vec_pretty(&ledger).expect("ledgers serialize"))
    };
    format!(
        "rg_ledger() {{\n\
         \x20 case $1 in ok) rg_l={ok} ;; *) rg_l={failed} ;; esac\n\
         \x20 if ! rg_le=$( {{ mkdir -p /var/lib/redgreen && rg_lt=$(mktemp /var/lib/redgreen/.state.XXXXXX) && \
         {{ printf %s \"$rg_l\" | base64 -d > \"$rg_lt\" && chmod 0644 \"$rg_lt\" && mv -f \"$rg_lt\" {path} || {{ rm -f \"$rg_lt\"; false; }}; }}; }} 2>&1 ); then\n\
         \x20   printf '@ledger failed %s\\n' \"$(printf '%s' \"$rg_le\" | rg_b64)\"\n\
         \x20 fi\n\
         }}\n",
        ok = quote(&json(Converged::Ok)),
        failed = quote(&json(Converged::Failed)),
        path = quote(PATH),
    )
}

/// What the ledger of a host will say once this converge is done with it:
/// the repository's revision, the recipes, now, and the features' last
/// result kept from the `recorded` one.
pub fn wanted(
    host: &str,
    revision: &Revision,
    recipes: &[String],
    recorded: Option<&Ledger>,
) -> Ledger {
    Ledger {
        host: host.to_string(),
        commit: revision.commit.clone(),
        dirty: revision.dirty,
        recipes: recipes.to_vec(),
        converged_at: now(),
        result: Converged::Ok,
        redgreen: env!("CARGO_PKG_VERSION").into(),
        features: recorded.and_then(|l| l.features.clone()),
    }
}

/// What a script that only writes a ledger did.
pub struct Written {
    /// What the converge lock said.
    pub lock: Lock,
    /// Why the ledger was not written, when the script said so (the lock
    /// was not taken, the file could not be written).
    pub failure: Option<String>,
    /// Whether the script ran to its end.
    pub complete: bool,
    /// Its exit status.
    pub status: i32,
    /// Its error output, trimmed.
    pub stderr: String,
}

/// Write `wanted` on the host, alone, under the converge lock (one round
/// trip).
pub async fn write(
    transport: &dyn Transport,
    wanted: &Ledger,
    command_timeout: Duration,
) -> Result<Written, TransportError> {
    let output = transport
        .run(
            &Script::root(write_script(wanted, command_timeout))
                .with_timeout(locked_timeout(command_timeout)),
        )
        .await?;
    let lines = crate::shell::parse_lines(&output.stdout_text());
    let lock = Lock::of(&lines);
    Ok(Written {
        failure: lock.refusal().or_else(|| write_failure(&lines)),
        lock,
        complete: lines.complete,
        status: output.status,
        stderr: output.stderr_text().trim().to_string(),
    })
}

/// A whole script that only writes the ledger (a converge that changes
/// nothing but records a new commit, or the features' result), under the
/// converge lock; it may take [`locked_timeout`].
pub fn write_script(wanted: &Ledger, command_timeout: Duration) -> String {
    let body = format!(
        "{}{}rg_ledger {}\necho @end\n",
        crate::shell::PRELUDE,
        write_function(wanted),
        wanted.result.word()
    );
    locked(&body, command_timeout)
}

/// Write `ledger` on `target`, in a connection of its own.
pub async fn record(
    target: &crate::transport::Target,
    ledger: &Ledger,
    timeout: Duration,
) -> Result<(), String> {
    let transport = crate::transport::connect(target)
        .await
        .map_err(|e| e.to_string())?;
    let written = write(transport.as_ref(), ledger, timeout).await;
    transport.close().await;
    let written = written.map_err(|e| e.to_string())?;
    match written.failure {
        Some(failure) => Err(failure),
        None if written.complete => Ok(()),
        None => Err(written.stderr),
    }
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

    fn sh(script: &str) -> TaggedLines {
        let out = std::process::Command::new("sh")
            .args(["-c", script])
            .output()
            .unwrap();
        crate::shell::parse_lines(&String::from_utf8_lossy(&out.stdout))
    }

    #[test]
    fn a_ledger_that_cannot_be_written_says_why_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The temporary file is made, then the rename fails (no such folder).
        let function = write_function(&ledger(Some("abc"), "ok"))
            .replace(
                &quote(PATH),
                &quote(&format!("{}/gone/state.json", dir.path().display())),
            )
            .replace("/var/lib/redgreen", &dir.path().display().to_string());
        let lines = sh(&format!(
            "{}{function}rg_ledger ok\necho @end\n",
            crate::shell::PRELUDE
        ));
        let failure = write_failure(&lines).expect("the failure is reported");
        assert!(failure.contains("could not be written"), "{failure}");
        assert!(failure.contains("No such file or directory"), "{failure}");
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 0, "no temporary file is left");
    }

    #[test]
    fn the_lock_waits_then_gives_up_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        // command_timeout 1: the wait is 6 s.
        let script = locked("echo @ran ran yes\necho @end\n", Duration::from_secs(1))
            .replace("/var/lib/redgreen", &dir.path().display().to_string());
        let free = sh(&script);
        assert_eq!(Lock::of(&free), Lock::Taken { waited: None });
        assert!(free.get("ran", "ran").is_some());
        // Another holder keeps the lock for longer than the wait.
        let holder = Guard(
            std::process::Command::new("flock")
                .arg(dir.path().join("converge.lock"))
                .args(["sleep", "30"])
                .spawn()
                .unwrap(),
        );
        while !dir.path().join("converge.lock").exists() {
            std::thread::yield_now();
        }
        // flock takes the lock right after creating the file.
        let busy = loop {
            let lines = sh(&script);
            if Lock::of(&lines) != (Lock::Taken { waited: None }) {
                break lines;
            }
        };
        assert_eq!(Lock::of(&busy), Lock::Busy(6));
        assert!(busy.complete);
        assert!(busy.get("ran", "ran").is_none(), "nothing ran");
        assert!(
            Lock::of(&busy)
                .refusal()
                .unwrap()
                .contains("nothing was changed")
        );
        drop(holder);
    }

    /// Kill a child process also when the test fails.
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_locked_script_runs_its_body_under_its_own_timeout() {
        let dir = tempfile::tempdir().unwrap();
        // A line that looks like the here-document's end does not end it.
        let body = format!(
            "{}rg_emit body ran yes\necho 'RG_LOCKED\nRG_LOCKED_'\nsleep 30\necho @end\n",
            crate::shell::PRELUDE
        );
        let script = locked(&body, Duration::from_secs(1))
            .replace("/var/lib/redgreen", &dir.path().display().to_string());
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let lines = crate::shell::parse_lines(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(lines.get("body", "ran"), Some("yes"));
        assert!(!lines.complete, "stopped before its end");
        assert_eq!(out.status.code(), Some(crate::transport::TIMED_OUT));
    }

    #[test]
    fn short_commits() {
        assert_eq!(short(Some("abcdef0123456"), false), "abcdef0");
        assert_eq!(short(Some("abcdef0123456"), true), "abcdef0+dirty");
        assert_eq!(short(None, false), "(no git)");
    }

    /// The ledger comes back whole whatever base64 the host has; with GNU's
    /// its encoding is also the test of `-w0`: one base64 for it, no other.
    #[test]
    fn the_ledger_comes_back_whole_and_its_encoding_tests_base64() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let wanted = serde_json::to_vec_pretty(&ledger(Some("abc"), "ok")).unwrap();
        std::fs::write(&path, &wanted).unwrap();
        let real = which::which("base64").unwrap();
        let calls = dir.path().join("calls");
        let run = |base64: &str, ledger: &std::path::Path| {
            let bin = dir.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            let tool = bin.join("base64");
            std::fs::write(
                &tool,
                format!("#!/bin/sh\necho \"$*\" >> {}\n{base64}\n", calls.display()),
            )
            .unwrap();
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
            let _ = std::fs::remove_file(&calls);
            let script = format!(
                "{}{}rg_emit probe b64 \"$(printf 'x%.0s' $(seq 100) | rg_b64)\"\n",
                crate::shell::PRELUDE,
                PROBE.replace(PATH, &ledger.display().to_string())
            );
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .output()
                .unwrap();
            let lines = crate::shell::parse_lines(&String::from_utf8_lossy(&out.stdout));
            let calls = std::fs::read_to_string(&calls).unwrap_or_default();
            (
                read(&lines),
                lines.get("probe", "b64").map(str::to_string),
                calls,
            )
        };
        let hundred = crate::shell::encode(&[b'x'; 100]);
        let gnu = format!("exec {} \"$@\"", real.display());
        let (found, b64, calls) = run(&gnu, &path);
        assert_eq!(found, Some(ledger(Some("abc"), "ok")));
        assert_eq!(b64.as_deref(), Some(hundred.as_str()));
        assert_eq!(
            calls, "-w0\n-w0\n",
            "one base64 for the ledger, one for the answer"
        );
        let (found, _, calls) = run(&gnu, &dir.path().join("none.json"));
        assert_eq!(found, None);
        assert_eq!(calls, "-w0\n-w0\n", "no ledger: the test, then the answer");
        // A base64 without -w: lines joined by tr.
        let other = format!(
            "case $1 in -w*) echo 'base64: unknown option' >&2; exit 1 ;; esac\nexec {}",
            real.display()
        );
        let (found, b64, _) = run(&other, &path);
        assert_eq!(found, Some(ledger(Some("abc"), "ok")));
        assert_eq!(b64.as_deref(), Some(hundred.as_str()));
    }
}
