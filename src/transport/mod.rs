//! Running scripts on hosts: the only place where commands run.
//!
//! A [`Transport`] runs one shell script per call (`sh -s`, the script on
//! stdin), as root when asked (`sudo -n` on a non-root login, once per
//! script). Each call is one round trip; [`Counted`] counts them so that the
//! engine can report, and tests can check, the round-trip budget.
//!
//! [`Transport::connect_tcp`] opens a TCP connection as seen from the host
//! (an SSH port forward over the master connection), so that HTTP checks run
//! their client on the controller and the host needs no HTTP client.

pub mod local;
pub mod ssh;
mod ssh_inputs;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

use serde::Deserialize;
use serde_json::{Map, Value};

/// How commands that need root run on a non-root login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Become {
    /// `sudo -n`, once per batch of commands.
    Sudo,
    /// Never: run everything as the login user.
    None,
}

/// A script to run on a host.
#[derive(Debug, Clone)]
pub struct Script {
    /// The script's text, sent on stdin to `sh -s`.
    pub text: String,
    /// Run it as root (through sudo on a non-root login).
    pub as_root: bool,
    /// How long it may take.
    pub timeout: Duration,
}

impl Script {
    /// A script that runs as root with the default timeout.
    pub fn root(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            as_root: true,
            timeout: Duration::from_secs(600),
        }
    }

    /// The same script with another timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// What a script did.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Exit status (128 + signal when killed by a signal, -1 when unknown).
    pub status: i32,
    /// Everything printed on stdout.
    pub stdout: Vec<u8>,
    /// Everything printed on stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// What `sh -c script` does here, with nothing on stdin: a script run
    /// as the transport runs it on a host (for unit tests).
    #[cfg(test)]
    pub(crate) fn of_sh(script: &str) -> Output {
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
}

/// Why a script could not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// The host could not be reached or logged in to.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The host's key is unknown or has changed (strict checking refuses it).
    #[error("{0}")]
    HostKey(String),
    /// The connection broke while a script ran.
    #[error("connection lost: {0}")]
    Lost(String),
    /// The script took longer than its timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// sudo wanted a password (redgreen needs passwordless sudo).
    #[error(
        "sudo on this host asks for a password; give {0} passwordless sudo (NOPASSWD) or log in as root"
    )]
    SudoPassword(String),
    /// A TCP connection through the host could not be opened (the host
    /// itself is reachable).
    #[error("cannot open a connection to {0}")]
    Forward(String),
}

impl TransportError {
    /// True when this means the host is unreachable (exit code 3), not that
    /// something failed on it.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            TransportError::Connect(_) | TransportError::Lost(_) | TransportError::HostKey(_)
        )
    }
}

/// A byte stream: a TCP connection opened by [`Transport::connect_tcp`].
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Where [`Transport::run_streaming`] hands each line of stdout.
pub type OnLine<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// Splits a stream of bytes into lines as they come, for
/// [`Transport::run_streaming`]: every byte is kept, and each complete
/// line is handed on at once.
#[derive(Default)]
pub(crate) struct LineSplitter {
    /// Everything read so far.
    pub bytes: Vec<u8>,
    /// Where the line not yet handed on starts.
    start: usize,
}

impl LineSplitter {
    /// Take `chunk`, and hand each line it completes to `line`.
    pub fn push(&mut self, chunk: &[u8], line: OnLine<'_>) {
        self.bytes.extend_from_slice(chunk);
        while let Some(end) = self.bytes[self.start..].iter().position(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(&self.bytes[self.start..self.start + end]);
            line(&text);
            self.start += end + 1;
        }
    }
}

/// Read `pipe` to its end, handing each line to `line` as it comes.
pub(crate) async fn read_lines(
    pipe: Option<impl tokio::io::AsyncRead + Unpin>,
    line: OnLine<'_>,
) -> Result<Vec<u8>, std::io::Error> {
    use tokio::io::AsyncReadExt;
    let mut lines = LineSplitter::default();
    if let Some(mut pipe) = pipe {
        let mut chunk = [0u8; 8192];
        loop {
            let n = pipe.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            lines.push(&chunk[..n], line);
        }
    }
    Ok(lines.bytes)
}

