//! Kernel parameters (from /proc/sys), processes (from /proc) and crontabs.

use crate::shell::quote;
use crate::verify::library::Args;
use crate::verify::library::expect;
use crate::verify::world::{Failure, HostWorld, Verdict};

/// `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward` (a name with `/`
/// is taken as the path below /proc/sys, for names with dots in a part).
pub fn parameter_path(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        && !name
            .split(['.', '/'])
            .any(|part| part.is_empty() || part == "..");
    if !valid {
        return Err(format!(
            "'{name}' is not a kernel parameter name like \"net.ipv4.ip_forward\""
        ));
    }
    let relative = if name.contains('/') {
        name.to_string()
    } else {
        name.replace('.', "/")
    };
    Ok(format!("/proc/sys/{relative}"))
}

/// Validate: the first value is a kernel parameter name.
pub fn first_is_parameter(values: &[String]) -> Result<(), String> {
    parameter_path(values.first().map_or("", String::as_str)).map(drop)
}

/// `the kernel parameter {string} should be {string}` (whitespace between
/// values does not matter: "32768 60999")
pub async fn kernel_parameter(world: &mut HostWorld, args: &Args) -> Verdict {
    let (name, wanted) = (args.text(0), args.text(1));
    let path = parameter_path(name).map_err(Failure::input)?;
    let output = world.check(format!("cat -- {}\n", quote(&path))).await?;
    if output.status != 0 {
        return Err(Failure::check(format!(
            "the kernel parameter {name} does not exist on {} ({path})",
            world.host_name()
        )));
    }
    let normal = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let found = normal(&output.stdout_text());
    expect(
        args,
        found == normal(wanted),
        format!("expected {name} = {wanted}, found {found}"),
        format!("expected {name} other than {wanted}, found {found}"),
    )
}

/// `the process {string} should be running`: a process whose name (the
/// kernel's `comm`, cut to 15 characters) is the given name.
pub async fn process_running(world: &mut HostWorld, args: &Args) -> Verdict {
    let name = args.text(0);
    let output = world
        .check("cat /proc/[0-9]*/comm 2>/dev/null; true\n".to_string())
        .await?;
    let short: String = name.chars().take(15).collect();
    let count = output
        .stdout_text()
        .lines()
        .filter(|comm| *comm == name || (name.chars().count() > 15 && *comm == short))
        .count();
    expect(
        args,
        count > 0,
        format!("no process named {name} is running"),
        format!(
            "{count} process{} named {name} {} running",
            if count == 1 { "" } else { "es" },
            if count == 1 { "is" } else { "are" }
        ),
    )
}

/// `the crontab of {string} should contain {string}`: the user's crontab
/// file in cron's spool (Debian, Red Hat and SUSE locations).
pub async fn crontab_contains(world: &mut HostWorld, args: &Args) -> Verdict {
    let (user, wanted) = (args.text(0), args.text(1));
    let output = world
        .check(format!(
            "u={}\n\
             for f in \"/var/spool/cron/crontabs/$u\" \"/var/spool/cron/$u\" \"/var/spool/cron/tabs/$u\"; do\n\
             \tif [ -f \"$f\" ]; then exec cat -- \"$f\"; fi\n\
             done\n\
             exit 2\n",
            quote(user)
        ))
        .await?;
    if output.status == 2 {
        return Err(Failure::check(format!("{user} has no crontab")));
    }
    let text = output.stdout_text();
    expect(
        args,
        text.contains(wanted),
        format!(
            "expected the crontab of {user} to contain {wanted:?}; it has:\n{}",
            super::file::excerpt(&text)
        ),
        format!("expected the crontab of {user} not to contain {wanted:?}; it does"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_become_paths() {
        assert_eq!(
            parameter_path("net.ipv4.ip_forward").unwrap(),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            parameter_path("net/ipv4/conf/eth0.1/rp_filter").unwrap(),
            "/proc/sys/net/ipv4/conf/eth0.1/rp_filter"
        );
        assert!(parameter_path("../../etc/passwd").is_err());
        assert!(parameter_path("net..x").is_err());
        assert!(parameter_path("a b").is_err());
        assert!(parameter_path("").is_err());
    }
}
