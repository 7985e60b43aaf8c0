//! Evidence of use: what a host shows about whether the thing a removal
//! removes is still used. Asked in the probe's round trip, only for
//! resources that remove something ([`super::removal`]).

/// The paths a resource names, as subjects: what a file, directory, link
/// or template removes.
pub fn paths(input: &super::QueryInput<'_>) -> Vec<Subject> {
    input
        .planned
        .names
        .iter()
        .map(|n| Subject::Path(n.clone()))
        .collect()
}

/// What a removal removes, as the evidence of its use is asked about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// A file, directory or link.
    Path(String),
    /// A user account.
    User(String),
    /// A group.
    Group(String),
    /// An OS package.
    Package(String),
    /// A cron entry: whose crontab, and its command.
    Cron {
        /// Whose crontab.
        user: String,
        /// The command it runs.
        run: String,
    },
}

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::shell::{TaggedLines, quote};

/// How long `unused_for` looks back when a removal does not say: what the
/// probe counts as recent for a user's files.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// One thing the host shows about the use of what a removal removes. Each
/// has a `what` that stays the same from one probe to the next (`logged in
/// now`, `last login`), so that a saved plan's evidence can be compared
/// with the evidence at converge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sign", rename_all = "snake_case")]
pub enum Sign {
    /// Used now: logged in, a process running, a file held open, members.
    Now {
        /// What shows it.
        what: String,
        /// The details (which processes, from where).
        detail: String,
    },
    /// Last used this long before the probe.
    Ago {
        /// What shows it (`last login`, `modified`).
        what: String,
        /// Seconds before the probe, by the host's clock.
        seconds: u64,
    },
    /// The host shows no use of this kind (`no processes`).
    No {
        /// What it shows.
        what: String,
    },
    /// The host cannot tell (no lastlog, no cron log): never read as unused.
    Unknown {
        /// What cannot be told.
        what: String,
        /// Why not.
        why: String,
    },
}

impl Sign {
    /// True when it shows use within `window` before the probe.
    pub fn used_within(&self, window: Duration) -> bool {
        match self {
            Sign::Now { .. } => true,
            Sign::Ago { seconds, .. } => *seconds < window.as_secs(),
            Sign::No { .. } | Sign::Unknown { .. } => false,
        }
    }

    /// What shows it, the same from one probe to the next.
    pub fn what(&self) -> &str {
        match self {
            Sign::Now { what, .. }
            | Sign::Ago { what, .. }
            | Sign::No { what }
            | Sign::Unknown { what, .. } => what,
        }
    }
}

impl std::fmt::Display for Sign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Sign::Now { what, detail } if detail.is_empty() => what.clone(),
            Sign::Now { what, detail } => format!("{what} ({detail})"),
            Sign::Ago { what, seconds } => format!("{what} {} ago", age(*seconds)),
            Sign::No { what } => what.clone(),
            Sign::Unknown { what, why } => format!("{what}: unknown ({why})"),
        };
        f.write_str(&crate::output::shown(&text))
    }
}