/// Everything a pipe gives, until it closes.
pub(crate) async fn read_all(
    pipe: Option<impl tokio::io::AsyncRead + Unpin>,
) -> Result<Vec<u8>, std::io::Error> {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut bytes).await?;
    }
    Ok(bytes)
}

/// A process's exit status as a number: its code, or 128 + the signal that
/// ended it (as a shell says it).
pub(crate) fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// A TCP connection as seen from a host.
pub type Tunnel = Pin<Box<dyn Stream>>;

/// A way to run scripts on one host.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Run a script and wait for it: one round trip.
    async fn run(&self, script: &Script) -> Result<Output, TransportError> {
        self.run_streaming(script, &|_| {}).await
    }

    /// Run a script and wait for it, handing each line of its stdout to
    /// `line` as it arrives (without its line break), so that a long script
    /// can say what it is doing: still one round trip. The whole stdout is
    /// also in the [`Output`].
    async fn run_streaming(
        &self,
        script: &Script,
        line: OnLine<'_>,
    ) -> Result<Output, TransportError>;

    /// Open a TCP connection to `host:port` as the host itself would (for
    /// `localhost`, the host's own loopback). HTTP checks use it so that the
    /// target needs no HTTP client: the request is made here, through the
    /// connection. The default refuses.
    async fn connect_tcp(&self, host: &str, port: u16) -> Result<Tunnel, TransportError> {
        Err(TransportError::Forward(format!(
            "{host}:{port}: this transport cannot open connections"
        )))
    }

    /// Close the connection. Further runs fail.
    async fn close(&self);
}

/// A host to work on.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name.
    pub name: String,
    /// Its groups, in order.
    pub groups: Vec<String>,
    /// Its own vars.
    pub vars: Map<String, Value>,
    /// How to reach it; None runs on this machine.
    pub connection: Option<Connection>,
    /// Address shown to templates as `host.address`.
    pub address: String,
}

/// Open a transport to a target.
pub async fn connect(target: &Target) -> Result<Box<dyn Transport>, TransportError> {
    match &target.connection {
        Some(connection) => Ok(Box::new(ssh::SshTransport::connect(connection).await?)),
        None => Ok(Box::new(local::LocalTransport::new())),
    }
}

/// How to reach a host over SSH.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The host's name in redgreen.yml (for messages).
    pub name: String,
    /// Address or DNS name.
    pub address: String,
    /// Port, when not the default.
    pub port: Option<u16>,
    /// Login user, when redgreen.yml names one (else the ssh_config's, as
    /// with plain ssh).
    pub user: Option<String>,
    /// Private key, when redgreen.yml names one.
    pub identity: Option<PathBuf>,
    /// An ssh_config file to use instead of ~/.ssh/config (test hosts).
    pub ssh_config: Option<PathBuf>,
    /// A known_hosts file to use instead of ~/.ssh/known_hosts (test hosts).
    pub known_hosts: Option<PathBuf>,
    /// How root is reached on a non-root login.
    pub become_: Become,
    /// How long to wait for the connection.
    pub connect_timeout: Duration,
    /// Accept and record the key of a host seen for the first time.
    pub accept_new_host_key: bool,
    /// Keep the connection open after redgreen ends, for the next command.
    pub keep: Option<Keep>,
}

/// A connection kept open after redgreen ends (OpenSSH's ControlPersist),
/// found again by the next redgreen of the same user and project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keep {
    /// The project's directory of kept connections (private to the user).
    pub dir: PathBuf,
    /// How long a kept connection may stay idle.
    pub idle: Duration,
}

impl Keep {
    /// Where the connections of the project at `root` are kept:
    /// `$XDG_RUNTIME_DIR/redgreen/<project>` where the user has one, else
    /// `$TMPDIR/rg-keep-<uid>/<project>`; `<project>` is a hash of the
    /// project's path.
    pub fn for_project(root: &Path, idle: Duration) -> Keep {
        use sha2::Digest;
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let digest = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
        let project: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute() && dir.is_dir())
            .map(|dir| dir.join("redgreen"))
            .unwrap_or_else(|| {
                // SAFETY: getuid has no preconditions and cannot fail.
                let uid = unsafe { libc::getuid() };
                std::env::temp_dir().join(format!("rg-keep-{uid}"))
            });
        Keep {
            dir: base.join(project),
            idle,
        }
    }
}

