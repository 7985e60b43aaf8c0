//! The cucumber World: one scenario on one host.
//!
//! cucumber creates a [`HostWorld`] per scenario; the `before` hook (see
//! `run`) gives it the run's context and the connection to the
//! scenario's host. Every step goes through `dispatch`, which finds the
//! phrase, runs it (again and again for `within N seconds`), and turns a
//! [`Failure`] into the panic that cucumber reports as a failed step.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::LocalBoxFuture;

use tokio::sync::{OnceCell, Semaphore};

use crate::shell::quote;
use crate::transport::{Counted, Output, Script, Target, Transport, TransportError, Tunnel};

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
        if err.is_unreachable() {
            Failure {
                kind: FailureKind::Unreachable,
                ..Failure::check(format!("cannot reach {host}: {err}"))
            }
        } else {
            Failure::check(format!("on {host}: {err}"))
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

/// How a step's text is run: found among the phrases, run on the world,
/// tried again `within N seconds` (see `dispatch`, where the step library
/// implements it). The world holds it, as cucumber's step functions are
/// plain functions of the world.
pub(crate) trait Steps: Send + Sync {
    /// Run `step` on `world`.
    fn run<'a>(
        &'a self,
        world: &'a mut HostWorld,
        step: &'a gherkin::Step,
    ) -> LocalBoxFuture<'a, Verdict>;

    /// Answer the checks of every scenario's first steps on the world's
    /// host in one round trip: `scenarios` holds each scenario's steps.
    fn prefetch<'a>(
        &'a self,
        world: &'a mut HostWorld,
        scenarios: &'a [Vec<gherkin::Step>],
    ) -> LocalBoxFuture<'a, Answers>;
}

type Connected = Arc<Counted<Box<dyn Transport>>>;

/// Check scripts answered ahead, by script.
pub(crate) type Answers = Arc<HashMap<String, Output>>;

/// One host of a run and its connection, opened on first use.
pub(crate) struct HostSlot {
    /// The host.
    pub target: Target,
    pub(crate) transport: OnceCell<Result<Connected, TransportError>>,
    pub(crate) lost: Mutex<Option<String>>,
    pub(crate) connecting: Arc<Semaphore>,
    /// The checks of all the host's scenarios, answered ahead by the first
    /// scenario that starts.
    pub(crate) answers: OnceCell<Answers>,
}

impl HostSlot {
    pub(crate) async fn connect(&self) -> Result<Connected, TransportError> {
        self.transport
            .get_or_init(|| async {
                let _permit = self.connecting.acquire().await.expect("semaphore open");
                crate::transport::connect(&self.target)
                    .await
                    .map(|t| Arc::new(Counted::new(t)))
            })
            .await
            .clone()
    }

    /// The connection broke during the run.
    pub(crate) fn mark_lost(&self, reason: String) {
        self.lost.lock().expect("lost lock").get_or_insert(reason);
    }

    /// Why the host was unreachable, if it was.
    pub(crate) fn unreachable(&self) -> Option<String> {
        match self.transport.get() {
            Some(Err(err)) => Some(err.to_string()),
            _ => self.lost.lock().expect("lost lock").clone(),
        }
    }

    pub(crate) fn round_trips(&self) -> usize {
        match self.transport.get() {
            Some(Ok(transport)) => transport.round_trips(),
            _ => 0,
        }
    }

    pub(crate) async fn close(&self) {
        if let Some(Ok(transport)) = self.transport.get() {
            transport.close().await;
        }
    }
}

