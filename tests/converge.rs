//! Plan and converge against a real test host (a Docker container with sshd
//! and systemd, made by the project's own driver), checking the results over
//! SSH. The tests share one host and use paths of their own.

mod common;

use common::project_on_shared;

/// A recipe of 24 resources under `root`: directories, files from content
/// and from files/, templates, links and lines.
fn site_recipe(root: &str) -> String {
    format!(
        r#"vars: {{ root: {root}, greeting: Hello }}
resources:
  - directory: "{{{{root}}}}"
    mode: "0755"
  - directory: "{{{{root}}}}/etc"
  - directory: "{{{{root}}}}/www"
    owner: www-data
    group: www-data
    mode: "0750"
  - directory: "{{{{root}}}}/logs"
    mode: "0700"
  - directory: "{{{{root}}}}/releases/v1"
  - directory: "{{{{root}}}}/releases/v2"
  - file: "{{{{root}}}}/etc/motd"
    content: "{{{{greeting}}}} from {{{{host.name}}}} on {{{{facts.os_id}}}}\n"
    mode: "0644"
  - file: "{{{{root}}}}/www/index.html"
    source: index.html
    owner: www-data
    mode: "0640"
  - file: "{{{{root}}}}/etc/empty"
  - file: "{{{{root}}}}/etc/secret"
    content: "s3cret\n"
    mode: "0600"
  - file: "{{{{root}}}}/etc/quoted it's \"here\""
    content: "spaces and quotes in the name\n"
  - file: "{{{{root}}}}/etc/binary"
    source: binary.bin
  - file: "{{{{root}}}}/etc/a"
    content: "a\n"
  - file: "{{{{root}}}}/etc/b"
    content: "b\n"
  - template: "{{{{root}}}}/etc/site.conf"
    source: site.conf.hbs
    mode: "0640"
    group: www-data
  - template: "{{{{root}}}}/etc/other.conf"
    source: site.conf.hbs
    vars: {{ port: 9090 }}
  - link: "{{{{root}}}}/current"
    to: "{{{{root}}}}/releases/v1"
  - link: "{{{{root}}}}/www/logs"
    to: ../logs
  - directory: "{{{{root}}}}/releases/v3"
  - line: "PermitRootLogin no"
    path: "{{{{root}}}}-sshd_config"
    match: "^#?PermitRootLogin"
  - line: "X11Forwarding yes"
    path: "{{{{root}}}}-sshd_config"
    state: absent
    reason: a test of removals
  - line: "UseDNS no"
    path: "{{{{root}}}}-sshd_config"
  - line: "first line"
    path: "{{{{root}}}}/etc/created-by-line"
  - file: "{{{{root}}}}/etc/gone"
    state: absent
    reason: a test of removals
"#
    )
}

fn site_project(root: &str) -> common::Project {
    let project = project_on_shared("groups:\n  test: { recipes: [site], vars: { port: 8080 } }\n");
    project.write("recipes/site.yml", &site_recipe(root));
    project.write(
        "templates/site.conf.hbs",
        "server {\n  listen {{port}};\n  root {{root}}/www;\n}\n",
    );
    project.write("files/index.html", "<h1>hello</h1>\n");
    std::fs::write(
        project.path().join("files/binary.bin"),
        [0u8, 1, 2, 255, 254, b'\n', 0],
    )
    .unwrap();
    project
}

