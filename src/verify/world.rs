//! The cucumber World: one scenario on one host.
//!
//! cucumber creates a [`HostWorld`] per scenario; the `before` hook (see
//! [`super::run`]) gives it the run's context and the connection to the
//! scenario's host. Every step goes through [`dispatch`], which finds the
//! phrase, runs it (again and again for `within N seconds`), and turns a
//! [`Failure`] into the panic that cucumber reports as a failed step.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::LocalBoxFuture;

use super::library::{Action, Args, Block};
use super::run::{HostSlot, RunContext};
use crate::shell::quote;
use crate::transport::{Output, Script, Transport, TransportError, Tunnel};

/// How often a `within N seconds` step is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What was expected and what was found.
    pub message: String,
    /// The command that checked it (shown at -v and in JSON).
    pub command: Option<String>,
    /// What kind of failure it is.
    pub kind: FailureKind,
}

/// Kinds of failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The host is not as the step says (retried by `within`).
    Check,
    /// The step's arguments are wrong (not retried).
    Input,
    /// The host could not be reached (not retried; exit code 3).
    Unreachable,
}

impl Failure {
    /// The host is not as the step says.
    pub fn check(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            command: None,
            kind: FailureKind::Check,
        }
    }

    /// The step's arguments are wrong.
    pub fn input(message: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Input,
            ..Failure::check(message)
        }
    }

    fn transport(host: &str, err: &TransportError) -> Failure {
        Failure {
            kind: if err.is_unreachable() {
                FailureKind::Unreachable
            } else {
                FailureKind::Check
            },
            ..Failure::check(format!("on {host}: {err}"))
        }
    }

    /// The message as reporters show it: with the command at -v.
    pub fn shown(&self, verbose: bool) -> String {
        match (&self.command, verbose) {
            (Some(command), true) => {
                let mut text = format!("{}\nchecked with:", self.message);
                for line in command.lines() {
                    text.push_str("\n  ");
                    text.push_str(line);
                }
                text
            }
            _ => self.message.clone(),
        }
    }
}

/// The result of a step.
pub type Verdict = Result<(), Failure>;

/// Pass when `holds` is what the step wants (`should` or `should not`), else
/// fail with the message for that polarity.
pub fn expect(
    args: &Args,
    holds: bool,
    unlike_should: String,
    unlike_should_not: String,
) -> Verdict {
    match (args.should, holds) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => Err(Failure::check(unlike_should)),
        (false, true) => Err(Failure::check(unlike_should_not)),
    }
}

/// A command run by `When I run`.
#[derive(Debug, Clone)]
pub struct Ran {
    /// The command as written.
    pub command: String,
    /// The user it ran as (None: root).
    pub user: Option<String>,
    /// What it did.
    pub output: Output,
}

/// The state of one scenario on one host.
#[derive(Default)]
pub struct HostWorld {
    pub(crate) run: Option<Arc<RunContext>>,
    pub(crate) host: Option<Arc<HostSlot>>,
    transport: Option<Arc<dyn Transport>>,
    /// The last `When I run`.
    pub(crate) last_run: Option<Ran>,
    /// The script of the last check (for -v).
    checked_with: Option<String>,
    /// The last failure (read by the results collector).
    pub(crate) failure: Option<Failure>,
}

impl fmt::Debug for HostWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostWorld")
            .field("host", &self.host_name())
            .field("last_run", &self.last_run.as_ref().map(|r| &r.command))
            .finish()
    }
}

impl cucumber::World for HostWorld {
    type Error = std::convert::Infallible;

    async fn new() -> Result<Self, Self::Error> {
        Ok(HostWorld::default())
    }
}

impl HostWorld {
    /// Start a scenario on `host`.
    pub(crate) fn enter(
        &mut self,
        run: Arc<RunContext>,
        host: Arc<HostSlot>,
        transport: Arc<dyn Transport>,
    ) {
        self.run = Some(run);
        self.host = Some(host);
        self.transport = Some(transport);
    }

    /// The host's name.
    pub fn host_name(&self) -> &str {
        self.host.as_ref().map_or("?", |h| h.target.name.as_str())
    }

    fn transport(&self) -> Result<Arc<dyn Transport>, Failure> {
        self.transport
            .clone()
            .ok_or_else(|| Failure::input("no host for this scenario"))
    }

    fn command_timeout(&self) -> Duration {
        self.run
            .as_ref()
            .map_or(Duration::from_secs(600), |r| r.command_timeout)
    }

    /// Run a check script as root (one round trip). The script is recorded
    /// for -v.
    pub async fn check(&mut self, script: String) -> Result<Output, Failure> {
        self.checked_with = Some(script.trim_end().to_string());
        let text = format!("export LC_ALL=C\n{script}");
        self.run_script(Script::root(text)).await
    }

