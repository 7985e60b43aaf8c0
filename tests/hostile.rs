//! Hostile and careless input against a real test host: values that would
//! reach a script wrongly are refused before anything is touched (the host
//! is reachable, and still nothing on it changes), output never panics on a
//! closed pipe, and a plan always shows what it removes, escaped.

mod common;

use std::process::Stdio;

use assert_cmd::cargo::CommandCargoExt;
use common::project_on_shared;

fn on_host(command: &str) -> String {
    let shared = common::shared();
    shared.project.ssh(&shared.host, command)
}

/// What redgreen did with a closed pipe for its stdout (and, with
/// `close_stderr`, for its stderr too): exit code and stderr.
fn with_closed_pipe(dir: &std::path::Path, args: &[&str], close_stderr: bool) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    // Nobody reads: every write fails with EPIPE (or SIGPIPE if not ignored).
    drop(reader);
    let mut command = std::process::Command::cargo_bin("redgreen").expect("binary");
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let stderr_file = tempfile::NamedTempFile::new().expect("temp file");
    if close_stderr {
        command
            .stdout(writer.try_clone().expect("clone"))
            .stderr(writer);
    } else {
        command
            .stdout(writer)
            .stderr(stderr_file.reopen().expect("reopen"));
    }
    let status = command.status().expect("redgreen runs");
    let stderr = std::fs::read_to_string(stderr_file.path()).unwrap_or_default();
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "hosts:\n  here: { address: 127.0.0.1, port: 1, groups: [g] }\ngroups:\n  g: { recipes: [r] }\n",
        ),
        (
            "recipes/r.yml",
            "resources:\n  - file: /tmp/redgreen-closed-pipe/a\n    content: \"a\\n\"\n  - file: /tmp/redgreen-closed-pipe/b\n    content: \"b\\n\"\n",
        ),
        (
            "features/here.feature",
            "Feature: here\n  Scenario: passwd\n    Then the file \"/etc/passwd\" should exist\n    And the file \"/etc/passwd\" should be owned by \"root\"\n",
        ),
    ]);
    // Every command that prints, with what it should end with as if someone
    // were reading. Plans and verify run on this machine (read only).
    let cases: &[(&[&str], i32)] = &[
        (&["validate"], 0),
        (&["steps"], 0),
        (&["schema", "recipe"], 0),
        (&["--help"], 0),
        (&["hosts", "list"], 0),
        (&["plan", "--connection", "local"], 0),
        (&["plan", "--connection", "local", "--format", "json"], 0),
        (&["verify", "--connection", "local"], 0),
        (&["plan"], 3),
        (&["validate", "--var", "host=x"], 2),
    ];
    for (args, code) in cases {
        for close_stderr in [false, true] {
            let (got, stderr) = with_closed_pipe(project.path(), args, close_stderr);
            assert_eq!(
                got,
                *code,
                "redgreen {} (stderr closed: {close_stderr}): {stderr}",
                args.join(" ")
            );
            assert!(
                !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
                "redgreen {}: {stderr}",
                args.join(" ")
            );
        }
    }
    // Nothing was written by a plan.
    assert!(!std::path::Path::new("/tmp/redgreen-closed-pipe").exists());
}

#[test]
fn bad_values_are_refused_before_a_reachable_host_is_touched() {
    let dir = "/srv/hostile-values";
    on_host(&format!(
        "rm -rf {dir}; mkdir -p {dir} && echo original > {dir}/victim && echo kept > {dir}/ab && echo mine > {dir}/reference && chgrp daemon {dir}/reference && echo site > {dir}/site"
    ));
    let before = on_host(&format!(
        "cd {dir} && sha256sum victim ab site reference && stat -c '%n %U %G %a' *"
    ));
    let cases = [
        // The shell would drop the NUL: /srv/…/victim would be overwritten.
        format!("  - file: \"{dir}/vic\\0tim\"\n    content: \"pwned\\n\"\n"),
        // …and `ab` removed.
        format!("  - file: \"{dir}/a\\0b\"\n    state: absent\n    reason: a test of removals\n"),
        // chown --reference=… would copy another file's owner and group.
        format!(
            "  - file: {dir}/site\n    content: \"site\\n\"\n    group: \"--reference={dir}/reference\"\n"
        ),
        // The same, through a variable.
        format!(
            "  - file: {dir}/site\n    content: \"site\\n\"\n    owner: \"{{{{site_owner}}}}\"\n"
        ),
        format!("  - link: {dir}/link\n    to: \"{dir}/vic\\0tim\"\n"),
        "  - directory: \"{{relative}}\"\n    state: absent\n    reason: a test of removals\n"
            .to_string(),
    ];
    for resource in &cases {
        let project = project_on_shared(
            "groups:\n  test: { recipes: [bad], vars: { site_owner: \"-1\", relative: \"-rf\" } }\n",
        );
        project.write("recipes/bad.yml", &format!("resources:\n{resource}"));
        for command in [&["converge", "--allow-removals"][..], &["plan"]] {
            let run = project.run(command).expect(2);
            assert!(
                run.stderr.contains("recipes/bad.yml:")
                    && run.stderr.contains("nothing was touched"),
                "{command:?} {resource}: {}",
                run.stderr
            );
        }
    }
    let after = on_host(&format!(
        "cd {dir} && sha256sum victim ab site reference && stat -c '%n %U %G %a' *"
    ));
    assert_eq!(before, after, "the host changed");
}

