//! OS packages, through whichever package database the host has (dpkg, rpm,
//! apk, pacman). A DataTable of packages is checked in one round trip.

use crate::shell::quote;
use crate::verify::library::Args;
use crate::verify::library::expect;
use crate::verify::world::{Failure, HostWorld, Verdict};

/// Prints `NAME<TAB>installed VERSION`, `NAME<TAB>absent [STATE]` or
/// `NAME<TAB>unknown` for each package named in `$@`.
const QUERY: &str = r#"rg_pkg() {
  if command -v dpkg-query >/dev/null 2>&1; then
    s=$(dpkg-query -W -f='${db:Status-Status} ${Version}\n' -- "$1" 2>/dev/null)
    s=${s%%"
"*}
    case $s in
      "installed "*) echo "installed ${s#installed }" ;;
      "") echo "absent" ;;
      *) echo "absent ${s%% *}" ;;
    esac
  elif command -v rpm >/dev/null 2>&1; then
    if v=$(rpm -q --qf '%{VERSION}-%{RELEASE}' -- "$1" 2>/dev/null); then echo "installed $v"; else echo absent; fi
  elif command -v apk >/dev/null 2>&1; then
    if apk info -e -- "$1" >/dev/null 2>&1; then
      v=$(apk info -- "$1" 2>/dev/null | head -n 1); v=${v#"$1"-}; echo "installed ${v%% *}"
    else echo absent; fi
  elif command -v pacman >/dev/null 2>&1; then
    if v=$(pacman -Q -- "$1" 2>/dev/null); then echo "installed ${v#* }"; else echo absent; fi
  else echo unknown; fi
}
for p in "$@"; do printf '%s\t' "$p"; rg_pkg "$p"; done
"#;

/// What the host says about one package.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Installed(String),
    /// Not installed; dpkg may say more (`config-files`).
    Absent(Option<String>),
    /// No package database found.
    Unknown,
}

impl State {
    fn describe(&self) -> String {
        match self {
            State::Installed(version) => format!("version {version} installed"),
            State::Absent(None) => "it not installed".into(),
            State::Absent(Some(state)) => format!("it not installed (state {state})"),
            State::Unknown => "no package database (dpkg, rpm, apk or pacman)".into(),
        }
    }
}

async fn query(world: &mut HostWorld, names: &[&str]) -> Result<Vec<State>, Failure> {
    let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
    let script = format!("set -- {}\n{QUERY}", quoted.join(" "));
    let output = world.check(script).await?;
    let text = output.stdout_text();
    let mut states = Vec::new();
    for name in names {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}\t")))
            .unwrap_or("unknown");
        states.push(parse_state(line));
    }
    if states.contains(&State::Unknown) {
        return Err(Failure::check(format!(
            "cannot check packages on {}: it has no package database redgreen knows (dpkg, rpm, apk, pacman)",
            world.host_name()
        )));
    }
    Ok(states)
}

fn parse_state(line: &str) -> State {
    match line.split_once(' ').unwrap_or((line, "")) {
        ("installed", version) => State::Installed(version.to_string()),
        ("absent", "") => State::Absent(None),
        ("absent", "not-installed") => State::Absent(None),
        ("absent", state) => State::Absent(Some(state.to_string())),
        _ => State::Unknown,
    }
}

/// `the package {string} should be installed`
pub async fn installed(world: &mut HostWorld, args: &Args) -> Verdict {
    let name = args.text(0);
    let state = query(world, &[name]).await?.remove(0);
    expect(
        args,
        matches!(state, State::Installed(_)),
        format!(
            "expected the package {name} installed, found {}",
            state.describe()
        ),
        format!(
            "expected the package {name} not installed, found {}",
            state.describe()
        ),
    )
}

/// `the package {string} should be installed at version {string}`
pub async fn installed_at_version(world: &mut HostWorld, args: &Args) -> Verdict {
    let (name, version) = (args.text(0), args.text(1));
    let state = query(world, &[name]).await?.remove(0);
    expect(
        args,
        state == State::Installed(version.to_string()),
        format!(
            "expected the package {name} at version {version}, found {}",
            state.describe()
        ),
        format!(
            "expected the package {name} not at version {version}, found {}",
            state.describe()
        ),
    )
}

/// `the following packages should be installed:` with a DataTable of one
/// package per row (an optional second column is the version), checked in
/// one command.
pub async fn all_installed(world: &mut HostWorld, args: &Args) -> Verdict {
    let Some(table) = &args.table else {
        return Err(Failure::input(
            "this step needs a DataTable of packages below it",
        ));
    };
    let rows: Vec<(&str, Option<&str>)> = table
        .iter()
        .filter_map(|row| {
            let name = row.first()?.trim();
            let version = row.get(1).map(|v| v.trim()).filter(|v| !v.is_empty());
            (!name.is_empty()).then_some((name, version))
        })
        .collect();
    if rows.is_empty() {
        return Err(Failure::input("the DataTable names no package"));
    }
    let names: Vec<&str> = rows.iter().map(|(name, _)| *name).collect();
    let states = query(world, &names).await?;
    let mut wrong = Vec::new();
    for ((name, version), state) in rows.iter().zip(&states) {
        let holds = match (version, state) {
            (None, State::Installed(_)) => true,
            (Some(version), State::Installed(found)) => found == version,
            _ => false,
        };
        if holds != args.should {
            let wanted = match (version, args.should) {
                (None, true) => "installed".to_string(),
                (Some(version), true) => format!("at version {version}"),
                (None, false) => "not installed".to_string(),
                (Some(version), false) => format!("not at version {version}"),
            };
            wrong.push(format!(
                "{name}: expected {wanted}, found {}",
                state.describe()
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Failure::check(format!(
            "{} of {} packages are not as expected:\n  {}",
            wrong.len(),
            rows.len(),
            wrong.join("\n  ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse() {
        assert_eq!(
            parse_state("installed 1:9.2p1-2+deb12u3"),
            State::Installed("1:9.2p1-2+deb12u3".into())
        );
        assert_eq!(parse_state("absent"), State::Absent(None));
        assert_eq!(parse_state("absent not-installed"), State::Absent(None));
        assert_eq!(
            parse_state("absent config-files"),
            State::Absent(Some("config-files".into()))
        );
        assert_eq!(parse_state("unknown"), State::Unknown);
    }

    #[test]
    fn the_query_runs_in_a_shell() {
        // Whatever this machine has, every name gets exactly one line.
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("set -- sh 'no such package'\n{QUERY}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("no such package\t")
        );
    }
}
