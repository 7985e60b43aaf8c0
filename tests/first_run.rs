//! The first run on a fresh machine: when a base image must be built and no
//! bootstrap tool is installed, redgreen installs mmdebstrap with apt-get by
//! itself (as root, on Debian or Ubuntu), saying so on one line; with
//! `--no-install`, or when it is not root, it stops and says what to install.
//!
//! "A fresh machine" is a container of the test-host image (Debian 12, apt,
//! no mmdebstrap, no debootstrap) running the real redgreen binary. There is
//! no Docker inside it: the image is built up to the point where it would be
//! imported, from a mirror that answers nothing, so the test proves the
//! install and that the bootstrap then ran with the tool it installed.

mod common;

use std::process::Command;

/// Run `script` with sh in a fresh container of the test-host image, with
/// the redgreen binary at /usr/local/bin/redgreen, as `user`.
fn in_fresh_machine(user: &str, script: &str) -> (i32, String) {
    let binary = env!("CARGO_BIN_EXE_redgreen");
    let output = Command::new("docker")
        .args(["run", "--rm", "--user", user, "--entrypoint", "sh", "-v"])
        .arg(format!("{binary}:/usr/local/bin/redgreen:ro"))
        .args([common::IMAGE, "-c", script])
        .output()
        .expect("docker runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// Build an image from a mirror that does not answer: the tool runs and fails.
const BOOTSTRAP: &str =
    "redgreen image bootstrap debian:bookworm --force --mirror http://127.0.0.1:9/debian";

#[test]
fn as_root_on_debian_it_installs_mmdebstrap_itself_and_says_so() {
    let script = format!(
        "command -v mmdebstrap debootstrap && exit 99; {BOOTSTRAP}; echo \"exit=$?\"; command -v mmdebstrap"
    );
    let (code, out) = in_fresh_machine("root", &script);
    assert_eq!(code, 0, "mmdebstrap is not installed afterwards:\n{out}");
    let said: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("installing mmdebstrap with apt-get"))
        .collect();
    assert_eq!(said.len(), 1, "one line says what is installed:\n{out}");
    assert!(out.contains("/usr/bin/mmdebstrap"), "{out}");
    assert!(
        !out.contains("neither mmdebstrap nor debootstrap"),
        "it went on with the tool it installed:\n{out}"
    );
    // The build ran (and failed on the silent mirror or at the import, as
    // there is no Docker in this machine), so the exit status is a failure.
    assert!(out.contains("exit=1"), "{out}");
}

#[test]
fn no_install_or_not_root_stops_with_what_to_install() {
    // Both end before apt-get: nothing is downloaded.
    let script = format!(
        "{BOOTSTRAP} --no-install; echo \"exit=$?\"; command -v mmdebstrap || echo not-installed"
    );
    let (_, out) = in_fresh_machine("root", &script);
    assert!(
        out.contains("neither mmdebstrap nor debootstrap is installed; install one (apt-get install mmdebstrap) (not installing it: --no-install)"),
        "{out}"
    );
    assert!(!out.contains("installing mmdebstrap with apt-get"), "{out}");
    assert!(
        out.contains("exit=1") && out.contains("not-installed"),
        "{out}"
    );

    let script = format!("{BOOTSTRAP}; echo \"exit=$?\"");
    let (_, out) = in_fresh_machine("65534:65534", &script);
    assert!(
        out.contains("neither mmdebstrap nor debootstrap is installed")
            && out.contains("only when it runs as root"),
        "{out}"
    );
    assert!(out.contains("exit=1"), "{out}");
}
