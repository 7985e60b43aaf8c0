//! SSH through the system OpenSSH client (so ~/.ssh/config, agents, ProxyJump
//! and certificates work), with one master connection per host and every
//! script a channel on it (native multiplexing).
//!
//! Every master's control socket lives in one directory of this process
//! (`$TMPDIR/rg-PID`), so that whatever ends redgreen, [`close_all`] finds
//! every master still running, stops it, and removes the directory.
//!
//! A connection with [`Keep`](super::Keep) lives in the project's directory of kept
//! connections instead: at the end redgreen leaves its master running
//! (ControlPersist: it exits after `idle` seconds unused), under a name made
//! of everything ssh would use to connect (`ssh -G`'s whole answer and the
//! known_hosts file's content), and the next redgreen of the same project
//! finds it there, asks its master whether it still runs, and skips the
//! handshake; the first script's channel shows that the master still
//! reaches the host (else a new connection replaces it, before anything
//! ran). A change to the ssh_config, the user, the port, the key or a host
//! key makes another name, so a kept connection is never used for anything
//! but exactly what it was made for. `ssh -G`'s answer is kept in the
//! master's folder too, under a name for everything it depends on
//! ([`super::ssh_inputs`]): a warm command finds its connection without
//! starting ssh.

use std::num::NonZeroUsize;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use openssh::{
    Child, ControlPersist, ForwardType, KnownHosts, Session, SessionBuilder, Socket, Stdio,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use super::{
    Connection, Keep, OnLine, Output, Script, Transport, TransportError, Tunnel, check_sudo,
    shell_argv,
};

/// sshd's default MaxSessions is 10: stay below it on one connection.
pub(crate) const MAX_CHANNELS: usize = 8;

/// How often a session that sshd refused is asked for again (about 3 s in all).
const SESSION_RETRIES: u64 = 16;

/// A transport over one multiplexed SSH connection.
pub struct SshTransport {
    session: Mutex<Option<std::sync::Arc<Session>>>,
    channels: Semaphore,
    sudo: bool,
    user: String,
    /// Leave the master running at the end (a kept connection).
    kept: bool,
    /// A kept connection found again and not yet shown to reach its host:
    /// the first script's channel shows it, or a new connection replaces it
    /// (see [`SshTransport::open`]).
    unproven: tokio::sync::Mutex<Option<Unproven>>,
}

/// What a resumed kept connection needs to be replaced by a new one.
struct Unproven {
    conn: Connection,
    resolved: Resolved,
    link: PathBuf,
}

impl SshTransport {
    /// Open the master connection.
    pub async fn connect(conn: &Connection) -> Result<SshTransport, TransportError> {
        // The openssh crate puts the destination after ssh's options with no
        // `--`: an address that looks like an option never gets that far.
        if let Some(problem) = super::address_problem(&conn.address) {
            return Err(TransportError::Connect(problem));
        }
        let keep = conn
            .keep
            .as_ref()
            .filter(|keep| match prepare_keep_dir(&keep.dir) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("not keeping connections in {}: {e}", keep.dir.display());
                    false
                }
            });
        let resolved = Resolved::of(conn, keep).await?;
        let link = keep.map(|keep| keep.dir.join(&resolved.fingerprint));
        if let Some(link) = &link
            && let Some(session) = resume(link, conn.connect_timeout).await
        {
            remember(session.control_socket());
            if let Some(keep) = keep {
                keep_answer(&keep.dir, &resolved, session.control_socket());
            }
            return Ok(SshTransport::new(
                session,
                conn,
                &resolved,
                true,
                Some(Unproven {
                    conn: conn.clone(),
                    resolved: resolved.clone(),
                    link: link.clone(),
                }),
            ));
        }
        let session = handshake(conn, &resolved, keep, link.as_deref()).await?;
        Ok(SshTransport::new(
            session,
            conn,
            &resolved,
            link.is_some(),
            None,
        ))
    }

    fn new(
        session: Session,
        conn: &Connection,
        resolved: &Resolved,
        kept: bool,
        unproven: Option<Unproven>,
    ) -> SshTransport {
        SshTransport {
            session: Mutex::new(Some(std::sync::Arc::new(session))),
            channels: Semaphore::new(MAX_CHANNELS),
            sudo: conn.needs_sudo(&resolved.user),
            user: resolved.user.clone(),
            kept,
            unproven: tokio::sync::Mutex::new(unproven),
        }
    }

    fn session(&self) -> Result<std::sync::Arc<Session>, TransportError> {
        self.session
            .lock()
            .expect("session lock")
            .clone()
            .ok_or_else(|| TransportError::Lost("the connection was closed".into()))
    }

    /// Start `argv` on its own channel. On a kept connection found again
    /// (not yet proven), the first channel is also the check that the master
    /// still reaches its host: the host confirms a channel before anything
    /// runs on it, so if it does not within the connect timeout, nothing
    /// ran; the master is stopped and a new connection made, and the channel
    /// opened there. Channels wait for that first one.
    async fn open(
        &self,
        argv: &[String],
    ) -> Result<Child<std::sync::Arc<Session>>, TransportError> {
        // The lock is held while the first channel proves the connection
        // (edition 2024: the guard lives through this block only).
        if let Some(kept) = self.unproven.lock().await.take() {
            let first =
                tokio::time::timeout(kept.conn.connect_timeout, spawn(self.session()?, argv)).await;
            let child = match first {
                Ok(Ok(child)) => child,
                _ => {
                    tracing::debug!(
                        "the kept connection to {} no longer answers: connecting again",
                        kept.conn.name
                    );
                    if let Ok(socket) = std::fs::read_link(&kept.link) {
                        forget(&kept.link, socket).await;
                    }
                    let keep = kept.conn.keep.as_ref();
                    let session =
                        handshake(&kept.conn, &kept.resolved, keep, Some(&kept.link)).await?;
                    *self.session.lock().expect("session lock") =
                        Some(std::sync::Arc::new(session));
                    spawn(self.session()?, argv).await?
                }
            };
            return Ok(child);
        }
        spawn(self.session()?, argv).await
    }
}

