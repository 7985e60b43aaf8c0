//! redgreen: test-driven infrastructure provisioning.
//!
//! Users write Gherkin features that say how a server must look, declarative
//! YAML recipes that make it so, and let redgreen converge the servers over
//! SSH until the features pass. This crate is both the `redgreen` binary and
//! the library behind it; the layout follows the architecture:
//!
//! * [`config`] loads and validates `redgreen.yml`, recipes and templates,
//! * [`recipe`] is the typed model of recipes and resources (pure data),
//! * [`resource`] turns each resource into probe and apply shell snippets,
//! * [`template`] renders handlebars,
//! * [`engine`] plans and applies across hosts,
//! * [`transport`] runs commands (SSH or local),
//! * [`driver`] creates and destroys throw-away test hosts,
//! * [`verify`] runs Gherkin features against hosts (cucumber, the step library),
//! * [`report`] prints results,
//! * [`schema`] is the JSON Schema of redgreen.yml and recipes, for editors,
//! * [`cli`] is the command line, a thin layer over the above,
//! * [`output`] is how everything is printed (masked, escaped, never a panic).

// Everything is printed through `output` (masked, escaped, a closed pipe is
// not a panic); `print!` and friends would bypass it.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod driver;
pub mod engine;
pub mod files;
pub mod output;
pub mod recipe;
pub mod report;
pub mod resource;
pub mod schema;
pub mod secrets;
pub mod shell;
pub mod template;
pub mod transport;
pub mod verify;
pub mod workflow;

/// Process exit codes, as promised in the specification.
pub mod exit {
    /// Everything converged, passed and stayed idempotent.
    pub const OK: i32 = 0;
    /// A resource failed, a scenario failed or an idempotence check failed.
    pub const FAILED: i32 = 1;
    /// Bad input or configuration; nothing was touched.
    pub const BAD_INPUT: i32 = 2;
    /// A host could not be reached.
    pub const UNREACHABLE: i32 = 3;
    /// Interrupted (Ctrl-C).
    pub const INTERRUPTED: i32 = 130;
}
