//! redgreen: test-driven infrastructure provisioning.
//!
//! Users write Gherkin features that say how a server must look, declarative
//! YAML recipes that make it so, and let redgreen converge the servers over
//! SSH until the features pass. This crate is both the `redgreen` binary and
//! the library behind it; the layout follows the architecture:
//!
//! * [`cli`] is the command line: it parses, builds a command's settings
//!   and calls one workflow,
//! * [`workflow`] is what each command does: the red-green cycle, watch,
//!   rollouts, status, host selection; it sequences engine and verify,
//! * [`report`] turns typed events and results into output (terminal, JSON,
//!   JUnit XML, Cucumber JSON, HTML),
//! * [`engine`] plans and applies across hosts,
//! * [`verify`] runs Gherkin features against hosts (cucumber, the step library),
//! * [`config`] loads and validates `redgreen.yml`, recipes and templates,
//! * [`resource`] holds one file per resource type (fields, checks, queries,
//!   plan, snippets) and the registry that lists them,
//! * [`template`] renders handlebars,
//! * [`recipe`] is the words recipes are written in (values with their place),
//! * [`transport`] runs commands (SSH or local); [`driver`] creates and
//!   destroys throw-away test hosts,
//! * [`schema`] is the JSON Schema of redgreen.yml and recipes, for editors,
//! * the leaves every layer may use: [`diagnostic`] (errors that point at
//!   the spot), [`files`] (the project's files), [`shell`] (quoting),
//!   [`secrets`] (masking) and [`output`] (how everything is printed).
//!
//! docs/architecture.md says what each layer may use; tests/layers.rs holds
//! it against the code.

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
