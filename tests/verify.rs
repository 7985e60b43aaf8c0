//! `redgreen verify` against a real test host (a Docker container with sshd
//! and systemd, made by the project's own driver). Each family of steps runs
//! in two states of the host: what it checks is there (every check passes),
//! and is not there (every check fails, with a message that says what was
//! expected and what was found, and every `should not` form passes).
//! The tests share one host and use names and paths of their own.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Project, Run, project_on_shared, shared};
use serde_json::Value;

/// Run a shell command on the shared test host.
fn ssh(command: &str) -> String {
    let shared = shared();
    shared.project.ssh(&shared.host, command)
}

/// Write a file on the shared test host.
fn put(path: &str, content: &str, mode: &str) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    ssh(&format!(
        "mkdir -p \"$(dirname {path})\" && printf %s {encoded} | base64 -d > {path} && chmod {mode} {path}"
    ));
}

/// A project whose only host is the shared test host `box`.
fn project() -> Project {
    project_on_shared("groups:\n  test: {}\n")
}

/// A feature where every check is a scenario of its own (an outline row),
/// so that each one runs and reports, whatever the others do. The background
/// step gives every scenario two checks, so that both are answered by one
/// batch (see `prefetched_checks_...` for the budget).
fn checks_feature(checks: &[&str]) -> String {
    format!(
        "Feature: Checks\n  Background:\n    Given the directory \"/\" should exist\n\n{}",
        outline(checks)
    )
}

/// A scenario outline with one check per row.
fn outline(checks: &[&str]) -> String {
    let mut text = String::from(
        "  Scenario Outline: <check>\n    Then <check>\n\n    Examples:\n      | check |\n",
    );
    for check in checks {
        text.push_str(&format!("      | {check} |\n"));
    }
    text
}

/// The same checks in their `should not` form.
fn negated(checks: &[&str]) -> Vec<String> {
    checks
        .iter()
        .map(|c| c.replacen(" should ", " should not ", 1))
        .collect()
}

/// Run verify with redgreen's JSON report in a file; returns the run and the report.
fn verify(project: &Project, args: &[&str]) -> (Run, Value) {
    let json = project.path().join("report.json");
    let format = format!("json:{}", json.display());
    let mut all = vec!["verify", "--format", &format];
    all.extend_from_slice(args);
    let run = project.run(&all);
    let report = std::fs::read_to_string(&json)
        .map(|text| serde_json::from_str(&text).expect("the report is JSON"))
        .unwrap_or(Value::Null);
    (run, report)
}