/// What every scenario of a run shares.
pub(crate) struct RunContext {
    /// How a step's text is run: the run's step library.
    pub steps: Arc<dyn Steps>,
    /// Each host's scenarios: the steps of each, as they will run.
    pub scenarios: HashMap<String, Vec<Vec<gherkin::Step>>>,
    /// The hosts, by name.
    pub hosts: HashMap<String, Arc<HostSlot>>,
    /// Show the checking command in failures.
    pub verbose: bool,
    /// How long one command may take.
    pub command_timeout: Duration,
    /// Wait out `within N seconds` (else check such a step once).
    pub wait_within: bool,
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
    pub(crate) checked_with: Option<String>,
    /// The last failure (read by the results collector).
    pub(crate) failure: Option<Failure>,
    /// Check scripts answered ahead by [`Steps::prefetch`], by script.
    pub(crate) prefetched: Answers,
    /// While [`Steps::prefetch`] collects scripts: the checks so far.
    pub(crate) recording: Option<Vec<Recorded>>,
    /// Ask the host, not the prefetched answers (a `within` retry).
    pub(crate) fresh: bool,
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
        self.ask(script, None).await
    }

    /// [`check`](Self::check) for a question (`ask` of `path`) that the
    /// answers ahead ask of every path at once, in one process on the host;
    /// `script` alone gives the same answer.
    pub(crate) async fn check_shared(
        &mut self,
        script: String,
        ask: Ask,
        path: &str,
    ) -> Result<Output, Failure> {
        self.ask(script, Some((ask, path.to_string()))).await
    }

    async fn ask(
        &mut self,
        script: String,
        shared: Option<(Ask, String)>,
    ) -> Result<Output, Failure> {
        self.checked_with = Some(script.trim_end().to_string());
        if let Some(recorded) = &mut self.recording {
            recorded.push(Recorded { script, shared });
            return Err(Failure::input(RECORDED));
        }
        // Answered ahead; a `within` retry asks the host again.
        if !self.fresh
            && let Some(output) = self.prefetched.get(&script)
        {
            return Ok(output.clone());
        }
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
        if self.recording.is_some() {
            return Err(Failure::input(RECORDED));
        }
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
        // A command may change what the answers ahead were about.
        self.prefetched = Answers::default();
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

    pub(crate) async fn run_script(&mut self, script: Script) -> Result<Output, Failure> {
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
        if self.recording.is_some() {
            return Err(Failure::input(RECORDED));
        }
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
}

/// A check recorded while [`Steps::prefetch`] collects them.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// The script that answers it alone.
    pub script: String,
    /// What it asks of which path, when the answers ahead can ask it of
    /// every path at once.
    pub shared: Option<(Ask, String)>,
}

/// A question that many checks ask of different paths: the answers ahead
/// ask it of all of them in one process (see [`crate::verify::steps::file`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Ask {
    /// What is at the path: kind, mode, owner, group.
    Stat,
    /// The file's content.
    Content,
}

/// What a recorded check returns to its step while [`Steps::prefetch`]
/// collects scripts.
pub(crate) const RECORDED: &str = "recorded, not run";

/// The one cucumber step function behind every phrase: runs the step and
/// turns a failure into the panic cucumber reports (without the panic hook,
/// so nothing else is printed).
pub(crate) fn dispatch(
    world: &mut HostWorld,
    context: cucumber::step::Context,
) -> LocalBoxFuture<'_, ()> {
    Box::pin(async move {
        let verdict = match world.run.as_ref().map(|r| r.steps.clone()) {
            Some(steps) => steps.run(world, &context.step).await,
            None => Err(Failure::input("the scenario has no host")),
        };
        if let Err(failure) = verdict {
            fail(world, failure);
        }
    })
}

/// Report `failure` as the scenario's: kept in the world for redgreen's own
/// results, and raised as the panic that cucumber's writers (terminal, JUnit,
/// Cucumber JSON) show. Secrets are masked here, before any writer escapes
/// the text: what a host printed (a file's content, a command's output) may
/// hold one.
pub(crate) fn fail(world: &mut HostWorld, failure: Failure) -> ! {
    let mask = |text: &str| crate::secrets::redact(text).into_owned();
    let failure = Failure {
        message: mask(&failure.message),
        command: failure.command.as_deref().map(mask),
        kind: failure.kind,
    };
    let verbose = world.run.as_ref().is_some_and(|r| r.verbose);
    let shown = failure.shown(verbose);
    world.failure = Some(failure);
    std::panic::resume_unwind(Box::new(shown));
}
