//! What the engine says while it works: one typed event per step of a
//! host's work, for the reporters to show (a spinner per host, a line per
//! resource). The engine never prints.

use super::{HostReport, Status};

/// One step of a host's work.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Opening the connection.
    Connecting {
        /// The host.
        host: &'a str,
    },
    /// Running the probe (round trip 1).
    Probing {
        /// The host.
        host: &'a str,
    },
    /// Writing the ledger, when nothing else changes.
    Recording {
        /// The host.
        host: &'a str,
    },
    /// Running the apply script (round trip 2).
    Applying {
        /// The host.
        host: &'a str,
        /// How many resources change.
        changes: usize,
    },
    /// A resource (or handler) of the apply script started on the host.
    ResourceStarted {
        /// The host.
        host: &'a str,
        /// The resource's title (`package nginx`).
        resource: &'a str,
    },
    /// A resource (or handler) of the apply script ended on the host.
    ResourceDone {
        /// The host.
        host: &'a str,
        /// The resource's title.
        resource: &'a str,
        /// How it ended: changed, ok (nothing to do after all) or failed.
        status: Status,
        /// How long it ran, as seen from the controller.
        seconds: f64,
    },
    /// The host is done.
    Done(&'a HostReport),
    /// The features that a host's held removals wait for (`after:`) ran:
    /// the removals come next, or, when they failed, never.
    Gate {
        /// The host.
        host: &'a str,
        /// What the removals wait for, as written in `after:`.
        features: &'a str,
        /// The scenarios that failed; empty when they passed.
        failed: &'a str,
    },
}

/// Where events go: a reporter's closure, or [`quiet`].
pub type Listener<'a> = &'a (dyn Fn(Event<'_>) + Sync);

/// A listener that shows nothing.
pub fn quiet(_: Event<'_>) {}