/// What is wrong with an address to connect to, if anything. ssh takes its
/// destination among its options, so one that starts with `-` would be read
/// as an option (`-oProxyCommand=...`); whitespace and control characters
/// are never part of a host name or an address.
pub fn address_problem(address: &str) -> Option<String> {
    if address.trim().is_empty() {
        return Some("the address is empty".into());
    }
    if address.starts_with('-') {
        return Some(format!(
            "the address '{}' starts with '-', which ssh would read as an option",
            crate::output::shown(address)
        ));
    }
    if let Some(c) = address
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return Some(format!(
            "the address '{}' holds {}, which no host name or address has",
            crate::output::shown(address),
            if c.is_control() {
                "a control character"
            } else {
                "whitespace"
            }
        ));
    }
    None
}

impl Connection {
    /// True when scripts that need root must go through sudo for a login as
    /// `login` (the user ssh logs in as).
    pub fn needs_sudo(&self, login: &str) -> bool {
        self.become_ == Become::Sudo && login != "root"
    }
}

/// A transport that counts its round trips.
pub struct Counted<T> {
    inner: T,
    calls: AtomicUsize,
}

impl<T> Counted<T> {
    /// Count the runs of `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
        }
    }

    /// How many scripts were run so far.
    pub fn round_trips(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl<T: Transport> Transport for Counted<T> {
    async fn run_streaming(
        &self,
        script: &Script,
        line: OnLine<'_>,
    ) -> Result<Output, TransportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.run_streaming(script, line).await
    }

    async fn connect_tcp(&self, host: &str, port: u16) -> Result<Tunnel, TransportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.connect_tcp(host, port).await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

#[async_trait]
impl Transport for Box<dyn Transport> {
    async fn run_streaming(
        &self,
        script: &Script,
        line: OnLine<'_>,
    ) -> Result<Output, TransportError> {
        (**self).run_streaming(script, line).await
    }

    async fn connect_tcp(&self, host: &str, port: u16) -> Result<Tunnel, TransportError> {
        (**self).connect_tcp(host, port).await
    }

    async fn close(&self) {
        (**self).close().await;
    }
}

/// The exit status of a script that the host stopped when its time was up.
pub const TIMED_OUT: i32 = 124;

/// How long a host gives a script that it stopped at its timeout (TERM) to
/// end, before it kills it (KILL).
pub const KILL_AFTER: Duration = Duration::from_secs(5);

/// How much longer than a script's own timeout the controller waits before
/// it gives up on the host answering at all.
pub(crate) const GRACE: Duration = Duration::from_secs(15);

/// The command that runs a script on stdin, as root when needed. The host
/// stops the script itself when its time is up (coreutils `timeout`: TERM to
/// the script and everything it started, KILL 5 s later), so nothing it
/// started lingers after the controller stopped waiting.
pub(crate) fn shell_argv(script: &Script, sudo: bool) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    if script.as_root && sudo {
        argv.extend(["sudo", "-n", "--"].map(String::from));
    }
    argv.extend([
        "timeout".into(),
        "-k".into(),
        KILL_AFTER.as_secs().to_string(),
    ]);
    argv.push(script.timeout.as_secs().max(1).to_string());
    argv.extend(["sh", "-s"].map(String::from));
    argv
}

/// Map sudo's complaint about a password to a clear error.
pub(crate) fn check_sudo(output: &Output, user: &str) -> Result<(), TransportError> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status != 0
        && (stderr.contains("a password is required") || stderr.contains("a terminal is required"))
    {
        return Err(TransportError::SudoPassword(user.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn lines_are_handed_on_as_they_complete() {
        let seen = Mutex::new(Vec::new());
        let on_line = |l: &str| seen.lock().unwrap().push(l.to_string());
        let mut lines = LineSplitter::default();
        lines.push(b"@r0 sta", &on_line);
        assert!(seen.lock().unwrap().is_empty(), "half a line waits");
        lines.push(b"rted\n@r0 done\n@r1", &on_line);
        assert_eq!(*seen.lock().unwrap(), ["@r0 started", "@r0 done"]);
        lines.push(b" started\n", &on_line);
        assert_eq!(seen.lock().unwrap().len(), 3);
        assert_eq!(lines.bytes, b"@r0 started\n@r0 done\n@r1 started\n");
    }
}
