//! The built-in step library: one short async function per phrase, grouped by
//! subject. Each builds its check through [`crate::shell::quote`], runs it in
//! one round trip, and says what it expected and what it found.
//!
//! A new phrase is one function in its subject's file plus one line in
//! [`builtin`].

pub mod command;
pub mod custom;
pub mod file;
pub mod http;
pub mod network;
pub mod package;
pub mod service;
pub mod system;
pub mod user;

use super::library::{Action, CheckFn, Keyword, Library, Phrase, Shape};

/// The family of the command-output checks: `within N seconds` runs the
/// command again before each new try.
pub const COMMANDS: &str = "Commands";

/// A [`CheckFn`] from an `async fn(&mut HostWorld, &Args) -> Verdict`.
macro_rules! check {
    ($f:path) => {{
        fn call<'a>(
            world: &'a mut $crate::verify::world::HostWorld,
            args: &'a $crate::verify::library::Args,
        ) -> futures::future::LocalBoxFuture<'a, $crate::verify::world::Verdict> {
            Box::pin($f(world, args))
        }
        call as CheckFn
    }};
}

fn phrase(family: &'static str, keyword: Keyword, text: &str, example: &str, f: CheckFn) -> Phrase {
    let shape = Shape {
        negatable: keyword == Keyword::Then,
        retryable: keyword == Keyword::Then,
    };
    Phrase::new(family, keyword, text, shape, Action::Builtin(f))
        .unwrap_or_else(|e| panic!("built-in step '{text}': {}", e.message))
        .example(example)
}

fn then(family: &'static str, text: &str, example: &str, f: CheckFn) -> Phrase {
    phrase(family, Keyword::Then, text, example, f)
}

impl Library {
    /// The built-in phrases.
    pub fn builtin() -> Library {
        Library { phrases: builtin() }
    }
}