fn statuses(report: &serde_json::Value) -> Vec<String> {
    report["hosts"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn converge_makes_the_files_and_a_second_converge_changes_nothing() {
    let root = "/srv/converge";
    let project = site_project(root);
    let shared = common::shared();
    let ssh = |cmd: &str| shared.project.ssh(&shared.host, cmd);
    // An existing config that the line resources edit.
    ssh(&format!(
        "rm -rf {root}; printf 'Port 22\\n#PermitRootLogin yes\\nX11Forwarding yes\\n' > {root}-sshd_config"
    ));

    // Plan shows diffs and changes nothing.
    let plan = project.run(&["plan"]).expect(0);
    // Taking X11Forwarding out of the sshd_config is a removal: it stands out.
    assert!(
        plan.stdout.contains("box: 23 to change (1 removal)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("- line /srv/converge-sshd_config: X11Forwarding yes"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("+Hello from box on debian"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(&format!("{root}/etc/site.conf (wanted)")),
        "{}",
        plan.stdout
    );
    assert_eq!(
        ssh(&format!("test -e {root} && echo there || echo absent")),
        "absent\n"
    );

    // The first converge changes everything, in two round trips (the removal
    // approved by --allow-removals).
    let first = project
        .run(&["converge", "--allow-removals", "--format", "json"])
        .expect(0);
    let report = first.json();
    assert_eq!(report["hosts"][0]["round_trips"], 2);
    let first_statuses = statuses(&report);
    assert_eq!(first_statuses.len(), 24);
    assert_eq!(
        first_statuses.iter().filter(|s| *s == "changed").count(),
        23,
        "{first_statuses:?}"
    );
    assert_eq!(first_statuses[23], "ok", "the file to remove was not there");

    // What is on the host, checked over SSH.
    let check = |cmd: &str| ssh(&format!("cd {root} && {cmd}"));
    assert_eq!(check("cat etc/motd"), "Hello from box on debian\n");
    assert_eq!(
        check("stat -c '%a %U %G' www www/index.html"),
        "750 www-data www-data\n640 www-data root\n"
    );
    assert_eq!(
        check("stat -c %a logs etc/secret etc/motd"),
        "700\n600\n644\n"
    );
    assert_eq!(check("cat www/index.html"), "<h1>hello</h1>\n");
    assert_eq!(
        check("od -An -tx1 etc/binary | tr -d ' \\n'"),
        "000102fffe0a00"
    );
    assert_eq!(
        check("cat \"etc/quoted it's \\\"here\\\"\""),
        "spaces and quotes in the name\n"
    );
    assert_eq!(check("wc -c < etc/empty"), "0\n");
    assert_eq!(
        check("cat etc/site.conf"),
        format!("server {{\n  listen 8080;\n  root {root}/www;\n}}\n")
    );
    assert_eq!(check("stat -c '%a %G' etc/site.conf"), "640 www-data\n");
    assert!(check("cat etc/other.conf").contains("listen 9090;"));
    assert_eq!(check("readlink current"), format!("{root}/releases/v1\n"));
    assert_eq!(check("readlink www/logs"), "../logs\n");
    assert_eq!(
        ssh(&format!("cat {root}-sshd_config")),
        "Port 22\nPermitRootLogin no\nUseDNS no\n"
    );
    assert_eq!(
        check("cat etc/created-by-line; stat -c %a etc/created-by-line"),
        "first line\n644\n"
    );
    assert_eq!(
        check("ls -a etc | grep -c '^.rg-' || true"),
        "0\n",
        "no temporary files are left"
    );

    // The second converge changes nothing, in one round trip.
    let second = project.run(&["converge", "--format", "json"]).expect(0);
    let report = second.json();
    assert!(
        statuses(&report).iter().all(|s| s == "ok"),
        "{}",
        second.stdout
    );
    assert_eq!(report["hosts"][0]["round_trips"], 1);

    // Drift is found and repaired.
    check(
        "chmod 0666 etc/motd; echo tampered > etc/a; ln -sfn releases/v2 current; echo '#PermitRootLogin yes' >> ../converge-sshd_config",
    );
    let plan = project.run(&["plan"]).expect(0);
    assert!(plan.stdout.contains("box: 4 to change"), "{}", plan.stdout);
    assert!(plan.stdout.contains("-tampered"), "{}", plan.stdout);
    let third = project.run(&["converge"]).expect(0);
    assert!(
        third
            .stdout
            .contains("changed   file /srv/converge/etc/motd  (mode 0666 → 0644)"),
        "{}",
        third.stdout
    );
    assert_eq!(
        check("stat -c %a etc/motd; cat etc/a; readlink current"),
        format!("644\na\n{root}/releases/v1\n")
    );
}

#[test]
fn the_round_trip_budget_holds_for_twenty_resources() {
    let root = "/srv/budget";
    let project = project_on_shared("groups:\n  test: { recipes: [many] }\n");
    let mut recipe = String::from("resources:\n");
    recipe.push_str(&format!("  - directory: {root}\n"));
    for n in 0..19 {
        recipe.push_str(&format!(
            "  - file: {root}/f{n}\n    content: \"{n}\\n\"\n    mode: \"0640\"\n"
        ));
    }
    project.write("recipes/many.yml", &recipe);
    let shared = common::shared();
    shared.project.ssh(&shared.host, &format!("rm -rf {root}"));

    let changes = project
        .run(&["converge", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(
        changes["hosts"][0]["resources"].as_array().unwrap().len(),
        20
    );
    assert_eq!(
        changes["hosts"][0]["round_trips"], 2,
        "a converge with changes is 2 round trips"
    );
    let noop = project
        .run(&["converge", "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(
        noop["hosts"][0]["round_trips"], 1,
        "a no-op converge is 1 round trip"
    );
    let plan = project.run(&["plan", "--format", "json"]).expect(0).json();
    assert_eq!(plan["hosts"][0]["round_trips"], 1, "a plan is 1 round trip");
}

#[test]
fn an_unreachable_host_does_not_stop_the_others_and_exits_3() {
    let root = "/srv/unreachable";
    let project = project_on_shared(
        "  down: { address: 127.0.0.1, port: 1, groups: [test] }\ngroups:\n  test: { recipes: [one] }\n",
    );
    project.write(
        "recipes/one.yml",
        &format!("resources:\n  - file: {root}\n    content: \"up\\n\"\n"),
    );
    let shared = common::shared();
    shared.project.ssh(&shared.host, &format!("rm -f {root}"));
    let run = project.run(&["converge", "--format", "json"]).expect(3);
    let report = run.json();
    assert_eq!(report["hosts"][0]["host"], "box");
    assert_eq!(report["hosts"][0]["outcome"], "ok");
    assert_eq!(report["hosts"][1]["host"], "down");
    assert_eq!(report["hosts"][1]["outcome"], "unreachable");
    assert_eq!(
        shared.project.ssh(&shared.host, &format!("cat {root}")),
        "up\n"
    );
}

#[test]
fn a_failing_resource_fails_its_host_with_exit_1_and_stops_what_follows() {
    let root = "/srv/failing";
    let project = project_on_shared("groups:\n  test: { recipes: [broken] }\n");
    project.write(
        "recipes/broken.yml",
        &format!(
            "resources:\n  - file: {root}-before\n    content: \"1\\n\"\n  - file: {root}/missing-dir/file\n    content: x\n  - file: {root}-after\n    content: \"2\\n\"\n"
        ),
    );
    let shared = common::shared();
    shared.project.ssh(
        &shared.host,
        &format!("rm -rf {root} {root}-before {root}-after"),
    );
    let run = project.run(&["converge"]).expect(1);
    assert!(run.stdout.contains("failed"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("the directory {root}/missing-dir does not exist")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "not applied: file {root}/missing-dir/file failed before it"
        )),
        "{}",
        run.stdout
    );
    let present = shared.project.ssh(
        &shared.host,
        &format!("for f in {root}-before {root}-after; do test -e $f && echo $f; done; true"),
    );
    assert_eq!(present, format!("{root}-before\n"));
}

/// Commands, handlers and guards that run something not installed: exit
/// status 127 is their result on a reachable host (exit 1), never
/// "unreachable" (exit 3).
#[test]
fn commands_handlers_and_guards_that_run_a_missing_command_are_results_not_unreachable() {
    let root = "/srv/not-installed";
    let project = project_on_shared("groups:\n  test: { recipes: [missing] }\n");
    project.write(
        "recipes/missing.yml",
        &format!(
            "resources:\n\
             \x20 - command: guarded by unless\n    run: touch {root}/unless-ran\n    unless: rg-not-installed\n\
             \x20 - command: guarded by only_if\n    run: touch {root}/only-if-ran\n    only_if: rg-not-installed\n\
             \x20 - file: {root}/notifier\n    content: \"x\\n\"\n    notify: missing handler\n\
             handlers:\n  - command: missing handler\n    run: rg-not-installed --reload\n"
        ),
    );
    let shared = common::shared();
    shared
        .project
        .ssh(&shared.host, &format!("rm -rf {root} && mkdir -p {root}"));
    let run = project.run(&["converge", "--format", "json"]).expect(1);
    let report = run.json();
    let host = &report["hosts"][0];
    assert_eq!(host["outcome"], "failed", "{report}");
    assert_eq!(statuses(&report), ["changed", "ok", "changed"]);
    assert_eq!(host["handlers"][0]["status"], "failed");
    assert!(
        host["handlers"][0]["message"]
            .as_str()
            .unwrap()
            .contains("exited with status 127"),
        "{report}"
    );
    let present = shared.project.ssh(&shared.host, &format!("ls {root}"));
    assert_eq!(present, "notifier\nunless-ran\n");

    // A command that is not installed fails its resource, and the host is
    // reached again for the next converge.
    project.write(
        "recipes/missing.yml",
        "resources:\n  - command: rg-not-installed --setup\n",
    );
    let run = project.run(&["converge"]).expect(1);
    assert!(
        run.stdout
            .contains("failed    command rg-not-installed --setup  (sh: 1: ")
            && run.stdout.contains("rg-not-installed: not found"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("unreachable"), "{}", run.stdout);
}

#[test]
fn tags_select_resources() {
    let root = "/srv/tags";
    let project = project_on_shared("groups:\n  test: { recipes: [tagged] }\n");
    project.write(
        "recipes/tagged.yml",
        &format!("resources:\n  - file: {root}-a\n    content: a\n    tags: [one]\n  - file: {root}-b\n    content: b\n    tags: two\n"),
    );
    let shared = common::shared();
    shared
        .project
        .ssh(&shared.host, &format!("rm -f {root}-a {root}-b"));
    project.run(&["converge", "--tags", "two"]).expect(0);
    let present = shared.project.ssh(
        &shared.host,
        &format!("ls {root}-a {root}-b 2>/dev/null; true"),
    );
    assert_eq!(present, format!("{root}-b\n"));
}

/// A project on the shared host whose known_hosts file is its own.
fn project_with_known_hosts(known_hosts: &str) -> common::Project {
    let project = project_on_shared("groups:\n  test: { recipes: [one] }\n");
    project.write("recipes/one.yml", "resources:\n  - directory: /srv\n");
    project.write("known_hosts", known_hosts);
    let config = std::fs::read_to_string(project.path().join("ssh_config")).unwrap();
    let config: String = config
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("UserKnownHostsFile") {
                format!(
                    "  UserKnownHostsFile \"{}\"\n",
                    project.path().join("known_hosts").display()
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    project.write("ssh_config", &config);
    project
}

#[test]
fn a_changed_host_key_is_refused_with_how_to_fix_it() {
    let shared = common::shared();
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host);
    let project = project_with_known_hosts(&format!(
        "[{address}]:{port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJVe0P0Q3Hc8c3gkOK1c0E0D8kTjX3rE9T+0k9r3ZzXX\n"
    ));
    let run = project.run(&["converge"]).expect(3);
    assert!(
        run.stdout.contains(&format!(
            "the host key of {address} port {port} has changed"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "ssh-keygen -f {} -R",
            project.path().join("known_hosts").display()
        )),
        "{}",
        run.stdout
    );
    // Even --accept-new-host-keys does not accept a changed key.
    project
        .run(&["converge", "--accept-new-host-keys"])
        .expect(3);
}

#[test]
fn an_unknown_host_key_is_refused_unless_accepted_for_first_contact() {
    let shared = common::shared();
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host);
    let project = project_with_known_hosts("");
    let run = project.run(&["converge"]).expect(3);
    assert!(
        run.stdout.contains(&format!(
            "no host key is known for {address} port {port} in {}",
            project.path().join("known_hosts").display()
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("--accept-new-host-keys"),
        "{}",
        run.stdout
    );
    project
        .run(&["converge", "--accept-new-host-keys"])
        .expect(0);
    let recorded = std::fs::read_to_string(project.path().join("known_hosts")).unwrap();
    assert!(
        recorded.contains(&address),
        "the key was recorded: {recorded}"
    );
    project.run(&["converge"]).expect(0);
}

/// A recipe of three resources under `root`, the second a command that
/// sleeps 3 s.
fn slow_project(root: &str) -> common::Project {
    let project = project_on_shared("groups:\n  test: { recipes: [slow] }\n");
    project.write(
        "recipes/slow.yml",
        &format!(
            "resources:\n  - file: {root}/first\n    content: \"1\\n\"\n  - command: wait three seconds\n    run: sleep 3 && touch {root}/slept\n    creates: {root}/slept\n  - file: {root}/last\n    content: \"2\\n\"\n"
        ),
    );
    let shared = common::shared();
    shared
        .project
        .ssh(&shared.host, &format!("rm -rf {root} && mkdir -p {root}"));
    project
}

/// Off a terminal, a converge says each resource as it ends, in order, while
/// it runs: the first line comes while the command still sleeps, not when
/// the converge ends. No escape codes, no spinner.
#[test]
fn off_a_terminal_each_finished_resource_is_a_line_as_it_happens() {
    use assert_cmd::cargo::CommandCargoExt;
    use std::io::BufRead;
    use std::time::Instant;
    let root = "/srv/progress-pipe";
    let project = slow_project(root);
    let mut child = std::process::Command::cargo_bin("redgreen")
        .expect("redgreen binary")
        .arg("-C")
        .arg(project.path())
        .arg("converge")
        .env("REDGREEN_KEEP_CONNECTIONS", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("redgreen starts");
    let stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    // Each line of stderr with when it came, and whether redgreen still ran.
    let mut lines: Vec<(String, Instant, bool)> = Vec::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let running = child.try_wait().unwrap().is_none();
        lines.push((line, Instant::now(), running));
    }
    let status = child.wait().unwrap();
    let ended = Instant::now();
    let stdout = out.join().unwrap();
    let text: Vec<&str> = lines.iter().map(|(l, _, _)| l.as_str()).collect();
    assert!(status.success(), "{text:#?}\n{stdout}");
    let resources: Vec<&(String, Instant, bool)> = lines
        .iter()
        .filter(|(l, _, _)| l.starts_with("box: "))
        .collect();
    let shown: Vec<String> = resources
        .iter()
        .map(|(l, _, _)| l.split(" in ").next().unwrap().to_string())
        .collect();
    assert_eq!(
        shown,
        [
            format!("box: file {root}/first: changed"),
            "box: command wait three seconds: changed".to_string(),
            format!("box: file {root}/last: changed"),
        ],
        "{text:#?}"
    );
    let (_, first_at, running) = resources[0];
    assert!(running, "the first line came while redgreen ran: {text:#?}");
    assert!(
        ended.duration_since(*first_at).as_secs_f64() > 2.5,
        "the first line came before the command slept: {text:#?}"
    );
    let slept: f64 = resources[1]
        .0
        .rsplit(" in ")
        .next()
        .unwrap()
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!((3.0..10.0).contains(&slept), "{text:#?}");
    for (line, _, _) in &lines {
        assert!(!line.contains('\x1b') && !line.contains('\r'), "{line:?}");
    }
    // The report on stdout is as before, after the progress.
    assert!(stdout.contains("wait three seconds"), "{stdout}");
}

/// `--quiet` shows no progress.
#[test]
fn quiet_shows_no_progress() {
    let root = "/srv/progress-quiet";
    let project = slow_project(root);
    let run = project.run(&["--quiet", "converge"]).expect(0);
    assert_eq!(run.stderr, "", "{}", run.stderr);
    assert_eq!(run.stdout, "", "{}", run.stdout);
}

/// What a terminal shows once `output` has been written to it: a minimal
/// emulation of the sequences indicatif writes (carriage return, line feed,
/// erase line, cursor up, erase below).
fn screen(output: &str) -> Vec<String> {
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
                if lines.len() <= row {
                    lines.push(Vec::new());
                }
            }
            '\x1b' => {
                if chars.peek() != Some(&'[') {
                    continue;
                }
                chars.next();
                let mut arg = String::new();
                let mut end = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        end = c;
                        break;
                    }
                    arg.push(c);
                }
                let n: usize = arg.parse().unwrap_or(1);
                match end {
                    'K' => lines[row].clear(),
                    'A' => row = row.saturating_sub(n),
                    'J' => lines.truncate(row + 1),
                    'G' => col = n.saturating_sub(1),
                    _ => {}
                }
                if end == 'J' {
                    lines[row].truncate(col);
                }
            }
            c if c.is_control() => {}
            c => {
                let line = &mut lines[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    lines.into_iter().map(|l| l.into_iter().collect()).collect()
}

/// On a terminal, a spinner per host shows the resource being applied; at
/// the end no spinner line is left on the screen.
#[test]
fn on_a_terminal_no_spinner_line_is_left_behind() {
    let root = "/srv/progress-tty";
    let project = slow_project(root);
    let binary = assert_cmd::cargo::cargo_bin("redgreen");
    let command = format!(
        "{} -C {} converge",
        binary.display(),
        project.path().display()
    );
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("NO_COLOR", "1")
        .env("REDGREEN_KEEP_CONNECTIONS", "0")
        .env("TERM", "xterm")
        .output()
        .expect("script runs");
    let raw = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{raw}");
    // The spinner showed the sleeping command while it ran.
    assert!(raw.contains("wait three seconds ("), "{raw:?}");
    // indicatif's spinners are braille patterns.
    let spinner = |c: char| ('\u{2800}'..='\u{28ff}').contains(&c);
    let shown = screen(&raw);
    assert!(raw.contains(spinner), "{raw:?}");
    // Each drawing of a spinner starts on a fresh line (after a line break
    // or an erased line): one drawn right after another would push it onto
    // a line of its own that stays behind.
    for (at, _) in raw.match_indices(spinner) {
        let before = &raw[..at];
        assert!(
            before.is_empty() || before.ends_with('\n') || before.ends_with("\x1b[2K"),
            "a spinner drawn after {:?}",
            before.chars().rev().take(120).collect::<String>()
        );
    }
    for line in &shown {
        assert!(
            !line.contains(spinner) && !line.contains("connecting") && !line.contains("probing"),
            "a spinner line stayed: {line:?}\n{shown:#?}"
        );
    }
    assert!(
        shown.iter().any(|l| l.contains("wait three seconds")),
        "{shown:#?}"
    );
}