/// (scenario, status, failure message) per scenario of a report.
fn results(report: &Value) -> Vec<(String, String, String)> {
    report["scenarios"]
        .as_array()
        .unwrap_or_else(|| panic!("no scenarios in {report}"))
        .iter()
        .map(|s| {
            (
                s["scenario"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
                s["failure"]["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Run `checks` and assert that each passes.
#[track_caller]
fn assert_all_pass(project: &Project, checks: &[String]) {
    let refs: Vec<&str> = checks.iter().map(String::as_str).collect();
    project.write("features/checks.feature", &checks_feature(&refs));
    let (run, report) = verify(project, &[]);
    let results = results(&report);
    assert_eq!(
        results.len(),
        checks.len(),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    for (check, status, message) in &results {
        assert_eq!(status, "passed", "{check}: {message}\n{}", run.stdout);
    }
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

/// Run the checks and assert that each fails with a message containing its
/// expected text.
#[track_caller]
fn assert_all_fail(project: &Project, expected: &[(&str, &str)]) {
    let checks: Vec<&str> = expected.iter().map(|(c, _)| *c).collect();
    project.write("features/checks.feature", &checks_feature(&checks));
    let (run, report) = verify(project, &[]);
    let found: BTreeMap<String, (String, String)> = results(&report)
        .into_iter()
        .map(|(check, status, message)| (check, (status, message)))
        .collect();
    for (check, fragment) in expected {
        let (status, message) = found
            .get(*check)
            .unwrap_or_else(|| panic!("no result for {check}: {}", run.stdout));
        assert_eq!(status, "failed", "{check} should have failed");
        assert!(
            message.contains(fragment),
            "{check}:\n  message: {message}\n  expected to contain: {fragment}"
        );
    }
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
}

fn owned(checks: &[&str]) -> Vec<String> {
    checks.iter().map(|c| c.to_string()).collect()
}

#[test]
fn files_directories_and_symlinks() {
    let root = "/srv/verify-files";
    let project = project();
    ssh(&format!(
        "rm -rf {root} && mkdir -p {root}/www {root}/olddir {root}/releases/v1 {root}/releases/v2 \
         && printf 'Welcome to box\\nworker_processes auto;\\nlisten 80;\\n' > {root}/motd \
         && chmod 0644 {root}/motd && touch {root}/gone \
         && chown www-data:www-data {root}/www && chmod 0750 {root}/www \
         && ln -s {root}/releases/v1 {root}/current"
    ));
    let checks = [
        "the file \"/srv/verify-files/motd\" should exist",
        "the file \"/srv/verify-files/gone\" should exist",
        "the file \"/srv/verify-files/motd\" should contain \"Welcome\"",
        "the file \"/srv/verify-files/motd\" should match \"^worker_[a-z]+ auto;$\"",
        "the file \"/srv/verify-files/motd\" should have mode \"0644\"",
        "the file \"/srv/verify-files/motd\" should be owned by \"root\"",
        "the file \"/srv/verify-files/motd\" should be in group \"root\"",
        "the directory \"/srv/verify-files/olddir\" should exist",
        "the directory \"/srv/verify-files/www\" should have mode \"0750\"",
        "the directory \"/srv/verify-files/www\" should be owned by \"www-data\"",
        "the directory \"/srv/verify-files/www\" should be in group \"www-data\"",
        "the symlink \"/srv/verify-files/current\" should point to \"/srv/verify-files/releases/v1\"",
        "the symlink \"/srv/verify-files/current\" should point to \"releases/v1\"",
    ];
    assert_all_pass(&project, &owned(&checks));

    // A DocString: the text must be in the file as written.
    project.write(
        "extra/docstring.feature",
        "Feature: DocString\n  Scenario: config\n    Then the file \"/srv/verify-files/motd\" should contain:\n      \"\"\"\n        worker_processes auto;\n      listen 80;\n      \"\"\"\n",
    );
    let (run, _) = verify(&project, &["extra/docstring.feature"]);
    assert_eq!(run.code, 0, "{}", run.stdout);

    // The other state: changed, moved and gone.
    ssh(&format!(
        "printf 'Goodbye\\n' > {root}/motd && chmod 0600 {root}/motd && chown www-data:adm {root}/motd \
         && rm -rf {root}/gone {root}/olddir && chown root:root {root}/www && chmod 0700 {root}/www \
         && ln -sfn {root}/releases/v2 {root}/current"
    ));
    assert_all_fail(
        &project,
        &[
            (
                checks[1],
                "expected a file at /srv/verify-files/gone, found nothing",
            ),
            (
                checks[2],
                "expected /srv/verify-files/motd to contain \"Welcome\"; it does not, it has:\n  Goodbye",
            ),
            (
                checks[3],
                "expected /srv/verify-files/motd to match /^worker_[a-z]+ auto;$/",
            ),
            (checks[4], "expected mode 0644, found 0600"),
            (checks[5], "expected owner root, found www-data"),
            (checks[6], "expected group root, found adm"),
            (
                checks[7],
                "expected a directory at /srv/verify-files/olddir, found nothing",
            ),
            (checks[8], "expected mode 0750, found 0700"),
            (checks[9], "expected owner www-data, found root"),
            (checks[10], "expected group www-data, found root"),
            (
                checks[11],
                "expected /srv/verify-files/current to point to /srv/verify-files/releases/v1, found it points to /srv/verify-files/releases/v2",
            ),
        ],
    );
    // Every `should not` holds now (the file that exists, still exists).
    assert_all_pass(&project, &negated(&checks[1..12]));
    let (run, _) = verify(&project, &["extra/docstring.feature"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "expected /srv/verify-files/motd to contain these lines:\n        worker_processes auto;\n        listen 80;\n      it does not, it has:\n        Goodbye"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn packages_one_by_one_and_as_a_table_in_one_command() {
    let project = project();
    // A real package, built and installed on the host (no network needed).
    ssh(
        "rm -rf /tmp/rgpkg && mkdir -p /tmp/rgpkg/DEBIAN && printf 'Package: rg-verify-pkg\\nVersion: 1.0-1\\nArchitecture: all\\nMaintainer: redgreen <rg@example.com>\\nDescription: redgreen test package\\n' > /tmp/rgpkg/DEBIAN/control && dpkg-deb --build /tmp/rgpkg /tmp/rg-verify-pkg.deb >/dev/null && dpkg -i /tmp/rg-verify-pkg.deb >/dev/null",
    );
    let checks = [
        "the package \"rg-verify-pkg\" should be installed",
        "the package \"rg-verify-pkg\" should be installed at version \"1.0-1\"",
        "the package \"openssh-server\" should be installed",
    ];
    assert_all_pass(&project, &owned(&checks));
    project.write(
        "extra/table.feature",
        "Feature: Packages\n  Scenario: all of them\n    Then the following packages should be installed:\n      | rg-verify-pkg  | 1.0-1 |\n      | openssh-server |       |\n      | coreutils      |       |\n",
    );
    let (run, report) = verify(&project, &["extra/table.feature"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        report["hosts"][0]["round_trips"], 1,
        "a DataTable step checks every row in one command"
    );

    ssh("dpkg -P rg-verify-pkg >/dev/null");
    assert_all_fail(
        &project,
        &[
            (
                checks[0],
                "expected the package rg-verify-pkg installed, found it not installed",
            ),
            (
                checks[1],
                "expected the package rg-verify-pkg at version 1.0-1, found it not installed",
            ),
        ],
    );
    assert_all_pass(&project, &negated(&checks[..2]));
    let (run, report) = verify(&project, &["extra/table.feature"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(
        report["scenarios"][0]["failure"]["message"],
        "1 of 3 packages are not as expected:\n  rg-verify-pkg: expected at version 1.0-1, found it not installed"
    );
}

/// A small HTTP server in Perl (perl-base is on every Debian), run by systemd.
const HTTPD: &str = r#"#!/usr/bin/perl
use strict;
use IO::Socket::INET;
my $server = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 8089,
    Listen => 5, ReuseAddr => 1) or die "listen: $!";
while (my $client = $server->accept) {
    my $request = <$client> // '';
    while (my $line = <$client>) { last if $line =~ /^\r?\n$/; }
    my ($path) = $request =~ m{^GET (\S+)};
    my ($status, $body) = ($path // '') eq '/' ? ('200 OK', "Welcome to rg-box!\n") : ('404 Not Found', '');
    print $client "HTTP/1.1 $status\r\nContent-Type: text/plain\r\nContent-Length: "
        . length($body) . "\r\nConnection: close\r\n\r\n$body";
    close $client;
}
"#;

#[test]
fn a_service_its_process_its_port_and_its_http_answers() {
    let project = project();
    put("/usr/local/bin/rg-verify-httpd", HTTPD, "0755");
    put(
        "/etc/systemd/system/rg-verify.service",
        "[Unit]\nDescription=redgreen verify test server\n[Service]\nExecStart=/usr/local/bin/rg-verify-httpd\n[Install]\nWantedBy=multi-user.target\n",
        "0644",
    );
    ssh(
        "systemctl daemon-reload && systemctl enable --now rg-verify 2>/dev/null && for i in $(seq 50); do ss -Htln | grep -q 127.0.0.1:8089 && break; sleep 0.1; done",
    );
    let checks = [
        "the service \"rg-verify\" should be running",
        "the service \"rg-verify\" should be enabled",
        "the process \"rg-verify-httpd\" should be running",
        "port 8089 should be listening",
        "port 8089 should be listening on \"127.0.0.1\"",
        "\"http://localhost:8089/\" should respond with status 200",
        "\"http://127.0.0.1:8089/\" should respond with a body containing \"Welcome to rg-box\"",
        "\"http://localhost:8089/missing\" should respond with status 404",
    ];
    let mut passing = owned(&checks);
    passing.push("port 8089 should not be listening on \"0.0.0.0\"".into());
    passing.push("the service \"ssh\" should be running".into());
    passing.push("port 22 should be listening".into());
    assert_all_pass(&project, &passing);

    ssh("systemctl disable --now rg-verify 2>/dev/null");
    assert_all_fail(
        &project,
        &[
            (checks[0], "the service rg-verify is inactive (dead)"),
            (checks[1], "the service rg-verify is disabled"),
            (checks[2], "no process named rg-verify-httpd is running"),
            (
                checks[3],
                "expected port 8089 listening, found nothing listening on it",
            ),
            (
                checks[4],
                "expected port 8089 listening on 127.0.0.1, found nothing listening on it",
            ),
            (
                checks[5],
                "no HTTP answer from http://localhost:8089/ on box",
            ),
            (
                checks[6],
                "no HTTP answer from http://127.0.0.1:8089/ on box",
            ),
        ],
    );
    assert_all_pass(&project, &negated(&checks[..5]));
    assert_all_fail(
        &project,
        &[(
            "the service \"rg-nothing\" should be running",
            "the service rg-nothing does not exist",
        )],
    );
}

#[test]
fn users_groups_and_crontabs() {
    let project = project();
    ssh(
        "(userdel -r rgdeploy; userdel -r rgtemp; groupdel rgapp) >/dev/null 2>&1; \
         groupadd rgapp && useradd -m -d /home/rgdeploy -s /bin/bash -G rgapp rgdeploy && useradd rgtemp \
         && mkdir -p /var/spool/cron/crontabs && echo '0 3 * * * /usr/local/bin/backup.sh' > /var/spool/cron/crontabs/rgdeploy",
    );
    let checks = [
        "the user \"rgtemp\" should exist",
        "the user \"rgdeploy\" should have shell \"/bin/bash\"",
        "the user \"rgdeploy\" should have home \"/home/rgdeploy\"",
        "the user \"rgdeploy\" should be in group \"rgapp\"",
        "the group \"rgapp\" should exist",
        "the crontab of \"rgdeploy\" should contain \"backup.sh\"",
    ];
    let mut passing = owned(&checks);
    passing.push("the user \"www-data\" should have home \"/var/www\"".into());
    passing.push("the user \"root\" should be in group \"root\"".into());
    assert_all_pass(&project, &passing);

    ssh(
        "usermod -s /bin/sh -d /home/elsewhere -G '' rgdeploy && groupdel rgapp && userdel rgtemp \
         && echo '0 4 * * * /bin/true' > /var/spool/cron/crontabs/rgdeploy",
    );
    assert_all_fail(
        &project,
        &[
            (checks[0], "the user rgtemp does not exist"),
            (checks[1], "expected shell /bin/bash, found /bin/sh"),
            (
                checks[2],
                "expected home /home/rgdeploy, found /home/elsewhere",
            ),
            (
                checks[3],
                "expected rgdeploy in group rgapp, found it in rgdeploy",
            ),
            (checks[4], "the group rgapp does not exist"),
            (
                checks[5],
                "expected the crontab of rgdeploy to contain \"backup.sh\"; it has:\n  0 4 * * * /bin/true",
            ),
            (
                "the crontab of \"nobody\" should contain \"x\"",
                "nobody has no crontab",
            ),
        ],
    );
    assert_all_pass(&project, &negated(&checks));
}

#[test]
fn kernel_parameters() {
    // A container test host cannot change its kernel parameters (/proc/sys
    // is read-only), so the two states are the value it has and another.
    let project = project();
    let value = ssh("cat /proc/sys/net/ipv4/ip_forward");
    let value = value.trim();
    let other = if value == "1" { "0" } else { "1" };
    let range = ssh("cat /proc/sys/net/ipv4/ip_local_port_range");
    let range = range.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_all_pass(
        &project,
        &[
            format!("the kernel parameter \"net.ipv4.ip_forward\" should be \"{value}\""),
            format!("the kernel parameter \"net/ipv4/ip_local_port_range\" should be \"{range}\""),
            format!("the kernel parameter \"net.ipv4.ip_forward\" should not be \"{other}\""),
        ],
    );
    let wrong = format!("the kernel parameter \"net.ipv4.ip_forward\" should be \"{other}\"");
    let expected = format!("expected net.ipv4.ip_forward = {other}, found {value}");
    assert_all_fail(
        &project,
        &[
            (wrong.as_str(), expected.as_str()),
            (
                "the kernel parameter \"net.ipv4.no_such_thing\" should be \"1\"",
                "the kernel parameter net.ipv4.no_such_thing does not exist on box",
            ),
        ],
    );
}

#[test]
fn commands_and_their_output() {
    let root = "/srv/verify-cmd";
    let project = project();
    ssh(&format!(
        "mkdir -p {root} && printf 'hello\\n' > {root}/greeting"
    ));
    let feature = |checks: &[&str]| {
        format!(
            "Feature: Commands\n  Background:\n    When I run \"cat {root}/greeting\"\n\n{}",
            outline(checks)
        )
    };
    let checks = [
        "the command should succeed",
        "the exit status should be 0",
        "the output should contain \"hello\"",
        "the output should match \"^hel+o$\"",
        "the error output should not contain \"No such file\"",
    ];
    project.write("features/checks.feature", &feature(&checks));
    let (run, report) = verify(&project, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(report["summary"]["passed"], 5);

    ssh(&format!("rm -f {root}/greeting"));
    project.write("features/checks.feature", &feature(&checks));
    let (run, report) = verify(&project, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let found: BTreeMap<String, String> = results(&report)
        .into_iter()
        .map(|(check, _, message)| (check, message))
        .collect();
    let missing = format!(
        "`cat {root}/greeting` exited with status 1; its error output:\n  cat: {root}/greeting: No such file or directory"
    );
    assert_eq!(
        found[checks[0]],
        format!("expected the command to succeed: {missing}")
    );
    assert_eq!(
        found[checks[1]],
        format!("expected exit status 0, found 1: {missing}")
    );
    assert!(found[checks[2]].starts_with("expected the output to contain \"hello\""));
    assert!(found[checks[3]].starts_with("expected the output to match /^hel+o$/"));
    assert!(
        found[checks[4]].starts_with("expected the error output not to contain \"No such file\"")
    );

    // As another user, with nothing on stdin.
    project.write(
        "features/checks.feature",
        "Feature: Users\n  Scenario: www-data\n    When I run \"id -un; cat\" as \"www-data\"\n    Then the output should contain \"www-data\"\n    And the command should succeed\n\n  Scenario: nobody there\n    When I run \"true\" as \"rg-no-such-user\"\n",
    );
    let (run, report) = verify(&project, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let results = results(&report);
    assert_eq!(results[0].1, "passed", "{}", run.stdout);
    assert_eq!(results[1].2, "there is no user rg-no-such-user on box");
}

/// A command that is not installed yet is the most natural red of
/// test-first work: exit status 127 is the step's result, the host stays
/// reachable, and verify exits 1, not 3.
#[test]
fn a_command_that_is_not_installed_is_a_failed_step_not_an_unreachable_host() {
    let project = project();
    project.write(
        "features/steps.yml",
        "- step: the tool {string} should answer\n  run: \"{1} --version\"\n",
    );
    project.write(
        "features/missing.feature",
        "Feature: Not installed yet\n\
         \x20 Scenario: run it\n    When I run \"rg-not-installed -t\"\n    Then the command should succeed\n\n\
         \x20 Scenario: its status\n    When I run \"rg-not-installed\"\n    Then the exit status should be 127\n    And the command should fail\n\n\
         \x20 Scenario: a user step\n    Then the tool \"rg-not-installed\" should answer\n",
    );
    let (run, report) = verify(&project, &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(report["hosts"][0]["outcome"], "ok", "{report}");
    let results = results(&report);
    assert_eq!(
        results[0],
        (
            "run it".to_string(),
            "failed".to_string(),
            "expected the command to succeed: `rg-not-installed -t` exited with status 127; its error output:\n  sh: 1: rg-not-installed: not found".to_string()
        )
    );
    assert_eq!(results[1].1, "passed", "{}", run.stdout);
    assert_eq!(results[2].1, "failed");
    assert!(
        results[2].2.contains("exited with status 127"),
        "{}",
        results[2].2
    );
    assert!(!run.stdout.contains("unreachable"), "{}", run.stdout);
}

#[test]
fn user_steps_run_their_command_with_quoted_values() {
    let root = "/srv/verify-user";
    let project = project();
    project.write(
        "features/steps.yml",
        "- step: the site {string} should be enabled\n  run: test -L /srv/verify-user/sites-enabled/{1}\n\
         - step: the site {string} should be listed\n  run: ls /srv/verify-user/sites-enabled/{1}\n",
    );
    ssh(&format!(
        "rm -rf {root} && mkdir -p {root}/sites-enabled {root}/sites-available && touch {root}/sites-available/default \
         && ln -s ../sites-available/default {root}/sites-enabled/default"
    ));
    let checks = [
        "the site \"default\" should be enabled",
        "the site \"default\" should be listed",
    ];
    assert_all_pass(&project, &owned(&checks));

    ssh(&format!("rm {root}/sites-enabled/default"));
    assert_all_fail(
        &project,
        &[
            (
                checks[0],
                "`test -L /srv/verify-user/sites-enabled/'default'` exited with status 1 and printed nothing",
            ),
            (
                checks[1],
                "it printed:\n  ls: cannot access '/srv/verify-user/sites-enabled/default': No such file or directory",
            ),
            (
                "the site \"x'; touch /srv/verify-user/pwned; '\" should be enabled",
                "exited with status 1",
            ),
        ],
    );
    assert_eq!(
        ssh(&format!("test -e {root}/pwned && echo pwned || echo safe")),
        "safe\n",
        "a value stays one quoted word"
    );

    let steps = project.run(&["steps"]).expect(0);
    assert!(
        steps.stdout.contains(
            "User steps (features/steps.yml)\n  Then the site {string} should be enabled\n      e.g. Then the site \"example\" should be enabled\n      runs test -L /srv/verify-user/sites-enabled/{1}   (features/steps.yml:1:9)\n"
        ),
        "{}",
        steps.stdout
    );
    assert!(
        steps
            .stdout
            .contains("  Then the package {string} should be installed\n")
    );
}

#[test]
fn within_tries_again_until_it_passes_or_time_is_up() {
    let root = "/srv/verify-within";
    let project = project();
    ssh(&format!(
        "rm -rf {root} && mkdir -p {root} && nohup sh -c 'sleep 2; echo ready > {root}/late' >/dev/null 2>&1 </dev/null &"
    ));
    project.write(
        "features/within.feature",
        &format!(
            "Feature: Slow things\n\
             \x20 Scenario: a file that comes late\n    Then the file \"{root}/late\" should exist within 20 seconds\n\n\
             \x20 Scenario: a command whose output comes late\n    When I run \"cat {root}/late\"\n    Then the output should contain \"ready\" within 20 seconds\n\n\
             \x20 Scenario: a file that never comes\n    Then the file \"{root}/never\" should exist within 2 seconds\n"
        ),
    );
    let started = Instant::now();
    let (run, report) = verify(&project, &[]);
    let elapsed = started.elapsed();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let results = results(&report);
    assert_eq!(results[0].1, "passed", "{}", run.stdout);
    assert_eq!(results[1].1, "passed", "{}", run.stdout);
    assert_eq!(results[2].1, "failed");
    assert!(
        results[2].2.starts_with(&format!(
            "expected a file at {root}/never, found nothing (still so after 2 s, "
        )),
        "{}",
        results[2].2
    );
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

/// A project with two hosts on the shared test host: `box` in group `test`
/// and `box2` in group `other`.
fn two_hosts(extra_hosts: &str) -> Project {
    let shared = shared();
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host);
    project_on_shared(&format!(
        "  box2: {{ address: {address}, port: {port}, groups: [other] }}\n{extra_hosts}groups:\n  test: {{}}\n  other: {{}}\n"
    ))
}

const HOSTS_FEATURE: &str = "@smoke
Feature: Hosts
  Background:
    Given the file \"/etc/passwd\" should exist

  Scenario: everywhere
    Then the user \"root\" should exist

  @host:box2
  Scenario: only on box2
    Then the user \"www-data\" should exist

  @group:test @slow
  Scenario: only in group test
    Then the group \"root\" should exist

  Rule: ports
    Scenario: in a rule
      Then port 22 should be listening
";

fn per_host(report: &Value) -> Vec<String> {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} on {}: {}",
                s["scenario"].as_str().unwrap(),
                s["host"].as_str().unwrap(),
                s["status"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn tags_select_hosts_and_scenarios_and_results_are_per_scenario_and_host() {
    let project = two_hosts("");
    project.write("features/hosts.feature", HOSTS_FEATURE);
    let junit = project.path().join("out/report.xml");
    let junit_format = format!("junit:{}", junit.display());
    let (run, report) = verify(&project, &["--format", &junit_format]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        per_host(&report),
        vec![
            "everywhere on box: passed",
            "everywhere on box2: passed",
            "only on box2 on box2: passed",
            "only in group test on box: passed",
            "in a rule on box: passed",
            "in a rule on box2: passed",
        ]
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 6, "{xml}");
    assert!(
        xml.contains("name=\"Scenario: everywhere (on box2): features/hosts.feature:6:3\""),
        "{xml}"
    );
    assert!(
        run.stdout.contains("Scenario: only on box2 (on box2)"),
        "{}",
        run.stdout
    );

    let (_, report) = verify(&project, &["--tags", "@smoke and not @slow"]);
    assert_eq!(report["scenarios"].as_array().unwrap().len(), 5);
    let (_, report) = verify(&project, &["--tags", "@host:box"]);
    assert_eq!(
        per_host(&report),
        vec![
            "everywhere on box: passed",
            "only in group test on box: passed",
            "in a rule on box: passed",
        ]
    );
    let (_, report) = verify(&project, &["box2", "features/hosts.feature"]);
    assert_eq!(report["scenarios"].as_array().unwrap().len(), 3);
    let (run, _) = verify(&project, &["--tags", "@nothing"]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("no scenario to run"), "{}", run.stderr);
    let bad = project.run(&["verify", "--tags", "@a and and"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("invalid tag expression"),
        "{}",
        bad.stderr
    );
}

#[test]
fn scenarios_on_different_hosts_run_concurrently() {
    let project = two_hosts("");
    project.write(
        "features/slow.feature",
        "Feature: Slow\n  Scenario: one\n    When I run \"sleep 2\"\n  Scenario: two\n    When I run \"sleep 2\"\n",
    );
    let started = Instant::now();
    let (run, report) = verify(&project, &[]);
    let elapsed = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(report["summary"]["passed"], 4);
    // Four scenarios of 2 s each, one after the other, would take 8 s.
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
}

#[test]
fn an_unreachable_host_exits_3_and_the_others_carry_on() {
    let project = two_hosts("  down: { address: 127.0.0.1, port: 1, groups: [test] }\n");
    project.write(
        "features/one.feature",
        "Feature: One\n  Scenario: ssh listens\n    Then port 22 should be listening\n",
    );
    let (run, report) = verify(&project, &[]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        per_host(&report),
        vec![
            "ssh listens on box: passed",
            "ssh listens on box2: passed",
            "ssh listens on down: unreachable",
        ]
    );
    assert_eq!(report["hosts"][2]["outcome"], "unreachable");
    assert!(
        run.stdout.contains("down  unreachable: cannot connect"),
        "{}",
        run.stdout
    );

    // However many scenarios it has, an unreachable host is one line while
    // the features run (and one in the recap).
    project.write(
        "features/two.feature",
        "Feature: Two\n  Scenario: root\n    Then the user \"root\" should exist\n  Scenario: sshd\n    Then the process \"sshd\" should be running\n",
    );
    let (run, report) = verify(&project, &[]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(report["summary"]["unreachable"], 3);
    assert_eq!(
        run.stdout
            .matches("✘  cannot reach down: cannot connect")
            .count(),
        1,
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("(on down)"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("9 scenarios (6 passed, 3 unreachable)\n9 steps (6 passed, 3 skipped)\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("hook"), "{}", run.stdout);
}

/// Durations, timestamps and the host's address vary from run to run.
fn normalise(text: &str) -> String {
    let rules = [
        (r#""seconds": [0-9.e-]+"#, r#""seconds": 0.0"#),
        (r#""duration": ?[0-9]+"#, r#""duration": 0"#),
        (r#"time="[0-9.]+""#, r#"time="0""#),
        (r#"timestamp="[^"]+""#, r#"timestamp="T""#),
    ];
    let mut text = text.to_string();
    for (pattern, replacement) in rules {
        text = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    text
}

#[test]
fn every_report_format_is_stable() {
    let project = two_hosts("");
    project.write(
        "features/report.feature",
        "Feature: Reports\n  Scenario: passes\n    Then the user \"root\" should exist\n\n  @host:box\n  Scenario: fails\n    Then the file \"/etc/passwd\" should have mode \"0600\"\n    And the user \"root\" should exist\n",
    );
    let out = project.path().join("out");
    let formats = [
        format!("junit:{}", out.join("junit.xml").display()),
        format!("cucumber-json:{}", out.join("cucumber.json").display()),
    ];
    let (run, report) = verify(
        &project,
        &["--format", &formats[0], "--format", &formats[1]],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    // The step after the failed one is skipped, and counted: the summary's
    // steps add up to the steps of the scenarios.
    assert!(
        run.stdout
            .contains("   -  And the user \"root\" should exist  (skipped)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "3 scenarios (2 passed, 1 failed)\n4 steps (2 passed, 1 failed, 1 skipped)\n"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        report["summary"]["steps"],
        serde_json::json!({ "total": 4, "passed": 2, "failed": 1, "skipped": 1 })
    );
    insta::assert_snapshot!("pretty", run.stdout);
    insta::assert_snapshot!(
        "json",
        normalise(&serde_json::to_string_pretty(&report).unwrap())
    );
    insta::assert_snapshot!(
        "junit",
        normalise(&std::fs::read_to_string(out.join("junit.xml")).unwrap())
    );
    let cucumber: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cucumber.json")).unwrap()).unwrap();
    insta::assert_snapshot!(
        "cucumber_json",
        normalise(&serde_json::to_string_pretty(&cucumber).unwrap())
    );
    // No cucumber internals in anything a user reads.
    let everything = format!(
        "{}{}{}{}",
        run.stdout,
        run.stderr,
        std::fs::read_to_string(out.join("junit.xml")).unwrap(),
        cucumber
    );
    for internal in [
        "panicked",
        "Captured output",
        "hook",
        "Step Panicked",
        "Defined:",
    ] {
        assert!(!everything.contains(internal), "{internal}: {everything}");
    }

    // At -v, a failure shows the command that checked it.
    let verbose = project.run(&["-v", "verify", "--tags", "@host:box"]);
    assert!(
        verbose.stdout.contains(
            "expected mode 0600, found 0644\n      checked with:\n        stat -L -c '%F|%a|%U|%G' -- '/etc/passwd' 2>/dev/null || echo missing"
        ),
        "{}",
        verbose.stdout
    );
}

#[test]
fn an_undefined_step_fails_validate_with_its_place_and_touches_no_host() {
    // The host listens nowhere: had redgreen connected, it would exit 3.
    let project = Project::with(&[
        (
            "redgreen.yml",
            "hosts:\n  web1: { address: 127.0.0.1, port: 1, groups: [web] }\ngroups:\n  web: {}\n",
        ),
        (
            "features/web.feature",
            "Feature: Web server\n\n  Scenario: nginx\n    Then the pakage \"nginx-light\" should be installed\n",
        ),
    ]);
    let junit = format!("junit:{}", project.path().join("r.xml").display());
    for args in [
        &["validate"][..],
        &["verify"],
        &["verify", "web1", "--format", &junit],
    ] {
        let run = project.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("features/web.feature:4:5"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(
                "undefined step 'Then the pakage \"nginx-light\" should be installed', did you mean 'Then the package \"nginx-light\" should be installed'?"
            ),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("nothing was touched"), "{}", run.stderr);
        assert!(!run.stderr.contains("cannot connect"), "{}", run.stderr);
    }
    assert!(
        !project.path().join("r.xml").exists(),
        "no report is started"
    );
}

#[test]
fn many_short_checks_share_one_connection_without_exceeding_max_sessions() {
    // sshd refuses sessions beyond MaxSessions (10) and counts a channel until
    // its close is acknowledged: 60 checks in a burst must still all run.
    let project = project();
    let checks: Vec<String> = (0..60)
        .map(|n| format!("the file \"/etc/passwd\" should not contain \"rg-nothing-{n}\""))
        .collect();
    assert_all_pass(&project, &checks);
}

#[test]
fn prefetched_checks_take_one_round_trip_and_what_follows_a_command_sees_its_effect() {
    let project = project();
    ssh(
        "rm -rf /tmp/rg-prefetch && mkdir /tmp/rg-prefetch && echo before > /tmp/rg-prefetch/state",
    );
    project.write(
        "extra/prefetch.feature",
        "Feature: Prefetch\n  Scenario: checks, a command, checks\n    Then the file \"/tmp/rg-prefetch/state\" should contain \"before\"\n    And the file \"/tmp/rg-prefetch/state\" should have mode \"0644\"\n    And the directory \"/tmp/rg-prefetch\" should exist\n    And the user \"root\" should exist\n    And the user \"root\" should have shell \"/bin/bash\"\n    When I run \"echo after > /tmp/rg-prefetch/state\"\n    Then the command should succeed\n    And the file \"/tmp/rg-prefetch/state\" should contain \"after\"\n    And the file \"/tmp/rg-prefetch/state\" should not contain \"before\"\n",
    );
    let (run, report) = verify(&project, &["extra/prefetch.feature"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    // Five checks in one batch, the command, then two checks one by one.
    assert_eq!(report["hosts"][0]["round_trips"], 4, "{}", run.stdout);

    // A failing check in a batch says what it says when it runs alone.
    project.write(
        "extra/prefetch.feature",
        "Feature: Prefetch\n  Scenario: a batch with a failure\n    Then the directory \"/tmp/rg-prefetch\" should exist\n    And the file \"/tmp/rg-prefetch/state\" should have mode \"0600\"\n    And the file \"/tmp/rg-prefetch/state\" should exist\n",
    );
    let (run, report) = verify(&project, &["extra/prefetch.feature"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let failed = results(&report);
    assert_eq!(failed[0].1, "failed");
    assert!(
        failed[0].2.contains("expected mode 0600, found 0644"),
        "{}",
        failed[0].2
    );
    assert_eq!(report["hosts"][0]["round_trips"], 1, "{}", run.stdout);
}

#[test]
fn every_scenario_of_a_host_is_answered_in_one_round_trip() {
    // An outline of 12 rows, a background, and two plain scenarios: 14
    // scenarios, each of which alone would ask the host once.
    let project = project();
    let checks: Vec<String> = (0..12)
        .map(|n| format!("the file \"/etc/passwd\" should not contain \"rg-one-trip-{n}\""))
        .collect();
    let refs: Vec<&str> = checks.iter().map(String::as_str).collect();
    project.write(
        "extra/many.feature",
        &format!(
            "{}\n  Scenario: users\n    Then the user \"root\" should exist\n\n  Scenario: one failing\n    Then the directory \"/rg-no-such-directory\" should exist\n",
            checks_feature(&refs)
        ),
    );
    let (run, report) = verify(&project, &["extra/many.feature"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let all = results(&report);
    assert_eq!(all.len(), 14, "{all:?}");
    assert_eq!(
        all.iter()
            .filter(|(_, status, _)| status == "passed")
            .count(),
        13,
        "{all:?}"
    );
    // The failure says what it says alone.
    assert!(
        all.iter()
            .any(|(_, status, message)| status == "failed"
                && message.contains("/rg-no-such-directory")),
        "{all:?}"
    );
    assert_eq!(report["hosts"][0]["round_trips"], 1, "{}", run.stdout);
}
