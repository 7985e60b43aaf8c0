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
        let session = builder
            .connect_mux(&conn.address)
            .await
            .map_err(|e| TransportError::Connect(describe(&e)))?;
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
            let mut command = session.command(argv[0]);
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
        let output = tokio::time::timeout(script.timeout, work)
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
