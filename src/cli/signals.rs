//! Signals: Ctrl-C (SIGINT), SIGTERM and SIGHUP get the same care.
//!
//! A command that can stop half-way safely (plan, converge, test, watch)
//! asks for an [`engine::Interrupt`] with [`interrupt`]: the first signal
//! sets it, and the command stops starting new work, lets the scripts that
//! run finish (or time out), closes its SSH masters, prints what was done and
//! exits with 128 + the signal's number (130, 143, 129). A second signal, or
//! the first one during any other command (verify, status, ...), ends
//! redgreen at once, with that exit code, after stopping every SSH master
//! still running and removing the control directory.

use std::sync::{Arc, OnceLock};

use tokio::signal::unix::{SignalKind, signal};

use crate::engine;

/// The interrupt of the running command, when it stops gracefully.
static GRACEFUL: OnceLock<Arc<engine::Interrupt>> = OnceLock::new();

/// The interrupt that the first signal sets; the command that asks for it
/// stops gracefully instead of at once.
pub(crate) fn interrupt() -> Arc<engine::Interrupt> {
    GRACEFUL
        .get_or_init(|| Arc::new(engine::Interrupt::default()))
        .clone()
}

/// True when a signal stopped the running command gracefully.
pub(crate) fn interrupted() -> bool {
    GRACEFUL.get().is_some_and(|interrupt| interrupt.is_set())
}

/// Listen for SIGINT, SIGTERM and SIGHUP for the rest of the run.
pub(crate) fn listen() {
    let streams = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ]
    .map(signal);
    let [Ok(mut int), Ok(mut term), Ok(mut hup)] = streams else {
        crate::errln!("warning: cannot listen for signals; Ctrl-C ends redgreen at once");
        return;
    };
    tokio::spawn(async move {
        loop {
            let number = tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
                _ = hup.recv() => libc::SIGHUP,
            };
            let name = match number {
                libc::SIGINT => "interrupted (Ctrl-C)",
                libc::SIGTERM => "terminated (SIGTERM)",
                _ => "hung up (SIGHUP)",
            };
            match GRACEFUL.get() {
                Some(interrupt) if !interrupt.is_set() => {
                    interrupt.trigger(number);
                    let again = if number == libc::SIGINT {
                        "Ctrl-C again"
                    } else {
                        "a second signal"
                    };
                    let message = format!(
                        "{name}: finishing the scripts that are running; {again} to quit at once\n"
                    );
                    // Above the spinners, which clear their lines (and the
                    // terminal's `^C` with them); else after the `^C`.
                    if !crate::output::above_progress(|| crate::output::eprint(&message)) {
                        crate::output::eprint(&format!("\n{message}"));
                    }
                }
                _ => {
                    crate::errln!("\n{name}: stopping now, closing the SSH connections");
                    crate::transport::ssh::close_kept();
                    crate::transport::ssh::close_all();
                    std::process::exit(128 + number);
                }
            }
        }
    });
}