/// Start `argv` on a new channel of `session`. sshd counts a channel until
/// its close is acknowledged, so a burst of short commands can briefly
/// exceed MaxSessions although at most MAX_CHANNELS are open here: sshd
/// refuses the session, and nothing has run yet, so wait a moment and ask
/// again.
async fn spawn(
    session: std::sync::Arc<Session>,
    argv: &[String],
) -> Result<Child<std::sync::Arc<Session>>, TransportError> {
    let mut command = session.arc_command(argv[0].as_str());
    command
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut attempt = 0u64;
    loop {
        match command.spawn().await {
            Ok(child) => return Ok(child),
            Err(e) => {
                let text = describe(&e);
                attempt += 1;
                if !text.contains("open refused") || attempt > SESSION_RETRIES {
                    return Err(TransportError::Lost(text));
                }
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
        }
    }
}

/// A new master connection to `conn` (a handshake and a login), kept under
/// `link` when `keep` is given.
async fn handshake(
    conn: &Connection,
    resolved: &Resolved,
    keep: Option<&Keep>,
    link: Option<&Path>,
) -> Result<Session, TransportError> {
    let control_dir = match keep {
        Some(keep) => keep.dir.as_path(),
        None => control_dir().map_err(|e| {
            TransportError::Connect(format!("cannot make the control directory: {e}"))
        })?,
    };
    // The master exits by itself if redgreen dies without closing it, or
    // once a kept connection has been idle for its time.
    let idle = keep.map_or(60, |keep| keep.idle.as_secs().max(1) as usize);
    let mut builder = SessionBuilder::default();
    builder
        .known_hosts_check(if conn.accept_new_host_key {
            KnownHosts::Add
        } else {
            KnownHosts::Strict
        })
        .connect_timeout(conn.connect_timeout)
        .server_alive_interval(Duration::from_secs(15))
        .control_directory(control_dir)
        .control_persist(ControlPersist::IdleFor(
            NonZeroUsize::new(idle).expect("at least 1"),
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
        // At most HANDSHAKES at once (the wait is not part of the
        // connect timeout): see handshakes().
        let connected = {
            let _permit = handshakes().acquire().await.expect("semaphore open");
            builder.connect_mux(&conn.address).await
        };
        match connected {
            Ok(session) => break session,
            Err(e) => {
                let said = describe(&e);
                attempt += 1;
                if attempt >= CONNECT_ATTEMPTS || !is_refused_at_startup(&said) {
                    return Err(connect_error(&said, conn, resolved));
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    };
    if let (Some(link), Some(keep)) = (link, keep) {
        record_kept(link, session.control_socket());
        remember(session.control_socket());
        keep_answer(&keep.dir, resolved, session.control_socket());
    }
    Ok(session)
}

/// What ssh makes of a connection once it has read the ssh_config (`ssh
/// -G`, which connects nowhere): only what redgreen.yml names goes on the
/// command line, the rest (User, Port, HostName, UserKnownHostsFile) comes
/// from the ssh_config, as with plain ssh.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resolved {
    /// The user ssh logs in as.
    user: String,
    /// The host ssh connects to.
    hostname: String,
    /// Its port.
    port: u16,
    /// The first known_hosts file ssh reads.
    known_hosts: Option<String>,
    /// A name for exactly this connection: a hash of everything ssh would
    /// use (its whole `-G` answer) and of the known_hosts file's content.
    fingerprint: String,
    /// An answer of ssh's to keep beside the connection it names, under the
    /// name of what ssh read for it ([`ssh_inputs::key`]); `None` when it
    /// cannot be named.
    to_keep: Option<KeptAnswer>,
}

/// `ssh -G`'s answer and the name of everything it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeptAnswer {
    key: String,
    text: String,
    /// The master's folder it was read back from, if it was: kept there
    /// already, it is written again only beside another master (the one
    /// that replaces a master that ended).
    from: Option<PathBuf>,
}

impl Resolved {
    /// Ask `ssh -G`; for a connection to keep (`keep`), read the answer back
    /// from where an earlier redgreen kept it when nothing it depends on
    /// changed since.
    async fn of(conn: &Connection, keep: Option<&Keep>) -> Result<Resolved, TransportError> {
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        if let Some(config) = &conn.ssh_config {
            args.extend(["-F".into(), config.into()]);
        }
        if let Some(user) = &conn.user {
            args.extend(["-l".into(), user.into()]);
        }
        if let Some(port) = conn.port {
            args.extend(["-p".into(), port.to_string().into()]);
        }
        if let Some(known_hosts) = &conn.known_hosts {
            let mut option = std::ffi::OsString::from("UserKnownHostsFile=");
            option.push(known_hosts);
            args.extend(["-o".into(), option]);
        }
        args.extend(["--".into(), conn.address.clone().into()]);
        let named = || keep.and_then(|_| super::ssh_inputs::key(&args, conn.ssh_config.as_deref()));
        let key = named();
        let kept = keep.zip(key.as_deref()).and_then(|(keep, key)| {
            let text = std::fs::read_to_string(answer_path(&keep.dir, key)).ok()?;
            let from = std::fs::read_link(answer_link(&keep.dir, key)).ok();
            Some(KeptAnswer {
                key: key.to_string(),
                text,
                from,
            })
        });
        let (text, to_keep) = match kept {
            Some(kept) => (kept.text.clone(), Some(kept)),
            None => {
                let text = ask_ssh(&args).await?;
                // Named again after: what changed while ssh read it is not
                // kept under the name from before.
                let to_keep =
                    key.filter(|key| named().as_ref() == Some(key))
                        .map(|key| KeptAnswer {
                            key,
                            text: text.clone(),
                            from: None,
                        });
                (text, to_keep)
            }
        };
        let mut resolved = Resolved::parse(&text, conn);
        let known = resolved
            .known_hosts
            .as_deref()
            .map(
                |path| match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
                    (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
                    _ => PathBuf::from(path),
                },
            )
            .and_then(|path| known_hosts_digest(&path))
            .unwrap_or_default();
        resolved.fingerprint = fingerprint(&text, &known);
        resolved.to_keep = to_keep;
        Ok(resolved)
    }

    /// Read `ssh -G`'s output (`keyword value` lines).
    fn parse(text: &str, conn: &Connection) -> Resolved {
        let value = |key: &str| {
            text.lines().find_map(|line| {
                let (k, v) = line.split_once(' ')?;
                (k == key).then(|| v.trim().to_string())
            })
        };
        Resolved {
            user: value("user").unwrap_or_else(|| "root".into()),
            hostname: value("hostname").unwrap_or_else(|| conn.address.clone()),
            port: value("port").and_then(|p| p.parse().ok()).unwrap_or(22),
            known_hosts: value("userknownhostsfile")
                .and_then(|files| files.split_whitespace().next().map(str::to_string)),
            fingerprint: fingerprint(text, b""),
            to_keep: None,
        }
    }

    /// `192.0.2.7 port 2222`: the host as ssh reaches it.
    fn shown(&self) -> String {
        format!("{} port {}", self.hostname, self.port)
    }

    /// The name known_hosts files it under (`[host]:port` off port 22).
    fn known_as(&self) -> String {
        if self.port == 22 {
            self.hostname.clone()
        } else {
            format!("'[{}]:{}'", self.hostname, self.port)
        }
    }
}

/// `ssh -G ARGS`: what ssh makes of them and of its configuration.
async fn ask_ssh(args: &[std::ffi::OsString]) -> Result<String, TransportError> {
    let output = tokio::process::Command::new("ssh")
        .arg("-G")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| TransportError::Connect(format!("cannot run ssh: {e}")))?;
    if !output.status.success() {
        return Err(TransportError::Connect(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Where `ssh -G`'s answer for the inputs named `key` is kept: in the folder
/// of the master it named (`g-KEY` links to it), so it goes with the master.
fn answer_path(dir: &Path, key: &str) -> PathBuf {
    answer_link(dir, key).join("ssh-g")
}

/// The name in the keep directory `dir` of the master's folder that holds
/// the answer named `key`.
fn answer_link(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("g-{key}"))
}

/// Keep `resolved`'s answer beside the kept master at `socket`, if it is
/// one to keep.
fn keep_answer(dir: &Path, resolved: &Resolved, socket: &Path) {
    let (Some(answer), Some(folder)) = (&resolved.to_keep, socket.parent()) else {
        return;
    };
    if answer.from.as_deref() == Some(folder) {
        return;
    }
    let fresh = folder.join(format!("ssh-g.new-{}", std::process::id()));
    if std::fs::write(&fresh, &answer.text).is_ok()
        && std::fs::rename(&fresh, folder.join("ssh-g")).is_ok()
    {
        record_kept(&answer_link(dir, &answer.key), folder);
    } else {
        let _ = std::fs::remove_file(&fresh);
    }
}

/// How many times [`known_hosts_digest`] read a file (tests count them).
static KNOWN_HOSTS_READS: AtomicUsize = AtomicUsize::new(0);

/// SHA-256 of a known_hosts file's content (`None`: it cannot be read),
/// read once per process for as long as the file is unchanged (same inode,
/// size and modification time). Every host of a run usually names the same
/// file, which holds a line per host: reading and hashing it for each host
/// made connecting N hosts cost O(N²) (30% of redgreen's own instructions
/// for a no-op converge of 200 hosts, most of it for 1,000).
fn known_hosts_digest(path: &Path) -> Option<Vec<u8>> {
    use sha2::Digest;
    use std::os::unix::fs::MetadataExt;
    type Stamp = (u64, u64, i64, i64);
    static DIGESTS: Mutex<Vec<(PathBuf, Stamp, Vec<u8>)>> = Mutex::new(Vec::new());
    let stamp = |meta: &std::fs::Metadata| -> Stamp {
        (meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec())
    };
    let before = stamp(&std::fs::metadata(path).ok()?);
    let mut digests = DIGESTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, digest)) = digests.iter().find(|(p, s, _)| p == path && *s == before) {
        return Some(digest.clone());
    }
    KNOWN_HOSTS_READS.fetch_add(1, Ordering::SeqCst);
    let content = std::fs::read(path).ok()?;
    let digest = sha2::Sha256::digest(&content).to_vec();
    digests.retain(|(p, _, _)| p != path);
    // Changed while it was read: hashed, but not kept for the next host.
    if std::fs::metadata(path).is_ok_and(|meta| stamp(&meta) == before) {
        digests.push((path.to_path_buf(), before, digest.clone()));
    }
    Some(digest)
}

/// The name of a kept connection: 16 bytes of SHA-256 over ssh's `-G`
/// answer and the known_hosts file's digest, in hex.
fn fingerprint(ssh_g: &str, known_hosts: &[u8]) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(ssh_g.as_bytes());
    hash.update([0]);
    hash.update(known_hosts);
    super::ssh_inputs::name_of(hash)
}

/// The control sockets of kept connections this process made or used: a
/// signal that ends redgreen stops their masters too.
static KEPT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn remember(socket: &Path) {
    KEPT.lock().expect("kept lock").push(socket.to_path_buf());
}

/// [`prepare_keep_dir_now`], once per directory and process: every host of
/// a run connects through it, and the check and the sweep (a look at every
/// entry) need not be repeated for each.
fn prepare_keep_dir(dir: &Path) -> std::io::Result<()> {
    static PREPARED: Mutex<Vec<(PathBuf, Result<(), String>)>> = Mutex::new(Vec::new());
    let mut prepared = PREPARED.lock().unwrap_or_else(|e| e.into_inner());
    let outcome = match prepared.iter().find(|(d, _)| d == dir) {
        Some((_, outcome)) => outcome.clone(),
        None => {
            let outcome = prepare_keep_dir_now(dir).map_err(|e| e.to_string());
            prepared.push((dir.to_path_buf(), outcome.clone()));
            outcome
        }
    };
    outcome.map_err(std::io::Error::other)
}

/// Make the directory of kept connections (and its parent) private to this
/// user, or refuse one that is not: a link, another user's, or open to
/// others. Sweeps what masters that ended left behind.
fn prepare_keep_dir_now(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let parent = dir.parent().unwrap_or(dir);
    for path in [parent, dir] {
        match std::fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let meta = std::fs::symlink_metadata(path)?;
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
            return Err(std::io::Error::other(format!(
                "{} must be a directory of user {uid} that only it can use (mode 0700)",
                path.display()
            )));
        }
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
        // A master's folder is made before its master listens (another host
        // of this run, or another redgreen, may be connecting right now):
        // only one older than any connect can take is left over.
        let settled = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > SETTLED));
        // A name whose master is gone, or a master's folder whose master is
        // gone (its socket answers no more, or was removed).
        if (is_link && !path.exists()) || (!is_link && settled && !answers(&path.join("master"))) {
            if is_link {
                let _ = std::fs::remove_file(&path);
            } else {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
    Ok(())
}

/// How old a master's folder must be before a sweep may take it for a
/// leftover: longer than any connect (with its retries) takes.
const SETTLED: Duration = Duration::from_secs(300);

/// Name a kept connection's control socket (or its folder) `link`
/// (replacing an older one at once, so another redgreen never sees half a
/// name).
fn record_kept(link: &Path, target: &Path) {
    let fresh = link.with_extension(format!("new-{}", std::process::id()));
    let _ = std::fs::remove_file(&fresh);
    if std::os::unix::fs::symlink(target, &fresh).is_ok() && std::fs::rename(&fresh, link).is_err()
    {
        let _ = std::fs::remove_file(&fresh);
    }
}

/// The kept connection named `link`, if its master is running (a local
/// question to the master, no round trip); else it is forgotten. Whether the
/// master still reaches its host (it can outlive the other end: a host that
/// rebooted) is shown by the first script ([`SshTransport::open`]).
async fn resume(link: &Path, timeout: Duration) -> Option<Session> {
    let socket = std::fs::read_link(link).ok()?;
    let session = Session::resume_mux(socket.clone().into_boxed_path(), None);
    if tokio::time::timeout(timeout, session.check())
        .await
        .is_ok_and(|checked| checked.is_ok())
    {
        return Some(session);
    }
    forget(link, socket).await;
    None
}

/// Stop the master of the kept connection `link` names, and remove the name.
/// A master that no longer listens (killed, its socket left behind) is not
/// asked to stop: `ssh -O` would find nothing there either, at the cost of
/// two ssh processes per host.
async fn forget(link: &Path, socket: PathBuf) {
    let _ = tokio::task::spawn_blocking(move || {
        if answers(&socket) {
            stop_master(&socket);
        }
    })
    .await;
    let _ = std::fs::remove_file(link);
}

/// True when a master listens on the control socket `socket` (a master
/// that was killed leaves its socket file behind, answering nothing).
fn answers(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// Stop every kept connection under `dir` and remove the directory
/// (`redgreen disconnect`); returns how many were running.
pub fn close_kept_in(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut stopped = 0;
    for entry in entries.flatten() {
        let socket = entry.path().join("master");
        if entry.file_type().is_ok_and(|t| t.is_dir()) && answers(&socket) {
            stop_master(&socket);
            stopped += 1;
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    stopped
}

/// Stop the masters of the kept connections this process used: a signal
/// ended it, and what it was doing on them was cut short.
pub fn close_kept() {
    let kept = std::mem::take(&mut *KEPT.lock().unwrap_or_else(|e| e.into_inner()));
    for socket in kept {
        if socket.exists() {
            stop_master(&socket);
        }
    }
}

/// This process's directory for control sockets, made (private) on first use.
fn control_dir() -> std::io::Result<&'static Path> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    if let Some(dir) = DIR.get() {
        return Ok(dir);
    }
    let dir = std::env::temp_dir().join(format!("rg-{}", std::process::id()));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        // Left by an earlier process with this id: ours now.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Err(e) => return Err(e),
    }
    Ok(DIR.get_or_init(|| dir))
}

/// Stop every SSH master this process still has and remove its control
/// directory; waits (a little) for each master to be gone. Called when
/// redgreen ends, also when a signal ends it at once: the masters of hosts
/// whose work was cut short exit with it instead of idling for a minute.
pub fn close_all() {
    let dir = std::env::temp_dir().join(format!("rg-{}", std::process::id()));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let socket = entry.path().join("master");
        if socket.exists() {
            stop_master(&socket);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ssh -O exit` on a control socket, then wait up to 2 s for the master.
fn stop_master(socket: &Path) {
    let ssh = |operation: &str| {
        std::process::Command::new("ssh")
            .args(["-F", "/dev/null", "-S"])
            .arg(socket)
            .args(["-O", operation, "redgreen"])
            .stdin(std::process::Stdio::null())
            .output()
            .ok()
    };
    // "Master running (pid=1234)"
    let pid = ssh("check").and_then(|out| {
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        said.split("pid=")
            .nth(1)?
            .split(')')
            .next()?
            .trim()
            .parse::<i32>()
            .ok()
    });
    ssh("exit");
    if let Some(pid) = pid {
        // Gone, or a zombie waiting for whoever adopted it.
        let gone = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
                stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z'))
            })
        };
        for _ in 0..200 {
            if gone() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// How many SSH handshakes one redgreen makes at once, per CPU core.
const HANDSHAKES_PER_CORE: usize = 16;

/// The key exchange and login cost CPU on the controller (OpenSSH's default
/// post-quantum exchange about 0.1 s per connection on the benchmark's
/// machine) and on a host whose sshd starts a process for each. Started all
/// at once, 1,000 handshakes on 2 cores each take as long as all of them
/// together, and ssh's ConnectTimeout (10 s) ends them: hosts reported
/// unreachable that were only queued behind the others. A limit of 16 per
/// core keeps each handshake's time near its own cost and the CPU busy; a
/// host waits for its turn without its timeout running.
fn handshakes() -> &'static Semaphore {
    static HANDSHAKES: OnceLock<Semaphore> = OnceLock::new();
    HANDSHAKES.get_or_init(|| {
        Semaphore::new(handshake_limit(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ))
    })
}

/// [`HANDSHAKES_PER_CORE`] for each of `cores`.
fn handshake_limit(cores: usize) -> usize {
    HANDSHAKES_PER_CORE * cores.max(1)
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
fn connect_error(ssh_says: &str, conn: &Connection, resolved: &Resolved) -> TransportError {
    let host = resolved.shown();
    let known_as = resolved.known_as();
    // ssh names the file that holds the old key; else it is the one ssh reads.
    let offending = ssh_says
        .lines()
        .find_map(|l| l.trim().strip_prefix("Offending "))
        .and_then(|rest| rest.split(" key in ").nth(1))
        .and_then(|place| place.rsplit_once(':').map(|(file, _)| file.to_string()));
    let known_hosts = offending
        .or_else(|| conn.known_hosts.as_ref().map(|p| p.display().to_string()))
        .or_else(|| resolved.known_hosts.clone())
        .unwrap_or_else(|| "your known_hosts".to_string());
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
            "the host key of {host} has changed: it is not the key recorded in {known_hosts}; redgreen refuses to connect (someone may be in the middle); {fix}"
        ));
    }
    if ssh_says.contains("host key is known for")
        || ssh_says.contains("Host key verification failed")
    {
        return TransportError::HostKey(format!(
            "no host key is known for {host} in {known_hosts} (first contact); compare the key's fingerprint with the one the host itself shows (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on its console), then run again with --accept-new-host-keys to record it"
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
    async fn run_streaming(
        &self,
        script: &Script,
        line: OnLine<'_>,
    ) -> Result<Output, TransportError> {
        let _channel = self.channels.acquire().await.expect("semaphore open");
        let argv = shell_argv(script, self.sudo);
        let work = async {
            let mut child = self.open(&argv).await?;
            // The script goes in while its output comes out, so that neither
            // side waits on a full pipe.
            let stdin = child.stdin().take();
            let send = async {
                if let Some(mut stdin) = stdin {
                    stdin.write_all(script.text.as_bytes()).await?;
                    stdin.shutdown().await?;
                }
                Ok::<_, std::io::Error>(())
            };
            let (sent, stdout, stderr) = tokio::join!(
                send,
                super::read_lines(child.stdout().take(), line),
                super::read_all(child.stderr().take())
            );
            sent.map_err(|e| TransportError::Lost(format!("sending the script: {e}")))?;
            let read = |e: std::io::Error| TransportError::Lost(format!("reading the output: {e}"));
            let (stdout, stderr) = (stdout.map_err(read)?, stderr.map_err(read)?);
            let status = match child.wait().await {
                Ok(status) => super::exit_code(&status),
                // openssh reports exit status 127 as an error of its own: it
                // is the script's result (a command it ran was not found),
                // not a broken connection.
                Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    COMMAND_NOT_FOUND
                }
                Err(e) => return Err(TransportError::Lost(describe(&e))),
            };
            Ok::<_, TransportError>(Output {
                status,
                stdout,
                stderr,
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
        let _channel = self.channels.acquire().await.expect("semaphore open");
        // A forward asks the host nothing until it is used, and fails then
        // like a port that is closed: a kept connection that no script has
        // proven yet is proven with an empty command first (else replaced).
        if self.unproven.lock().await.is_some() {
            let child = self.open(&["true".to_string()]).await?;
            let _ = child.wait().await;
        }
        let session = self.session()?;
        let path = control_dir()
            .map_err(|e| TransportError::Forward(format!("{host}:{port}: {e}")))?
            .join(format!("fwd-{}.sock", NEXT.fetch_add(1, Ordering::SeqCst)));
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
                // Kept for the next redgreen: its master stays.
                Ok(session) if self.kept => {
                    let _ = session.detach();
                }
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

/// The exit status of a shell whose last command was not found.
const COMMAND_NOT_FOUND: i32 = 127;

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        Connection {
            name: "web1".into(),
            address: "web1-alias".into(),
            port: None,
            user: None,
            identity: None,
            ssh_config: None,
            known_hosts: None,
            become_: crate::transport::Become::Sudo,
            connect_timeout: Duration::from_secs(10),
            accept_new_host_key: false,
            keep: None,
        }
    }

    #[tokio::test]
    async fn handshakes_wait_for_a_turn_beyond_the_limit() {
        assert_eq!(handshake_limit(2), 32);
        assert_eq!(handshake_limit(0), HANDSHAKES_PER_CORE);
        let limit = handshake_limit(std::thread::available_parallelism().map_or(1, |n| n.get()));
        assert_eq!(handshakes().available_permits(), limit);
        let held: Vec<_> = futures::future::join_all((0..limit).map(|_| handshakes().acquire()))
            .await
            .into_iter()
            .map(|p| p.expect("open"))
            .collect();
        // One more waits until a handshake ends.
        assert!(handshakes().try_acquire().is_err());
        drop(held);
        assert_eq!(handshakes().available_permits(), limit);
    }

    #[test]
    fn a_known_hosts_file_is_read_once_while_it_is_unchanged() {
        use sha2::Digest;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, "192.0.2.1 ssh-ed25519 AAAA\n").expect("write");
        let reads = KNOWN_HOSTS_READS.load(Ordering::SeqCst);
        let first = known_hosts_digest(&path).expect("readable");
        assert_eq!(
            first,
            sha2::Sha256::digest(b"192.0.2.1 ssh-ed25519 AAAA\n").to_vec()
        );
        // 1,000 hosts naming the same file: one read.
        for _ in 0..999 {
            assert_eq!(known_hosts_digest(&path).as_ref(), Some(&first));
        }
        assert_eq!(KNOWN_HOSTS_READS.load(Ordering::SeqCst) - reads, 1);
        // A host key added or changed is seen at once.
        std::fs::write(
            &path,
            "192.0.2.1 ssh-ed25519 BBBB\n192.0.2.2 ssh-ed25519 CCCC\n",
        )
        .expect("write");
        let second = known_hosts_digest(&path).expect("readable");
        assert_ne!(second, first);
        let replaced = dir.path().join("known_hosts.new");
        std::fs::write(
            &replaced,
            "192.0.2.1 ssh-ed25519 DDDD\n192.0.2.2 ssh-ed25519 CCCC\n",
        )
        .expect("write");
        std::fs::rename(&replaced, &path).expect("rename");
        let third = known_hosts_digest(&path).expect("readable");
        assert_ne!(third, second);
        assert_eq!(known_hosts_digest(&dir.path().join("missing")), None);
    }

    #[test]
    fn what_ssh_will_use_comes_from_its_own_words() {
        let said = "user deploy\nhostname 192.0.2.7\nport 2222\nuserknownhostsfile ~/.ssh/known_hosts ~/.ssh/known_hosts2\nidentityfile ~/.ssh/id_ed25519\n";
        let resolved = Resolved::parse(said, &connection());
        assert_eq!(
            resolved,
            Resolved {
                user: "deploy".into(),
                hostname: "192.0.2.7".into(),
                port: 2222,
                known_hosts: Some("~/.ssh/known_hosts".into()),
                fingerprint: fingerprint(said, b""),
                to_keep: None,
            }
        );
        // Another word of ssh's, or another host key, is another connection.
        assert_ne!(
            fingerprint(said, b""),
            fingerprint(&said.replace("2222", "2223"), b"")
        );
        assert_ne!(fingerprint(said, b""), fingerprint(said, b"host key"));
        assert_eq!(resolved.shown(), "192.0.2.7 port 2222");
        assert_eq!(resolved.known_as(), "'[192.0.2.7]:2222'");
        assert!(connection().needs_sudo(&resolved.user));
        assert!(!connection().needs_sudo("root"));

        let error = connect_error("Host key verification failed.", &connection(), &resolved);
        assert_eq!(
            error.to_string(),
            "no host key is known for 192.0.2.7 port 2222 in ~/.ssh/known_hosts (first contact); compare the key's fingerprint with the one the host itself shows (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on its console), then run again with --accept-new-host-keys to record it"
        );
    }
}
