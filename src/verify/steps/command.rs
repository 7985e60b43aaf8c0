//! `When I run` a command on the host, then check how it went.
//!
//! Commands run as root (like converge), or as the user named with `as`,
//! with nothing on stdin. The output checks look at the last command of the
//! scenario; with `within N seconds` they run it again before each new try.

use crate::verify::library::Args;
use crate::verify::library::expect;
use crate::verify::world::{Failure, HostWorld, Ran, Verdict};

use super::file::{excerpt, multiline};

/// `I run {string}`
pub async fn run(world: &mut HostWorld, args: &Args) -> Verdict {
    run_command(world, args.text(0), None).await
}

/// `I run {string} as {string}`
pub async fn run_as(world: &mut HostWorld, args: &Args) -> Verdict {
    run_command(world, args.text(0), Some(args.text(1))).await
}

async fn run_command(world: &mut HostWorld, command: &str, user: Option<&str>) -> Verdict {
    let output = world.run_command(command, user).await?;
    world.last_run = Some(Ran {
        command: command.to_string(),
        user: user.map(str::to_string),
        output,
    });
    Ok(())
}

/// The last command of the scenario.
fn last(world: &HostWorld) -> Result<&Ran, Failure> {
    world.last_run.as_ref().ok_or_else(|| {
        Failure::input("no command has run in this scenario yet: put a step like `When I run \"...\"` before this one")
    })
}

/// How a command went, for messages: its status and what it printed.
fn account(ran: &Ran) -> String {
    let mut text = format!("`{}` exited with status {}", ran.command, ran.output.status);
    for (name, stream) in [
        ("output", &ran.output.stdout),
        ("error output", &ran.output.stderr),
    ] {
        let stream = String::from_utf8_lossy(stream);
        if !stream.trim().is_empty() {
            text.push_str(&format!("; its {name}:\n{}", excerpt(&stream)));
        }
    }
    text
}

/// `the command should succeed`
pub async fn succeeds(world: &mut HostWorld, args: &Args) -> Verdict {
    let ran = last(world)?;
    expect(
        args,
        ran.output.status == 0,
        format!("expected the command to succeed: {}", account(ran)),
        format!("expected the command to fail: {}", account(ran)),
    )
}

/// `the command should fail`
pub async fn fails(world: &mut HostWorld, args: &Args) -> Verdict {
    let ran = last(world)?;
    expect(
        args,
        ran.output.status != 0,
        format!("expected the command to fail: {}", account(ran)),
        format!("expected the command to succeed: {}", account(ran)),
    )
}

/// `the exit status should be {int}`
pub async fn exit_status(world: &mut HostWorld, args: &Args) -> Verdict {
    let wanted = args.int(0)?;
    let ran = last(world)?;
    let found = i64::from(ran.output.status);
    expect(
        args,
        found == wanted,
        format!(
            "expected exit status {wanted}, found {found}: {}",
            account(ran)
        ),
        format!(
            "expected an exit status other than {wanted}: {}",
            account(ran)
        ),
    )
}

/// Validate: the first value is a regex.
pub fn first_is_regex(values: &[String]) -> Result<(), String> {
    multiline(values.first().map_or("", String::as_str)).map(drop)
}

/// The output or the error output of the last command: its name for
/// messages, and its text.
fn stream(ran: &Ran, error: bool) -> (&'static str, std::borrow::Cow<'_, str>) {
    if error {
        ("error output", String::from_utf8_lossy(&ran.output.stderr))
    } else {
        ("output", String::from_utf8_lossy(&ran.output.stdout))
    }
}

fn stream_contains(world: &HostWorld, args: &Args, error: bool) -> Verdict {
    let wanted = args.text(0);
    let ran = last(world)?;
    let (name, text) = stream(ran, error);
    expect(
        args,
        text.contains(wanted),
        format!(
            "expected the {name} to contain {wanted:?}: {}",
            account(ran)
        ),
        format!(
            "expected the {name} not to contain {wanted:?}: {}",
            account(ran)
        ),
    )
}

fn stream_matches(world: &HostWorld, args: &Args, error: bool) -> Verdict {
    let pattern = args.text(0);
    let regex = multiline(pattern).map_err(Failure::input)?;
    let ran = last(world)?;
    let (name, text) = stream(ran, error);
    expect(
        args,
        regex.is_match(&text),
        format!("expected the {name} to match /{pattern}/: {}", account(ran)),
        format!(
            "expected the {name} not to match /{pattern}/: {}",
            account(ran)
        ),
    )
}

/// `the output should contain {string}`
pub async fn output_contains(world: &mut HostWorld, args: &Args) -> Verdict {
    stream_contains(world, args, false)
}

/// `the output should match {string}`
pub async fn output_matches(world: &mut HostWorld, args: &Args) -> Verdict {
    stream_matches(world, args, false)
}

/// `the error output should contain {string}`
pub async fn error_contains(world: &mut HostWorld, args: &Args) -> Verdict {
    stream_contains(world, args, true)
}

/// `the error output should match {string}`
pub async fn error_matches(world: &mut HostWorld, args: &Args) -> Verdict {
    stream_matches(world, args, true)
}
