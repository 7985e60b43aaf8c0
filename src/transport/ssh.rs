//! SSH through the system OpenSSH client (so ~/.ssh/config, agents, ProxyJump
//! and certificates work), with one master connection per host and every
//! script a channel on it (native multiplexing).

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use openssh::{ControlPersist, ForwardType, KnownHosts, Session, SessionBuilder, Socket, Stdio};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use super::{
    Connection, Output, Script, Transport, TransportError, Tunnel, check_sudo, shell_argv,
};

/// sshd's default MaxSessions is 10: stay below it on one connection.
const MAX_CHANNELS: usize = 8;

/// How often a session that sshd refused is asked for again (about 3 s in all).
const SESSION_RETRIES: u64 = 16;

/// A transport over one multiplexed SSH connection.
pub struct SshTransport {
    session: Mutex<Option<std::sync::Arc<Session>>>,
    channels: Semaphore,
    sudo: bool,
    user: String,
}

impl SshTransport {
    /// Open the master connection.
    pub async fn connect(conn: &Connection) -> Result<SshTransport, TransportError> {
        // The openssh crate puts the destination after ssh's options with no
        // `--`: an address that looks like an option never gets that far.
        if let Some(problem) = super::address_problem(&conn.address) {
            return Err(TransportError::Connect(problem));
        }
        let mut builder = SessionBuilder::default();
        builder
            .known_hosts_check(if conn.accept_new_host_key {
                KnownHosts::Add
            } else {
                KnownHosts::Strict
            })
            .connect_timeout(conn.connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(std::env::temp_dir())
            // The master exits by itself if redgreen dies without closing it.
            .control_persist(ControlPersist::IdleFor(
                NonZeroUsize::new(60).expect("non-zero"),
            ));
        if let Some(user) = &conn.user {
            builder.user(user.clone());
        }
        if let Some(port) = conn.port {
            builder.port(port);
        }
        if let Some(identity) = &conn.identity {
            builder.keyfile(identity);
        }
        if let Some(config) = &conn.ssh_config {
            builder.config_file(config);
        }
        if let Some(known_hosts) = &conn.known_hosts {
            builder.user_known_hosts_file(known_hosts);
        }
        // sshd's MaxStartups drops connections beyond its limit of
        // unauthenticated ones (many hosts behind one bastion, or one sshd for
        // many names): such a refusal is retried with a growing, jittered wait.
        let mut attempt = 0u32;
        let session = loop {
            match builder.connect_mux(&conn.address).await {
                Ok(session) => break session,
                Err(e) => {
                    let said = describe(&e);
                    attempt += 1;
                    if attempt >= CONNECT_ATTEMPTS || !is_refused_at_startup(&said) {
                        return Err(connect_error(&said, conn));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        };
        Ok(SshTransport {
            session: Mutex::new(Some(std::sync::Arc::new(session))),
            channels: Semaphore::new(MAX_CHANNELS),
            sudo: conn.needs_sudo(),
            user: conn.user_shown().to_string(),
        })
    }

    fn session(&self) -> Result<std::sync::Arc<Session>, TransportError> {
        self.session
            .lock()
            .expect("session lock")
            .clone()
            .ok_or_else(|| TransportError::Lost("the connection was closed".into()))
    }
}

/// How many times a connection refused at startup is tried.
const CONNECT_ATTEMPTS: u32 = 7;

/// True when sshd closed the connection before the key exchange: what it
/// does to connections beyond MaxStartups.
fn is_refused_at_startup(ssh_says: &str) -> bool {
    ssh_says.contains("kex_exchange_identification")
        || ssh_says.contains("Connection reset by peer")
        || ssh_says.contains("Connection closed by remote host")
}

/// 0.1 s, 0.2 s, 0.4 s, ... with up to 50% jitter so retries spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 100u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    Duration::from_millis(base + nanos % (base / 2 + 1))
}

/// A connection error in words that say what to do, for the usual causes.
fn connect_error(ssh_says: &str, conn: &Connection) -> TransportError {
    let address = &conn.address;
    let known_as = match conn.port {
        Some(port) if port != 22 => format!("'[{address}]:{port}'"),
        _ => address.clone(),
    };
    // ssh names the file that holds the old key; else it is ours, or the user's.
    let offending = ssh_says
        .lines()
        .find_map(|l| l.trim().strip_prefix("Offending "))
        .and_then(|rest| rest.split(" key in ").nth(1))
        .and_then(|place| place.rsplit_once(':').map(|(file, _)| file.to_string()));
    let known_hosts = offending.unwrap_or_else(|| {
        conn.known_hosts.as_ref().map_or_else(
            || "your known_hosts".to_string(),
            |p| p.display().to_string(),
        )
    });
    if ssh_says.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || ssh_says.contains("has changed and you have requested strict checking")
    {
        let fix = if conn.ssh_config.is_some() && conn.known_hosts.is_some() {
            format!(
                "if the test host was recreated outside redgreen, recreate it with `redgreen hosts destroy {0} && redgreen hosts create {0}`",
                conn.name
            )
        } else {
            format!(
                "if the host was reinstalled, check its new key's fingerprint, remove the old key with `ssh-keygen -f {known_hosts} -R {known_as}` and connect again with --accept-new-host-keys"
            )
        };
        return TransportError::HostKey(format!(
            "the host key of {address} has changed: it is not the key recorded in {known_hosts}; redgreen refuses to connect (someone may be in the middle); {fix}"
        ));
    }
    if ssh_says.contains("host key is known for")
        || ssh_says.contains("Host key verification failed")
    {
        return TransportError::HostKey(format!(
            "no host key is known for {address} in {known_hosts}; check the host's fingerprint, then run again with --accept-new-host-keys to record it"
        ));
    }
    TransportError::Connect(ssh_says.trim().to_string())
}

/// The whole chain of an openssh error, with ssh's own words where it has them.
fn describe(err: &openssh::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !cause_text.is_empty() && !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(cause_text.trim());
        }
        source = cause.source();
    }
    text
}

#[async_trait]
impl Transport for SshTransport {
    async fn run(&self, script: &Script) -> Result<Output, TransportError> {
        let session = self.session()?;
        let _channel = self.channels.acquire().await.expect("semaphore open");
        let argv = shell_argv(script, self.sudo);
        let work = async {
            let mut command = session.command(argv[0].as_str());
            command
                .args(&argv[1..])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            // sshd counts a channel until its close is acknowledged, so a burst
            // of short commands can briefly exceed MaxSessions although at most
            // MAX_CHANNELS are open here: sshd refuses the session, and nothing
            // has run yet, so wait a moment and ask again.
            let mut attempt = 0u64;
            let mut child = loop {
                match command.spawn().await {
                    Ok(child) => break child,
                    Err(e) => {
                        let text = describe(&e);
                        attempt += 1;
                        if !text.contains("open refused") || attempt > SESSION_RETRIES {
                            return Err(TransportError::Lost(text));
                        }
                        tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                    }
                }
            };
            if let Some(mut stdin) = child.stdin().take() {
                stdin
                    .write_all(script.text.as_bytes())
                    .await
                    .map_err(|e| TransportError::Lost(format!("sending the script: {e}")))?;
                stdin
                    .shutdown()
                    .await
                    .map_err(|e| TransportError::Lost(format!("sending the script: {e}")))?;
            }
            let output = child
                .wait_with_output()
                .await
                .map_err(|e| TransportError::Lost(describe(&e)))?;
            Ok::<_, TransportError>(Output {
                status: exit_code(&output.status),
                stdout: output.stdout,
                stderr: output.stderr,
            })
        };
        let output = tokio::time::timeout(script.timeout + super::GRACE, work)
            .await
            .map_err(|_| TransportError::Timeout(script.timeout))??;
        if self.sudo && script.as_root {
            check_sudo(&output, &self.user)?;
        }
        Ok(output)
    }