#[test]
fn a_plan_always_shows_what_it_removes_escaped() {
    let dir = "/srv/hostile-names";
    // A removal behind an innocent label, and names holding a carriage
    // return and escape sequences that would clear the screen or hide text.
    let cr = format!("{dir}/ok\rfake-name");
    let esc = format!("{dir}/x\x1b[2J\x1b[8mhidden");
    on_host(&format!(
        "rm -rf {dir}; mkdir -p {dir} && echo secret > {dir}/victim && printf x > \"$(printf '{dir}/ok\\rfake-name')\""
    ));
    let project = project_on_shared("groups:\n  test: { recipes: [names] }\n");
    project.write(
        "recipes/names.yml",
        &format!(
            "resources:\n  - name: refresh the cache\n    file: {dir}/victim\n    state: absent\n    reason: a test of removals\n  - file: \"{}\"\n    state: absent\n    reason: a test of removals\n  - file: \"{}\"\n    content: \"new\\n\"\n",
            cr.replace('\r', "\\r"),
            esc.replace('\x1b', "\\e")
        ),
    );
    let shown_cr = format!("{dir}/ok\\rfake-name");
    let shown_esc = format!("{dir}/x\\x1b[2J\\x1b[8mhidden");
    let no_raw = |what: &str, text: &str| {
        assert!(
            !text.contains('\r') && !text.contains('\x1b'),
            "{what} holds a raw control character:\n{text:?}"
        );
    };

    let plan = project.run(&["plan"]).expect(0);
    no_raw("plan", &plan.stdout);
    let removals = plan
        .stdout
        .split("removals (applied only from a saved plan or with --allow-removals):")
        .nth(1)
        .unwrap_or_else(|| panic!("no removals section:\n{}", plan.stdout));
    assert!(
        removals.contains(&format!("- file {dir}/victim [refresh the cache]"))
            && removals.contains(&format!("- file {shown_cr}")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(&format!("~ file {shown_esc}")),
        "{}",
        plan.stdout
    );

    let json = project.run(&["plan", "--format", "json"]).expect(0);
    no_raw("JSON", &json.stdout);
    let titles: Vec<String> = json.json()["hosts"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["title"].as_str().expect("title").to_string())
        .collect();
    assert_eq!(
        titles,
        [
            format!("file {dir}/victim [refresh the cache]"),
            format!("file {shown_cr}"),
            format!("file {shown_esc}"),
        ]
    );

    let saved = project.path().join("plan.json");
    project
        .run(&["plan", "--out", saved.to_str().expect("utf-8")])
        .expect(0);
    let plan_file = std::fs::read_to_string(&saved).expect("saved plan");
    assert!(
        plan_file.contains(&format!(
            "\"title\": \"file {dir}/victim [refresh the cache]\""
        )),
        "{plan_file}"
    );

    // Refused without the saved plan: the refusal names the path, not the label.
    let refused = project.run(&["converge"]).expect(1);
    no_raw("a refused converge", &refused.stdout);
    assert!(
        refused
            .stdout
            .contains(&format!("file {dir}/victim [refresh the cache]")),
        "{}",
        refused.stdout
    );
    let applied = project
        .run(&["converge", "--plan", saved.to_str().expect("utf-8")])
        .expect(0);
    no_raw("converge", &applied.stdout);
    assert!(
        applied
            .stdout
            .contains(&format!("changed   file {dir}/victim [refresh the cache]"))
            && applied.stdout.contains(&format!("file {shown_esc}")),
        "{}",
        applied.stdout
    );
    assert_eq!(
        on_host(&format!("ls -A {dir} | od -An -c | tr -s ' '")),
        on_host("printf 'x\\033[2J\\033[8mhidden\\n' | od -An -c | tr -s ' '"),
        "only the new file is left"
    );
}
