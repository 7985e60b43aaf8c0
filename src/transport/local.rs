//! Running scripts on this machine (`--connection local`), through the same
//! interface as SSH.

use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{OnLine, Output, Script, Transport, TransportError, Tunnel, check_sudo, shell_argv};

/// A transport that runs scripts with the local `sh`.
pub struct LocalTransport {
    sudo: bool,
    user: String,
}

impl LocalTransport {
    /// Run as the current user; scripts that need root use `sudo -n` unless
    /// the current user is root.
    pub fn new() -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        // Whether we already are root decides if root scripts need sudo.
        let is_root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        Self {
            sudo: !is_root,
            user,
        }
    }
}

impl Default for LocalTransport {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Transport for LocalTransport {
    async fn run_streaming(
        &self,
        script: &Script,
        line: OnLine<'_>,
    ) -> Result<Output, TransportError> {
        let argv = shell_argv(script, self.sudo);
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Connect(format!("cannot start sh: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.text.as_bytes())
                .await
                .map_err(|e| TransportError::Lost(format!("sending the script: {e}")))?;
            drop(stdin);
        }
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let work = async {
            let (stdout, stderr) =
                tokio::join!(super::read_lines(stdout, line), super::read_all(stderr));
            let status = child.wait().await?;
            Ok::<_, std::io::Error>(Output {
                status: super::exit_code(&status),
                stdout: stdout?,
                stderr: stderr?,
            })
        };
        let output = tokio::time::timeout(script.timeout + super::GRACE, work)
            .await
            .map_err(|_| TransportError::Timeout(script.timeout))?
            .map_err(|e| TransportError::Lost(e.to_string()))?;
        if self.sudo && script.as_root {
            check_sudo(&output, &self.user)?;
        }
        Ok(output)
    }

    async fn connect_tcp(&self, host: &str, port: u16) -> Result<Tunnel, TransportError> {
        let remote = host.trim_start_matches('[').trim_end_matches(']');
        let stream = tokio::net::TcpStream::connect((remote, port))
            .await
            .map_err(|e| TransportError::Forward(format!("{host}:{port}: {e}")))?;
        Ok(Box::pin(stream))
    }

    async fn close(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_a_script_from_stdin() {
        let transport = LocalTransport::new();
        let mut script = Script::root("echo hello; echo oops >&2; exit 3");
        script.as_root = false;
        let output = transport.run(&script).await.unwrap();
        assert_eq!(output.status, 3);
        assert_eq!(output.stdout_text(), "hello\n");
        assert_eq!(output.stderr_text(), "oops\n");
    }
}
