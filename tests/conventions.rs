//! The conventions of a command-line tool: completions for each shell, a man
//! page, `--quiet`, and colours that follow `NO_COLOR`, `CLICOLOR_FORCE` and
//! the terminal.

mod common;

use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;

/// redgreen with a clean colour environment (no NO_COLOR, CLICOLOR*,
/// TERM set by whoever runs the tests), stdout and stderr piped.
fn redgreen(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> common::Run {
    let mut command = Command::cargo_bin("redgreen").expect("redgreen binary");
    command.arg("-C").arg(dir).args(args);
    for name in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR"] {
        command.env_remove(name);
    }
    command.env("TERM", "xterm-256color");
    command.envs(env.iter().copied());
    let output = command.output().expect("redgreen runs");
    common::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Run `shell -c script`, failing the test with the output unless it exits 0.
#[track_caller]
fn shell(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install it (.ci/run's package list has it)")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "{program} {args:?}: {}\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

#[test]
fn completions_load_in_bash_zsh_and_fish() {
    let project = common::Project::new();
    for name in ["bash", "zsh", "fish"] {
        let script = project.run(&["completions", name]).expect(0).stdout;
        project.write(&format!("redgreen.{name}"), &script);
    }
    let dir = project.path().display().to_string();
    let bash = shell(
        "bash",
        &[
            "-c",
            &format!("source {dir}/redgreen.bash && complete -p redgreen"),
        ],
    );
    assert!(bash.contains("-F _redgreen redgreen"), "{bash}");
    let zsh = shell(
        "zsh",
        &[
            "-f",
            "-c",
            &format!(
                "autoload -Uz compinit && compinit -u -D && source {dir}/redgreen.zsh && print -- $_comps[redgreen]"
            ),
        ],
    );
    assert_eq!(zsh.trim(), "_redgreen");
    // fish completes a partial command line from the script.
    let fish = shell(
        "fish",
        &[
            "--no-config",
            "-c",
            &format!("source {dir}/redgreen.fish; complete -C 'redgreen conv'"),
        ],
    );
    assert!(fish.starts_with("converge\tApply the recipes"), "{fish}");
    let flags = shell(
        "fish",
        &[
            "--no-config",
            "-c",
            &format!("source {dir}/redgreen.fish; complete -C 'redgreen test --par'"),
        ],
    );
    assert!(flags.contains("--partition"), "{flags}");
}

#[test]
fn the_man_page_renders_and_documents_every_command() {
    let project = common::Project::new();
    let page = project.run(&["man"]).expect(0).stdout;
    project.write("redgreen.1", &page);
    let path = project.path().join("redgreen.1").display().to_string();
    // -ww: every warning; -z: no output. groff warns on malformed roff.
    shell("groff", &["-man", "-Tutf8", "-ww", "-z", &path]);
    let text = shell("groff", &["-man", "-Tutf8", "-P-cbu", &path]);
    // Justified text: words apart by one space or more.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in ["redgreen", "--quiet", "completions", "Errors only"] {
        assert!(
            text.contains(expected),
            "the man page lacks {expected}:\n{text}"
        );
    }
    let dir = project.path().join("man");
    project
        .run(&["man", "--out-dir", &dir.display().to_string()])
        .expect(0);
    for page in ["redgreen.1", "redgreen-test.1", "redgreen-hosts-create.1"] {
        assert!(dir.join(page).is_file(), "no {page} in {}", dir.display());
    }
}

/// A project whose plan runs on this machine (touching nothing: a plan).
fn local_project() -> common::Project {
    let project = common::Project::new();
    let target = project.path().join("out.txt");
    project.write(
        "redgreen.yml",
        "hosts:\n  me: { address: localhost, groups: [g] }\ngroups:\n  g: { recipes: [r] }\n",
    );
    project.write(
        "recipes/r.yml",
        &format!(
            "resources:\n  - file: {}\n    content: hi\n",
            target.display()
        ),
    );
    project
}

#[test]
fn colours_follow_no_color_clicolor_force_and_the_terminal() {
    let project = local_project();
    let dir = project.path();
    let plan = ["plan", "--connection", "local"];
    // stdout is a pipe here: no colours unless forced.
    let piped = redgreen(dir, &plan, &[]).expect(0);
    assert!(piped.stdout.contains("+hi"), "{}", piped.stdout);
    assert!(!piped.stdout.contains('\x1b'), "{}", piped.stdout);
    let forced = redgreen(dir, &plan, &[("CLICOLOR_FORCE", "1")]).expect(0);
    assert!(forced.stdout.contains("\x1b[32m+hi"), "{}", forced.stdout);
    let both = redgreen(dir, &plan, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).expect(0);
    assert!(
        !both.stdout.contains('\x1b'),
        "NO_COLOR wins: {}",
        both.stdout
    );
    // Diagnostics on stderr follow the same decision.
    project.write("redgreen.yml", "hostz: {}\n");
    let bad = redgreen(dir, &["validate"], &[("CLICOLOR_FORCE", "1")]).expect(2);
    assert!(bad.stderr.contains("\x1b["), "{}", bad.stderr);
    let plain = redgreen(dir, &["validate"], &[]).expect(2);
    assert!(!plain.stderr.contains('\x1b'), "{}", plain.stderr);
    assert!(
        plain.stderr.contains("did you mean 'hosts'"),
        "{}",
        plain.stderr
    );
}

#[test]
fn quiet_shows_errors_and_the_data_asked_for_only() {
    let project = local_project();
    let dir = project.path();
    let quiet = redgreen(dir, &["--quiet", "plan", "--connection", "local"], &[]).expect(0);
    assert_eq!(quiet.stdout, "");
    assert_eq!(quiet.stderr, "");
    let json = redgreen(
        dir,
        &["plan", "-q", "--connection", "local", "--format", "json"],
        &[],
    )
    .expect(0);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(plan["mode"], "plan");
    let valid = redgreen(dir, &["validate", "--quiet"], &[]).expect(0);
    assert_eq!(valid.stdout, "");
    let schema = redgreen(dir, &["schema", "project", "--quiet"], &[]).expect(0);
    assert!(schema.stdout.contains("\"$schema\""), "{}", schema.stdout);
    // What failed is an error: shown on stderr, the report on stdout stays empty.
    let missing = project.path().join("missing/out.txt");
    project.write(
        "recipes/r.yml",
        &format!(
            "resources:\n  - file: {}\n    content: hi\n",
            missing.display()
        ),
    );
    let failed = redgreen(dir, &["converge", "-q", "--connection", "local"], &[]).expect(1);
    assert_eq!(failed.stdout, "");
    assert!(failed.stderr.contains("failed"), "{}", failed.stderr);
    assert!(
        failed.stderr.contains("missing/out.txt"),
        "{}",
        failed.stderr
    );
    assert!(!missing.exists());
    project.write("redgreen.yml", "hostz: {}\n");
    let bad = redgreen(dir, &["validate", "--quiet"], &[]).expect(2);
    assert_eq!(bad.stdout, "");
    assert!(
        bad.stderr.contains("did you mean 'hosts'"),
        "{}",
        bad.stderr
    );
    // -q and -v say opposite things.
    redgreen(dir, &["validate", "-q", "-v"], &[]).expect(2);
}