/// The signs, in one line: `logged in now (pts/0 from 10.0.0.5); 3
/// processes; last login 2 h ago`.
pub fn describe(signs: &[Sign]) -> String {
    signs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A span of seconds in words: `40 s`, `12 min`, `5 h`, `3 d`.
pub fn age(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// How far back a removal's evidence looks: its `unused_for`, or
/// [`DEFAULT_WINDOW`].
pub fn window(planned: &super::PlannedResource<'_>) -> Duration {
    guard(planned).unwrap_or(DEFAULT_WINDOW)
}

/// A removal's `unused_for`, when it has one.
pub fn guard(planned: &super::PlannedResource<'_>) -> Option<Duration> {
    planned
        .resource
        .value
        .common
        .unused_for
        .as_ref()
        .and_then(|w| crate::recipe::parse_duration(&w.value))
}

/// A glob pattern (as `find -lname` reads it) that matches `path` only.
fn glob_escaped(path: &str) -> String {
    let mut out = String::new();
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Subject {
    /// What it is, in words: `the user olddeploy`.
    pub fn shown(&self) -> String {
        match self {
            Subject::Path(path) => format!("the path {path}"),
            Subject::User(name) => format!("the user {name}"),
            Subject::Group(name) => format!("the group {name}"),
            Subject::Package(name) => format!("the package {name}"),
            Subject::Cron { user, run } => format!("the cron entry of {user} `{run}`"),
        }
    }

    /// The probe line that asks for its evidence under `tag`; a user's
    /// files count as recent within `window`.
    pub fn probe_line(&self, tag: &str, window: Duration) -> String {
        match self {
            Subject::Path(path) => format!(
                "rg_ev_path {tag} {} {}\n",
                quote(path),
                quote(&glob_escaped(path))
            ),
            Subject::User(name) => format!(
                "rg_ev_user {tag} {} {}\n",
                quote(name),
                window.as_secs().div_ceil(60).max(1)
            ),
            Subject::Group(name) => format!("rg_ev_group {tag} {}\n", quote(name)),
            Subject::Package(name) => format!("rg_ev_package {tag} {}\n", quote(name)),
            Subject::Cron { user, run } => {
                format!("rg_ev_cron {tag} {} {}\n", quote(user), quote(run))
            }
        }
    }

    /// What the probe's answer under `tag` shows.
    pub fn read(&self, lines: &TaggedLines, tag: &str, window: Duration) -> Vec<Sign> {
        let get = |key: &str| lines.get(tag, key);
        let all = |key: &str| lines.all(tag, key);
        let Some(now) = get("now").and_then(|n| n.trim().parse::<u64>().ok()) else {
            return vec![Sign::Unknown {
                what: "use".into(),
                why: "the probe did not answer".into(),
            }];
        };
        let ago = |epoch: &str| {
            epoch
                .trim()
                .split('.')
                .next()
                .and_then(|e| e.parse::<u64>().ok())
                .map(|e| now.saturating_sub(e))
        };
        let processes = |what: &str, none: &str| -> Sign {
            let found = all("process");
            let count = get("process_count")
                .and_then(|c| c.trim().parse::<usize>().ok())
                .unwrap_or(found.len());
            if count == 0 && get("processes_hidden").is_some() {
                Sign::Unknown {
                    what: what.into(),
                    why: "this host hides other users' processes' files from the probe (no CAP_SYS_PTRACE)".into(),
                }
            } else if count == 0 {
                Sign::No { what: none.into() }
            } else {
                let mut detail: Vec<String> = found.to_vec();
                if count > found.len() {
                    detail.push(format!("and {} more", count - found.len()));
                }
                Sign::Now {
                    what: what.into(),
                    detail: format!("{count}: {}", detail.join(", ")),
                }
            }
        };
        let mut signs = Vec::new();
        match self {
            Subject::Path(_) => {
                let Some(times) = get("times") else {
                    return signs;
                };
                let mut times = times.split_whitespace();
                if let Some(seconds) = times.next().and_then(ago) {
                    signs.push(Sign::Ago {
                        what: "modified".into(),
                        seconds,
                    });
                }
                if let Some(seconds) = times.next().and_then(ago) {
                    signs.push(Sign::Ago {
                        what: "accessed".into(),
                        seconds,
                    });
                }
                if get("processes_known").is_some() {
                    signs.push(processes(
                        "open by a process, or running from it",
                        "open by no process",
                    ));
                } else {
                    signs.push(Sign::Unknown {
                        what: "open by a process".into(),
                        why: "this host's find cannot read /proc's links".into(),
                    });
                }
            }
            Subject::User(_) => {
                if get("exists").is_none() {
                    return signs;
                }
                let sessions = all("session");
                if !sessions.is_empty() {
                    signs.push(Sign::Now {
                        what: "logged in now".into(),
                        detail: sessions
                            .iter()
                            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                } else if get("who_known") == Some("1") {
                    signs.push(Sign::No {
                        what: "not logged in now".into(),
                    });
                } else {
                    signs.push(Sign::Unknown {
                        what: "logged in now".into(),
                        why: "no utmp".into(),
                    });
                }
                signs.push(processes("processes", "no processes"));
                match get("lastlog").map(str::trim) {
                    None => signs.push(Sign::Unknown {
                        what: "last login".into(),
                        why: "no lastlog".into(),
                    }),
                    Some("0") | Some("") => signs.push(Sign::No {
                        what: "never logged in (lastlog)".into(),
                    }),
                    Some(epoch) => {
                        if let Some(seconds) = ago(epoch) {
                            signs.push(Sign::Ago {
                                what: "last login".into(),
                                seconds,
                            });
                        }
                    }
                }
                let files = get("files").unwrap_or("0 0");
                let mut files = files.split_whitespace();
                let count: u64 = files.next().and_then(|c| c.parse().ok()).unwrap_or(0);
                match files.next().and_then(ago) {
                    Some(seconds) if count > 0 => signs.push(Sign::Ago {
                        what: "its files under /home and /srv changed, the last".into(),
                        seconds,
                    }),
                    _ => signs.push(Sign::No {
                        what: format!(
                            "none of its files under /home and /srv changed within {}",
                            age(window.as_secs())
                        ),
                    }),
                }
            }
            Subject::Group(_) => {
                if get("exists").is_none() {
                    return signs;
                }
                let mut members: Vec<&str> = Vec::new();
                for list in [get("members"), get("primary")].into_iter().flatten() {
                    for member in list.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                        if !members.contains(&member) {
                            members.push(member);
                        }
                    }
                }
                signs.push(if members.is_empty() {
                    Sign::No {
                        what: "no members".into(),
                    }
                } else {
                    Sign::Now {
                        what: "members".into(),
                        detail: members.join(", "),
                    }
                });
            }
            Subject::Package(_) => {
                if get("installed").is_none() {
                    return signs;
                }
                if get("unknown").is_some() {
                    signs.push(Sign::Unknown {
                        what: "its programs running".into(),
                        why: "no dpkg or rpm to list its files".into(),
                    });
                    return signs;
                }
                signs.push(processes(
                    "its programs running",
                    "none of its programs running",
                ));
                if let Some(seconds) = get("last_run").filter(|t| !t.is_empty()).and_then(ago) {
                    signs.push(Sign::Ago {
                        what: "its programs last run (atime)".into(),
                        seconds,
                    });
                }
            }
            Subject::Cron { .. } => match (get("last_run"), get("logged")) {
                (Some(epoch), _) if !epoch.is_empty() => {
                    if let Some(seconds) = ago(epoch) {
                        signs.push(Sign::Ago {
                            what: "last ran".into(),
                            seconds,
                        });
                    }
                }
                (_, Some("1")) => signs.push(Sign::No {
                    what: "no run in the cron log".into(),
                }),
                _ => signs.push(Sign::Unknown {
                    what: "last ran".into(),
                    why: "no cron log on this host".into(),
                }),
            },
        }
        signs
    }
}

/// The shell functions the evidence probe lines call. Each answers `now`
/// (the host's clock) and what it can find; what it cannot find it leaves
/// out, and the reading says "unknown".
pub const PROBE_FUNCTIONS: &str = r#"rg_ev_list() {
  rg_t=$1; shift; rg_n=0
  for rg_pid in "$@"; do
    [ "$rg_pid" = "$$" ] && continue
    rg_c=$(cat /proc/"$rg_pid"/comm 2>/dev/null) || continue
    rg_n=$((rg_n + 1))
    if [ "$rg_n" -le 5 ]; then rg_emit "$rg_t" process "$rg_pid $rg_c"; fi
  done
  rg_emit "$rg_t" process_count "$rg_n"
}
rg_ev_denied() {
  if grep -q 'Permission denied' "$2" 2>/dev/null; then rg_emit "$1" processes_hidden 1; fi
  rm -f "$2"
}
rg_ev_procs() {
  if find / -maxdepth 0 -lname x >/dev/null 2>&1; then
    rg_emit "$1" processes_known 1
    rg_e=$(mktemp)
    rg_ev_list "$1" $(find /proc/[0-9]*/exe /proc/[0-9]*/cwd /proc/[0-9]*/fd -maxdepth 1 \( -lname "$2" -o -lname "$2/*" -o -lname "$2 (deleted)" \) 2>"$rg_e" | sed -n 's|^/proc/\([0-9]*\)/.*|\1|p' | sort -un)
    rg_ev_denied "$1" "$rg_e"
  fi
}
rg_ev_path() {
  rg_emit "$1" now "$(date +%s)"
  if [ -e "$2" ] || [ -L "$2" ]; then
    rg_emit "$1" times "$(stat -c '%Y %X' -- "$2" 2>/dev/null)"
    rg_ev_procs "$1" "$3"
  fi
}
rg_ev_user() {
  rg_emit "$1" now "$(date +%s)"
  rg_uid=$(id -u -- "$2" 2>/dev/null) || return 0
  rg_emit "$1" exists 1
  if command -v who >/dev/null 2>&1 && { [ -s /run/utmp ] || [ -s /var/run/utmp ]; }; then
    rg_emit "$1" who_known 1
    who 2>/dev/null | while read -r rg_u rg_rest; do
      if [ "$rg_u" = "$2" ]; then rg_emit "$1" session "$rg_rest"; fi
    done
  fi
  rg_ev_list "$1" $(find /proc -mindepth 1 -maxdepth 1 -name '[0-9]*' -uid "$rg_uid" -printf '%f\n' 2>/dev/null)
  if [ -r /var/log/lastlog ]; then
    rg_emit "$1" lastlog "$(dd if=/var/log/lastlog bs=292 skip="$rg_uid" count=1 2>/dev/null | od -An -t d4 -N4 | tr -d ' \n')"
  fi
  rg_emit "$1" files "$(find /home /srv -xdev -user "$rg_uid" -mmin "-$3" -printf '%T@\n' 2>/dev/null | sort -rn | awk 'NR==1{n=$1} END{print NR, int(n)}')"
}
rg_ev_group() {
  rg_emit "$1" now "$(date +%s)"
  rg_g=$(getent group "$2") || return 0
  rg_emit "$1" exists 1
  rg_emit "$1" members "$(printf %s "$rg_g" | cut -d: -f4)"
  rg_emit "$1" primary "$(getent passwd | awk -F: -v g="$(printf %s "$rg_g" | cut -d: -f3)" '$4==g{printf "%s%s", s, $1; s=","}')"
}
rg_ev_package() {
  rg_emit "$1" now "$(date +%s)"
  if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' "$2" 2>/dev/null | grep -q ' installed$' || return 0
    rg_files=$(dpkg -L "$2" 2>/dev/null)
  elif command -v rpm >/dev/null 2>&1; then
    rpm -q "$2" >/dev/null 2>&1 || return 0
    rg_files=$(rpm -ql "$2" 2>/dev/null)
  else
    rg_emit "$1" installed 1; rg_emit "$1" unknown 1; return 0
  fi
  rg_emit "$1" installed 1
  rg_exes=$(printf '%s\n' "$rg_files" | grep -E '/s?bin/[^/]+$|/libexec/')
  [ -n "$rg_exes" ] || return 0
  rg_e=$(mktemp)
  rg_ev_list "$1" $(find /proc/[0-9]*/exe -maxdepth 0 -printf '%l\t%h\n' 2>"$rg_e" | RG_EXES="$rg_exes" awk -F'\t' 'BEGIN { n = split(ENVIRON["RG_EXES"], a, "\n"); for (i = 1; i <= n; i++) { e[a[i]] = 1; e["/usr" a[i]] = 1 } } ($1 in e) { sub("^/proc/", "", $2); print $2 }')
  rg_ev_denied "$1" "$rg_e"
  rg_emit "$1" last_run "$(printf '%s\n' "$rg_exes" | tr '\n' '\0' | xargs -0 -r stat -L -c %X 2>/dev/null | sort -rn | head -n 1)"
  true
}
rg_ev_cron() {
  rg_emit "$1" now "$(date +%s)"
  rg_last=
  if command -v journalctl >/dev/null 2>&1 && journalctl -q --no-pager -n 1 >/dev/null 2>&1; then
    rg_emit "$1" logged 1
    rg_last=$(journalctl -q --no-pager -o short-unix -t CRON 2>/dev/null | grep -F -- "($2) CMD ($3)" | tail -n 1 | cut -d' ' -f1)
  fi
  for rg_f in /var/log/syslog /var/log/cron /var/log/cron.log; do
    [ -z "$rg_last" ] && [ -r "$rg_f" ] || continue
    rg_emit "$1" logged 1
    rg_line=$(grep -F -- "($2) CMD ($3)" "$rg_f" 2>/dev/null | tail -n 1)
    [ -n "$rg_line" ] || continue
    rg_last=$(date -d "$(printf '%s\n' "$rg_line" | awk '{ if ($1 ~ /^[0-9]/) print $1; else print $1" "$2" "$3 }')" +%s 2>/dev/null)
  done
  rg_emit "$1" last_run "$rg_last"
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> TaggedLines {
        crate::shell::parse_lines(text)
    }

    #[test]
    fn a_user_in_use_now_and_what_the_host_cannot_tell() {
        let signs = Subject::User("olddeploy".into()).read(
            &lines("@q0 now 1000000\n@q0 exists 1\n@q0 process 12 sleep\n@q0 process_count 3\n@q0 files 0 0\n"),
            "q0",
            DEFAULT_WINDOW,
        );
        assert_eq!(
            describe(&signs),
            "logged in now: unknown (no utmp); processes (3: 12 sleep, and 2 more); last login: unknown (no lastlog); none of its files under /home and /srv changed within 7 d"
        );
        assert!(signs.iter().any(|s| s.used_within(DEFAULT_WINDOW)));
        assert!(!signs.iter().any(|s| s.what().contains("unused")));
    }

    #[test]
    fn a_path_last_touched_long_ago_is_not_recent() {
        let day = 86_400;
        let signs = Subject::Path("/srv/old".into()).read(
            &lines(&format!(
                "@q0 now {}\n@q0 times {} {}\n@q0 processes_known 1\n@q0 process_count 0\n",
                40 * day,
                10 * day,
                20 * day
            )),
            "q0",
            DEFAULT_WINDOW,
        );
        assert_eq!(
            describe(&signs),
            "modified 30 d ago; accessed 20 d ago; open by no process"
        );
        assert!(!signs.iter().any(|s| s.used_within(DEFAULT_WINDOW)));
        assert!(
            signs
                .iter()
                .any(|s| s.used_within(Duration::from_secs(21 * day)))
        );
    }

    #[test]
    fn a_cron_entry_without_a_log_is_unknown_never_unused() {
        let signs = Subject::Cron {
            user: "root".into(),
            run: "/usr/local/bin/backup".into(),
        }
        .read(&lines("@q0 now 5\n@q0 last_run \n"), "q0", DEFAULT_WINDOW);
        assert_eq!(
            describe(&signs),
            "last ran: unknown (no cron log on this host)"
        );
    }

    #[test]
    fn spans_of_time() {
        assert_eq!(
            crate::recipe::parse_duration("7d"),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            crate::recipe::parse_duration("12h"),
            Some(Duration::from_secs(12 * 3600))
        );
        for bad in ["", "d", "7", "0d", "7 days", "-1d", "1.5h"] {
            assert_eq!(crate::recipe::parse_duration(bad), None, "{bad}");
        }
    }
}