    /// A local forward from a fresh Unix socket to `host:port` on the far
    /// side, over the master connection: connect to the socket, then cancel
    /// the forward (the connection made through it stays open).
    async fn connect_tcp(&self, host: &str, port: u16) -> Result<Tunnel, TransportError> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let session = self.session()?;
        let _channel = self.channels.acquire().await.expect("semaphore open");
        let path = std::env::temp_dir().join(format!(
            "rg-fwd-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&path);
        // sshd resolves the name; IPv6 literals go without brackets.
        let remote = host.trim_start_matches('[').trim_end_matches(']');
        let listen = || Socket::UnixSocket {
            path: path.as_path().into(),
        };
        let connect = || Socket::TcpSocket {
            host: remote.into(),
            port,
        };
        let what = format!("{host}:{port}");
        session
            .request_port_forward(ForwardType::Local, listen(), connect())
            .await
            .map_err(|e| TransportError::Forward(format!("{what}: {}", describe(&e))))?;
        let stream = tokio::net::UnixStream::connect(&path).await;
        let _ = session
            .close_port_forward(ForwardType::Local, listen(), connect())
            .await;
        let _ = std::fs::remove_file(&path);
        let stream = stream.map_err(|e| TransportError::Forward(format!("{what}: {e}")))?;
        Ok(Box::pin(stream))
    }

    async fn close(&self) {
        let session = self.session.lock().expect("session lock").take();
        if let Some(session) = session {
            match std::sync::Arc::try_unwrap(session) {
                Ok(session) => {
                    let _ = session.close().await;
                }
                // A script still holds the session (it is being cancelled):
                // dropping the last reference closes the master.
                Err(shared) => drop(shared),
            }
        }
    }
}

pub(crate) fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}
