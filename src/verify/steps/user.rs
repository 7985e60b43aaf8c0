//! Users and groups, through `getent` (so LDAP and other NSS sources count)
//! or /etc/passwd and /etc/group where there is no getent.

use crate::shell::quote;
use crate::verify::library::Args;
use crate::verify::library::expect;
use crate::verify::world::{Failure, HostWorld, Verdict};

/// A passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    home: String,
    shell: String,
}

/// The `getent DATABASE NAME` line (or the line of the file), if any.
async fn entry(
    world: &mut HostWorld,
    database: &str,
    name: &str,
) -> Result<Option<String>, Failure> {
    let output = world
        .check(format!(
            "n={}\n\
             if command -v getent >/dev/null 2>&1; then getent {database} -- \"$n\"\n\
             else awk -F: -v n=\"$n\" '$1 == n' /etc/{database}; fi\n\
             true\n",
            quote(name)
        ))
        .await?;
    Ok(output
        .stdout_text()
        .lines()
        .next()
        .filter(|l| !l.is_empty())
        .map(str::to_string))
}

fn parse_passwd(line: &str) -> Option<Account> {
    let fields: Vec<&str> = line.split(':').collect();
    Some(Account {
        home: fields.get(5)?.to_string(),
        shell: fields.get(6)?.to_string(),
    })
}

async fn account(world: &mut HostWorld, name: &str) -> Result<Account, Failure> {
    entry(world, "passwd", name)
        .await?
        .and_then(|line| parse_passwd(&line))
        .ok_or_else(|| Failure::check(format!("the user {name} does not exist")))
}

/// `the user {string} should exist`
pub async fn exists(world: &mut HostWorld, args: &Args) -> Verdict {
    let name = args.text(0);
    let found = entry(world, "passwd", name).await?;
    expect(
        args,
        found.is_some(),
        format!("the user {name} does not exist"),
        format!("the user {name} exists"),
    )
}

/// `the user {string} should have shell {string}`
pub async fn shell(world: &mut HostWorld, args: &Args) -> Verdict {
    let (name, wanted) = (args.text(0), args.text(1));
    let found = account(world, name).await?;
    expect(
        args,
        found.shell == wanted,
        format!("expected shell {wanted}, found {}", found.shell),
        format!(
            "expected a shell other than {wanted}, found {}",
            found.shell
        ),
    )
}

/// `the user {string} should have home {string}`
pub async fn home(world: &mut HostWorld, args: &Args) -> Verdict {
    let (name, wanted) = (args.text(0), args.text(1));
    let found = account(world, name).await?;
    let (found_home, wanted_home) = (
        found.home.trim_end_matches('/'),
        wanted.trim_end_matches('/'),
    );
    expect(
        args,
        found_home == wanted_home,
        format!("expected home {wanted}, found {}", found.home),
        format!("expected a home other than {wanted}, found {}", found.home),
    )
}

/// `the user {string} should be in group {string}` (primary or supplementary)
pub async fn in_group(world: &mut HostWorld, args: &Args) -> Verdict {
    let (name, group) = (args.text(0), args.text(1));
    let output = world
        .check(format!("id -Gn -- {} 2>&1\n", quote(name)))
        .await?;
    if output.status != 0 {
        return Err(Failure::check(format!("the user {name} does not exist")));
    }
    let text = output.stdout_text();
    let groups: Vec<&str> = text.split_whitespace().collect();
    expect(
        args,
        groups.contains(&group),
        format!(
            "expected {name} in group {group}, found it in {}",
            groups.join(", ")
        ),
        format!(
            "expected {name} not in group {group}, found it in {}",
            groups.join(", ")
        ),
    )
}

/// `the group {string} should exist`
pub async fn group_exists(world: &mut HostWorld, args: &Args) -> Verdict {
    let name = args.text(0);
    let found = entry(world, "group", name).await?;
    expect(
        args,
        found.is_some(),
        format!("the group {name} does not exist"),
        format!("the group {name} exists"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_parse() {
        assert_eq!(
            parse_passwd("www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin"),
            Some(Account {
                home: "/var/www".into(),
                shell: "/usr/sbin/nologin".into()
            })
        );
        assert_eq!(parse_passwd("broken"), None);
    }
}
