//! The cucumber World: one scenario on one host.
//!
//! cucumber creates a [`HostWorld`] per scenario; the `before` hook (see
//! [`super::run`]) gives it the run's context and the connection to the
//! scenario's host. Every step goes through [`dispatch`], which finds the
//! phrase, runs it (again and again for `within N seconds`), and turns a
//! [`Failure`] into the panic that cucumber reports as a failed step.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::LocalBoxFuture;

use super::library::{Action, Args, Block, Phrase};
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
    /// Check scripts answered ahead by [`HostWorld::prefetch`], by script.
    prefetched: HashMap<String, Output>,
    /// While [`HostWorld::prefetch`] collects scripts: the scripts so far.
    recording: Option<Vec<String>>,
    /// Ask the host, not the prefetched answers (a `within` retry).
    fresh: bool,
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
        if let Some(recorded) = &mut self.recording {
            recorded.push(script);
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
        self.prefetched.clear();
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

    /// Answer the checks of a scenario's first steps in one round trip.
    ///
    /// Each built-in step runs once without a host: its check scripts are
    /// recorded, not run. Then one script runs them all on the host, each in
    /// a subshell of its own with nothing on stdin, its stdout, stderr and
    /// exit status kept apart by a boundary no output can guess; the steps
    /// then find their answers here instead of asking the host each. Only
    /// the steps before the first one that may change the host (`When I
    /// run`, a command's output, a user step) are asked ahead: what comes
    /// after it must see what it did. A step whose answer is not here (a
    /// second check that depends on the first, a retry) asks the host as
    /// before; a batch that fails leaves every step to do so.
    pub(crate) async fn prefetch(&mut self, steps: &[&gherkin::Step]) {
        let Some(run) = self.run.clone() else {
            return;
        };
        self.recording = Some(Vec::new());
        for step in steps {
            let Ok((phrase, args)) = resolve(&run, step) else {
                break;
            };
            let Action::Builtin(check) = &phrase.action else {
                break;
            };
            if phrase.family == super::steps::COMMANDS {
                break;
            }
            let _ = check(self, &args).await;
        }
        let mut scripts = self.recording.take().unwrap_or_default();
        self.checked_with = None;
        scripts.sort();
        scripts.dedup();
        if scripts.len() < 2 {
            return;
        }
        let boundary = boundary();
        let batch = batch_script(&boundary, &scripts);
        let Ok(output) = self.run_script(Script::root(batch)).await else {
            return;
        };
        if let Some(answers) = split_batch(&boundary, scripts.len(), &output) {
            self.prefetched = scripts.into_iter().zip(answers).collect();
        }
    }

    /// Run one step: find its phrase, run it, retry it `within N seconds`.
    async fn step(&mut self, step: &gherkin::Step) -> Verdict {
        let Some(run) = self.run.clone() else {
            return Err(Failure::input("the scenario has no host"));
        };
        let (phrase, args) = resolve(&run, step)?;
        let deadline = args
            .within
            .filter(|_| run.wait_within)
            .map(|within| (within, Instant::now() + within));
        let mut tries = 0u32;
        loop {
            tries += 1;
            self.fresh = tries > 1;
            self.checked_with = None;
            let result = match &phrase.action {
                Action::Builtin(check) => check(self, &args).await,
                Action::User { run } => super::steps::custom::run(self, run, &args).await,
            };
            let Err(mut failure) = result else {
                return Ok(());
            };
            failure.command = failure.command.or_else(|| self.checked_with.take());
            if let Some(within) = args.within.filter(|_| !run.wait_within)
                && failure.kind == FailureKind::Check
            {
                failure.message = format!(
                    "{} (checked once, without waiting {} s: red is expected before converge)",
                    failure.message,
                    within.as_secs()
                );
            }
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

/// What a recorded check returns to its step while [`HostWorld::prefetch`]
/// collects scripts.
const RECORDED: &str = "recorded, not run";

/// A step's phrase and arguments, with its DocString or DataTable.
fn resolve<'r>(run: &'r RunContext, step: &gherkin::Step) -> Result<(&'r Phrase, Args), Failure> {
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
    Ok((phrase, args))
}

/// A boundary line for a batch: random, so that no output can forge it.
fn boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let word = || {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.finish()
    };
    format!("@rg-batch-{:016x}{:016x}", word(), word())
}

/// One script that runs every check in its own subshell, each output
/// framed by `\nBOUNDARY I\n` on stdout and stderr and its exit status by
/// `\nBOUNDARY I status N\n` on stdout.
fn batch_script(boundary: &str, scripts: &[String]) -> String {
    let mut batch = format!("export LC_ALL=C\nrg_b={}\n", quote(boundary));
    for (i, script) in scripts.iter().enumerate() {
        batch.push_str(&format!(
            "printf '\\n%s {i}\\n' \"$rg_b\"; printf '\\n%s {i}\\n' \"$rg_b\" >&2\n(\n:\n{script}\n) </dev/null\nprintf '\\n%s {i} status %s\\n' \"$rg_b\" $?\n"
        ));
    }
    batch
}

/// The outputs of the `count` checks of a batch, or None when the output is
/// not what the batch prints (it was cut short).
fn split_batch(boundary: &str, count: usize, output: &Output) -> Option<Vec<Output>> {
    fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        haystack
            .get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    }
    let mut answers = Vec::with_capacity(count);
    let (mut out_at, mut err_at) = (0, 0);
    for i in 0..count {
        let open = format!("\n{boundary} {i}\n");
        let close = format!("\n{boundary} {i} status ");
        let start = find(&output.stdout, open.as_bytes(), out_at)? + open.len();
        let end = find(&output.stdout, close.as_bytes(), start)?;
        let status_end = find(&output.stdout, b"\n", end + close.len())?;
        let status = std::str::from_utf8(&output.stdout[end + close.len()..status_end])
            .ok()?
            .parse()
            .ok()?;
        out_at = status_end;
        let err_start = find(&output.stderr, open.as_bytes(), err_at)? + open.len();
        let err_end = find(
            &output.stderr,
            format!("\n{boundary} {}\n", i + 1).as_bytes(),
            err_start,
        )
        .unwrap_or(output.stderr.len());
        err_at = err_end;
        answers.push(Output {
            status,
            stdout: output.stdout[start..end].to_vec(),
            stderr: output.stderr[err_start..err_end].to_vec(),
        });
    }
    Some(answers)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Run a script with `sh`, as the transport does on a host.
    fn sh(script: &str) -> Output {
        let out = std::process::Command::new("sh")
            .args(["-c", script])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("sh runs");
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    #[test]
    fn a_batch_gives_each_check_what_it_alone_would_have_given() {
        let boundary = boundary();
        let scripts: Vec<String> = [
            "echo found; echo oops >&2",
            "printf 'no newline at the end'",
            "exit 3",
            "printf '\\n@rg-batch-0000 0\\n'; printf '\\n@rg-batch-0000 1 status 0\\n'",
            "printf '\\000\\377binary\\n'",
            "cat; echo read nothing",
            "",
            "case x in x) echo case ;; esac\nexit 0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let batch = sh(&batch_script(&boundary, &scripts));
        let answers = split_batch(&boundary, scripts.len(), &batch).expect("the whole batch");
        for (script, answer) in scripts.iter().zip(&answers) {
            let alone = sh(&format!("export LC_ALL=C\n{script}"));
            assert_eq!(answer.status, alone.status, "{script}");
            assert_eq!(answer.stdout, alone.stdout, "{script}");
            assert_eq!(answer.stderr, alone.stderr, "{script}");
        }
        assert_eq!(answers[2].status, 3);
        assert_eq!(answers[0].stderr, b"oops\n");
    }

    #[test]
    fn a_batch_cut_short_answers_nothing() {
        let boundary = boundary();
        let scripts = vec!["echo a".to_string(), "echo b".to_string()];
        let mut batch = sh(&batch_script(&boundary, &scripts));
        batch.stdout.truncate(batch.stdout.len() - 5);
        assert!(split_batch(&boundary, 2, &batch).is_none());
        assert_ne!(boundary, super::boundary());
    }
}