    /// Run a user's command (`When I run`, user steps) as root or as `user`,
    /// with nothing on stdin. One round trip.
    pub async fn run_command(
        &mut self,
        command: &str,
        user: Option<&str>,
    ) -> Result<Output, Failure> {
        let script = match user {
            None => format!("sh -c {} </dev/null\n", quote(command)),
            Some(user) => format!(
                "u={user}\n\
                 if ! id -u -- \"$u\" >/dev/null 2>&1; then echo '@rg no-user' >&2; exit 1; fi\n\
                 cd / || exit 1\n\
                 if command -v runuser >/dev/null 2>&1; then exec runuser -u \"$u\" -- sh -c {cmd} </dev/null\n\
                 else exec su -s /bin/sh -c {cmd} \"$u\" </dev/null; fi\n",
                user = quote(user),
                cmd = quote(command),
            ),
        };
        self.checked_with = Some(script.trim_end().to_string());
        let output = self.run_script(Script::root(script)).await?;
        if user.is_some() && output.stderr_text().starts_with("@rg no-user") {
            return Err(Failure::check(format!(
                "there is no user {} on {}",
                user.unwrap_or_default(),
                self.host_name()
            )));
        }
        Ok(output)
    }

    async fn run_script(&mut self, script: Script) -> Result<Output, Failure> {
        let transport = self.transport()?;
        let script = script.with_timeout(self.command_timeout());
        tracing::debug!(host = self.host_name(), script = %script.text, "verify");
        match transport.run(&script).await {
            Ok(output) => Ok(output),
            Err(err) => Err(self.transport_failure(&err)),
        }
    }

    fn transport_failure(&self, err: &TransportError) -> Failure {
        let failure = Failure::transport(self.host_name(), err);
        if failure.kind == FailureKind::Unreachable
            && let Some(host) = &self.host
        {
            host.mark_lost(err.to_string());
        }
        failure
    }

    /// Open a TCP connection to `host:port` as seen from the host (HTTP steps).
    pub async fn connect_tcp(&mut self, host: &str, port: u16) -> Result<Tunnel, Failure> {
        self.checked_with = Some(format!(
            "a TCP connection to {host}:{port} through {}",
            self.host_name()
        ));
        let transport = self.transport()?;
        transport
            .connect_tcp(host, port)
            .await
            .map_err(|err| self.transport_failure(&err))
    }

    /// Run one step: find its phrase, run it, retry it `within N seconds`.
    async fn step(&mut self, step: &gherkin::Step) -> Verdict {
        let Some(run) = self.run.clone() else {
            return Err(Failure::input("the scenario has no host"));
        };
        let found = run.library.find(&step.value);
        let Some((phrase, mut args)) = found.into_iter().next() else {
            return Err(Failure::input(format!("undefined step: {}", step.value)));
        };
        match phrase.block {
            Block::DocString => {
                // gherkin keeps the newlines after the opening and before the
                // closing """.
                args.docstring = step.docstring.as_ref().map(|d| {
                    let d = d.strip_prefix('\n').unwrap_or(d);
                    d.strip_suffix('\n').unwrap_or(d).to_string()
                });
            }
            Block::Table => args.table = step.table.as_ref().map(|t| t.rows.clone()),
            Block::None => {}
        }
        let deadline = args.within.map(|within| (within, Instant::now() + within));
        let mut tries = 0u32;
        loop {
            tries += 1;
            self.checked_with = None;
            let result = match &phrase.action {
                Action::Builtin(check) => check(self, &args).await,
                Action::User { run } => super::steps::custom::run(self, run, &args).await,
            };
            let Err(mut failure) = result else {
                return Ok(());
            };
            failure.command = failure.command.or_else(|| self.checked_with.take());
            match deadline {
                Some((within, deadline)) if failure.kind == FailureKind::Check => {
                    let now = Instant::now();
                    if now >= deadline {
                        failure.message = format!(
                            "{} (still so after {} s, {tries} tries)",
                            failure.message,
                            within.as_secs()
                        );
                        return Err(failure);
                    }
                    tokio::time::sleep(RETRY_EVERY.min(deadline - now)).await;
                    // Checks of a command's output run the command again.
                    if phrase.family == super::steps::COMMANDS
                        && let Some(ran) = self.last_run.clone()
                    {
                        let output = self.run_command(&ran.command, ran.user.as_deref()).await?;
                        self.last_run = Some(Ran { output, ..ran });
                    }
                }
                _ => return Err(failure),
            }
        }
    }
}

/// The one cucumber step function behind every phrase: runs the step and
/// turns a failure into the panic cucumber reports (without the panic hook,
/// so nothing else is printed).
pub(crate) fn dispatch(
    world: &mut HostWorld,
    context: cucumber::step::Context,
) -> LocalBoxFuture<'_, ()> {
    Box::pin(async move {
        if let Err(failure) = world.step(&context.step).await {
            let verbose = world.run.as_ref().is_some_and(|r| r.verbose);
            let shown = failure.shown(verbose);
            world.failure = Some(failure);
            std::panic::resume_unwind(Box::new(shown));
        }
    })
}