/// Every built-in phrase, in the order `redgreen steps` lists them.
pub fn builtin() -> Vec<Phrase> {
    vec![
        then(
            "Packages",
            "the package {string} should be installed",
            r#"the package "nginx-light" should be installed"#,
            check!(package::installed),
        ),
        then(
            "Packages",
            "the package {string} should be installed at version {string}",
            r#"the package "nginx-light" should be installed at version "1.22.1-9""#,
            check!(package::installed_at_version),
        ),
        then(
            "Packages",
            "the following packages should be installed:",
            "the following packages should be installed:\n  | nginx-light |\n  | curl        |",
            check!(package::all_installed),
        )
        .table(),
        then(
            "Services",
            "the service {string} should be running",
            r#"the service "nginx" should be running"#,
            check!(service::running),
        ),
        then(
            "Services",
            "the service {string} should be enabled",
            r#"the service "nginx" should be enabled"#,
            check!(service::enabled),
        ),
        then(
            "Network",
            "port {int} should be listening",
            "port 80 should be listening",
            check!(network::listening),
        ),
        then(
            "Network",
            "port {int} should be listening on {string}",
            r#"port 5432 should be listening on "127.0.0.1""#,
            check!(network::listening_on),
        ),
        then(
            "Files",
            "the file {string} should exist",
            r#"the file "/etc/motd" should exist"#,
            check!(file::file_exists),
        ),
        then(
            "Files",
            "the file {string} should contain {string}",
            r#"the file "/etc/motd" should contain "Welcome""#,
            check!(file::contains),
        ),
        then(
            "Files",
            "the file {string} should match {string}",
            r#"the file "/etc/motd" should match "^Welcome to \w+""#,
            check!(file::matches),
        )
        .args_check(file::second_is_regex),
        then(
            "Files",
            "the file {string} should have mode {string}",
            r#"the file "/etc/motd" should have mode "0644""#,
            check!(file::file_mode),
        )
        .args_check(file::second_is_mode),
        then(
            "Files",
            "the file {string} should be owned by {string}",
            r#"the file "/etc/motd" should be owned by "root""#,
            check!(file::file_owner),
        ),
        then(
            "Files",
            "the file {string} should be in group {string}",
            r#"the file "/etc/motd" should be in group "root""#,
            check!(file::file_group),
        ),
        then(
            "Files",
            "the file {string} should contain:",
            "the file \"/etc/nginx/nginx.conf\" should contain:\n  \"\"\"\n  worker_processes auto;\n  \"\"\"",
            check!(file::contains_docstring),
        ),
        then(
            "Files",
            "the directory {string} should exist",
            r#"the directory "/srv/www" should exist"#,
            check!(file::directory_exists),
        ),
        then(
            "Files",
            "the directory {string} should have mode {string}",
            r#"the directory "/srv/www" should have mode "0755""#,
            check!(file::directory_mode),
        )
        .args_check(file::second_is_mode),
        then(
            "Files",
            "the directory {string} should be owned by {string}",
            r#"the directory "/srv/www" should be owned by "www-data""#,
            check!(file::directory_owner),
        ),
        then(
            "Files",
            "the directory {string} should be in group {string}",
            r#"the directory "/srv/www" should be in group "www-data""#,
            check!(file::directory_group),
        ),
        then(
            "Files",
            "the symlink {string} should point to {string}",
            r#"the symlink "/srv/app/current" should point to "/srv/app/releases/v1""#,
            check!(file::symlink_points_to),
        ),
        then(
            "Users and groups",
            "the user {string} should exist",
            r#"the user "deploy" should exist"#,
            check!(user::exists),
        ),
        then(
            "Users and groups",
            "the user {string} should have shell {string}",
            r#"the user "deploy" should have shell "/bin/bash""#,
            check!(user::shell),
        ),
        then(
            "Users and groups",
            "the user {string} should have home {string}",
            r#"the user "deploy" should have home "/home/deploy""#,
            check!(user::home),
        ),
        then(
            "Users and groups",
            "the user {string} should be in group {string}",
            r#"the user "deploy" should be in group "app""#,
            check!(user::in_group),
        ),
        then(
            "Users and groups",
            "the group {string} should exist",
            r#"the group "app" should exist"#,
            check!(user::group_exists),
        ),
        then(
            "System",
            "the kernel parameter {string} should be {string}",
            r#"the kernel parameter "net.ipv4.ip_forward" should be "1""#,
            check!(system::kernel_parameter),
        )
        .args_check(system::first_is_parameter),
        then(
            "System",
            "the process {string} should be running",
            r#"the process "nginx" should be running"#,
            check!(system::process_running),
        ),
        then(
            "System",
            "the crontab of {string} should contain {string}",
            r#"the crontab of "deploy" should contain "backup.sh""#,
            check!(system::crontab_contains),
        ),
        then(
            "HTTP",
            "{string} should respond with status {int}",
            r#""http://localhost/" should respond with status 200"#,
            check!(http::status),
        )
        .args_check(http::first_is_url),
        then(
            "HTTP",
            "{string} should respond with a body containing {string}",
            r#""http://localhost/" should respond with a body containing "Welcome""#,
            check!(http::body_contains),
        )
        .args_check(http::first_is_url),
        phrase(
            COMMANDS,
            Keyword::When,
            "I run {string}",
            r#"I run "nginx -t""#,
            check!(command::run),
        ),
        phrase(
            COMMANDS,
            Keyword::When,
            "I run {string} as {string}",
            r#"I run "whoami" as "deploy""#,
            check!(command::run_as),
        ),
        then(
            COMMANDS,
            "the command should succeed",
            "the command should succeed",
            check!(command::succeeds),
        ),
        then(
            COMMANDS,
            "the command should fail",
            "the command should fail",
            check!(command::fails),
        ),
        then(
            COMMANDS,
            "the exit status should be {int}",
            "the exit status should be 2",
            check!(command::exit_status),
        ),
        then(
            COMMANDS,
            "the output should contain {string}",
            r#"the output should contain "syntax is ok""#,
            check!(command::output_contains),
        ),
        then(
            COMMANDS,
            "the output should match {string}",
            r#"the output should match "^ok""#,
            check!(command::output_matches),
        )
        .args_check(command::first_is_regex),
        then(
            COMMANDS,
            "the error output should contain {string}",
            r#"the error output should contain "syntax is ok""#,
            check!(command::error_contains),
        ),
        then(
            COMMANDS,
            "the error output should match {string}",
            r#"the error output should match "test is successful$""#,
            check!(command::error_matches),
        )
        .args_check(command::first_is_regex),
    ]
}
