//! Secrets stay secret: a secret variable reaches the host, but never any
//! output — terminal, diffs, JSON, error messages.

mod common;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

const SECRET: &str = "s3cr3t\"pa\\ss-42";

fn run_with_secret(project: &common::Project, args: &[&str]) -> (i32, String) {
    let output = Command::cargo_bin("redgreen")
        .unwrap()
        .arg("-C")
        .arg(project.path())
        .args(args)
        .env("NO_COLOR", "1")
        .env("RG_TEST_DB_PASSWORD", SECRET)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn a_secret_reaches_the_host_and_no_output() {
    let shared = common::shared();
    shared
        .project
        .ssh(&shared.host, "rm -rf /srv/secrets /srv/secret-missing");
    let project = common::project_on_shared(
        "groups:\n  test:\n    recipes: [app]\n    vars:\n      db_password: { secret: true, env: RG_TEST_DB_PASSWORD }\n",
    );
    project.write(
        "recipes/app.yml",
        "resources:\n  - directory: /srv/secrets\n  - file: /srv/secrets/app.conf\n    content: \"user=app\\npassword={{db_password}}\\n\"\n    mode: \"0600\"\n  - template: /srv/secrets/db.conf\n    source: db.conf.hbs\n",
    );
    project.write(
        "templates/db.conf.hbs",
        "host=db\npassword={{db_password}}\n",
    );

    // validate needs no secret at hand; converge does, and says which.
    project.run(&["validate"]).expect(0);
    let missing = project.run(&["converge"]).expect(2);
    assert!(
        missing.stderr.contains("RG_TEST_DB_PASSWORD"),
        "{}",
        missing.stderr
    );

    let mut everything = String::new();
    for args in [
        vec!["plan"],
        vec!["plan", "--format", "json"],
        vec!["converge", "--diff"],
        vec!["converge", "--format", "json"],
    ] {
        let (code, text) = run_with_secret(&project, &args);
        assert_eq!(code, 0, "{args:?}: {text}");
        everything.push_str(&text);
    }
    // Drift, so that a diff with the secret on both sides is shown.
    shared
        .project
        .ssh(&shared.host, "echo changed > /srv/secrets/app.conf");
    for args in [vec!["plan"], vec!["converge", "--diff", "--format", "json"]] {
        let (code, text) = run_with_secret(&project, &args);
        assert_eq!(code, 0, "{args:?}: {text}");
        everything.push_str(&text);
    }
    // A failure whose resource name holds the secret.
    project.write(
        "recipes/app.yml",
        "resources:\n  - file: \"/srv/secret-missing/{{db_password}}\"\n    content: x\n",
    );
    let (code, text) = run_with_secret(&project, &["converge"]);
    assert_eq!(code, 1, "{text}");
    everything.push_str(&text);

    assert!(
        everything.contains("********"),
        "the mask shows where the secret is:\n{everything}"
    );
    assert!(
        !everything.contains(SECRET),
        "the secret leaked:\n{everything}"
    );
    assert!(
        !everything.contains("s3cr3t"),
        "part of the secret leaked:\n{everything}"
    );
    let on_host = shared.project.ssh(
        &shared.host,
        "cat /srv/secrets/app.conf /srv/secrets/db.conf",
    );
    assert_eq!(
        on_host,
        format!("user=app\npassword={SECRET}\nhost=db\npassword={SECRET}\n")
    );
}
