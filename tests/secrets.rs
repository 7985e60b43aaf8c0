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

/// A private key: a secret of many lines, each shown on its own by diffs
/// and file excerpts.
const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBfakeKEYrg1fakeKEYrg1fakeKEYrg1fakeKEYrg1fakeKEYrgAAAJhfak
ZWQyNTUxOQAAACBfakeKEYrg2fakeKEYrg2fakeKEYrg2fakeKEYrg2fakeKEYrg2AAAAE
-----END OPENSSH PRIVATE KEY-----
";

/// A secret with every character that JSON, HTML and XML escape, between
/// words that must never show up anywhere.
const TOKEN: &str = "alpha1\"bravo2\\charlie3<delta4&echo5>foxtrot6'";

/// A secret in a resource's name: shown masked, and a saved plan with it
/// masked still applies.
const WORD: &str = "zulu7word";

/// The words of TOKEN and WORD and the lines of KEY: none may appear in any
/// output.
fn leaks(text: &str) -> Vec<String> {
    let words = [
        "alpha1", "bravo2", "charlie3", "delta4", "echo5", "foxtrot6", WORD,
    ];
    words
        .iter()
        .map(|w| w.to_string())
        .chain(KEY.lines().map(String::from))
        .filter(|part| text.contains(part.as_str()))
        .collect()
}

fn run_with_secrets(project: &common::Project, args: &[&str]) -> (i32, String) {
    let output = Command::cargo_bin("redgreen")
        .unwrap()
        .arg("-C")
        .arg(project.path())
        .args(args)
        .env("NO_COLOR", "1")
        .env("RG_TEST_KEY", KEY)
        .env("RG_TEST_TOKEN", TOKEN)
        .env("RG_TEST_WORD", WORD)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

const SECRET_VARS: &str = "groups:\n  test:\n    recipes: [keys]\n    vars:\n      deploy_key: { secret: true, env: RG_TEST_KEY }\n      token: { secret: true, env: RG_TEST_TOKEN }\n      word: { secret: true, env: RG_TEST_WORD }\n";

#[test]
fn multi_line_secrets_and_secrets_with_escaped_characters_are_masked_everywhere() {
    let shared = common::shared();
    shared.project.ssh(&shared.host, "rm -rf /srv/rg-keys");
    let project = common::project_on_shared(SECRET_VARS);
    project.write(
        "recipes/keys.yml",
        "resources:\n  - directory: /srv/rg-keys\n  - file: /srv/rg-keys/id_deploy\n    content: \"{{deploy_key}}\"\n    mode: \"0600\"\n  - file: /srv/rg-keys/token\n    content: \"token={{token}}\\n\"\n  - file: \"/srv/rg-keys/{{word}}\"\n    content: x\n",
    );
    // Every failing file step shows what the file has.
    project.write(
        "features/keys.feature",
        "Feature: keys\n  Scenario: the key\n    Then the file \"/srv/rg-keys/id_deploy\" should contain \"not in the key\"\n  Scenario: the token\n    Then the file \"/srv/rg-keys/token\" should contain \"not in the token\"\n  Scenario: the token again\n    Then the file \"/srv/rg-keys/token\" should not match \"token=.*\"\n",
    );
    let plan_file = project.path().join("plan.json");
    let plan_out = plan_file.display().to_string();

    let mut everything = String::new();
    let mut run = |args: &[&str], expected: i32| {
        let (code, text) = run_with_secrets(&project, args);
        assert_eq!(code, expected, "{args:?}: {text}");
        everything.push_str(&text);
    };
    run(&["plan"], 0);
    run(&["plan", "--format", "json"], 0);
    run(&["plan", "--out", &plan_out], 0);
    run(&["converge", "--plan", &plan_out, "--diff"], 0);
    // Drift: a diff with the key's lines on both sides.
    shared.project.ssh(
        &shared.host,
        "sed -i 's/fakeKEYrg1/changedKEY/' /srv/rg-keys/id_deploy && echo drift >> /srv/rg-keys/token",
    );
    run(&["plan"], 0);
    run(&["plan", "--out", &plan_out], 0);
    run(&["converge", "--diff", "--format", "json"], 0);
    shared.project.ssh(
        &shared.host,
        "sed -i 's/fakeKEYrg1/changedKEY/' /srv/rg-keys/id_deploy",
    );
    run(&["converge", "--diff"], 0);

    // verify: the terminal, and every report format at once.
    let out = project.path().join("reports");
    let formats: Vec<String> = [
        ("junit", "junit.xml"),
        ("cucumber-json", "cucumber.json"),
        ("html", "report.html"),
        ("json", "report.json"),
    ]
    .iter()
    .map(|(format, file)| format!("{format}:{}", out.join(file).display()))
    .collect();
    let mut args = vec!["verify"];
    for format in &formats {
        args.extend(["--format", format.as_str()]);
    }
    run(&args, 1);
    run(&["verify", "-v"], 1);
    // -vv logs the scripts that run.
    run(&["verify", "-vv"], 1);
    run(&["converge", "-vv"], 0);
    for file in ["junit.xml", "cucumber.json", "report.html", "report.json"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(text.contains("********"), "{file} shows the mask:\n{text}");
        everything.push_str(&text);
    }
    everything.push_str(&std::fs::read_to_string(&plan_file).unwrap());

    assert!(
        everything.contains("it has:"),
        "the failing steps show the files:\n{everything}"
    );
    assert!(
        everything.contains("+********"),
        "diffs show the mask line by line:\n{everything}"
    );
    assert_eq!(
        leaks(&everything),
        Vec::<String>::new(),
        "secrets leaked:\n{everything}"
    );
    // The host has the real values.
    assert_eq!(
        shared
            .project
            .ssh(&shared.host, "cat /srv/rg-keys/id_deploy"),
        KEY
    );
    assert_eq!(
        shared.project.ssh(&shared.host, "cat /srv/rg-keys/token"),
        format!("token={TOKEN}\n")
    );
}

/// `ps -eo user,args` on the test host.
fn process_list(shared: &common::Shared) -> String {
    shared.project.ssh(&shared.host, "ps -eo user,args")
}

#[test]
fn a_commands_secret_never_shows_in_the_process_list() {
    let shared = common::shared();
    shared.project.ssh(
        &shared.host,
        "rm -rf /srv/rg-ps /tmp/rg-ps-nobody && mkdir -p /srv/rg-ps",
    );
    let project = common::project_on_shared(
        "groups:\n  test:\n    recipes: [slow]\n    vars:\n      token: { secret: true, env: RG_TEST_TOKEN }\n",
    );
    // The secret is in the command, its environment and its guard; the
    // commands sleep so that the process list can be read while they run.
    project.write(
        "recipes/slow.yml",
        "resources:\n  - command: \"sleep 3.1; printf '%s' \\\"$API_TOKEN\\\" > env-out; cat > run-out <<'RG'\\n{{token}}\\nRG\\n\"\n    cwd: /srv/rg-ps\n    env: { API_TOKEN: \"{{token}}\" }\n    creates: /srv/rg-ps/run-out\n    unless: \"cat <<'RG' | grep -qx nothing\\n{{token}}\\nRG\\n\"\n  - command: \"sleep 3.2; mkdir -p /tmp/rg-ps-nobody; printf '%s' \\\"$API_TOKEN\\\" > /tmp/rg-ps-nobody/out\"\n    user: nobody\n    env: { API_TOKEN: \"{{token}}\" }\n    creates: /tmp/rg-ps-nobody/out\n",
    );
    let mut converge = Command::cargo_bin("redgreen")
        .unwrap()
        .arg("-C")
        .arg(project.path())
        .arg("converge")
        .env("NO_COLOR", "1")
        .env("RG_TEST_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read the process lists (the host's and this machine's) until the
    // converge ends.
    let mut lists = String::new();
    let mut seen_running = Vec::new();
    while converge.try_wait().unwrap().is_none() {
        let list = process_list(shared);
        for sleeping in ["sleep 3.1", "sleep 3.2"] {
            if list.contains(sleeping) && !seen_running.contains(&sleeping) {
                seen_running.push(sleeping);
            }
        }
        lists.push_str(&list);
        let here = Command::new("ps").args(["-eo", "args"]).output().unwrap();
        lists.push_str(&String::from_utf8_lossy(&here.stdout));
    }
    let output = converge.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert_eq!(
        seen_running,
        ["sleep 3.1", "sleep 3.2"],
        "both commands were seen running:\n{lists}"
    );
    assert_eq!(
        leaks(&format!("{lists}{text}")),
        Vec::<String>::new(),
        "the secret showed in a process list:\n{lists}"
    );
    // The commands got it, through their environment and their script.
    assert_eq!(
        shared.project.ssh(
            &shared.host,
            "cat /srv/rg-ps/env-out; echo; cat /srv/rg-ps/run-out; cat /tmp/rg-ps-nobody/out; echo; stat -c %U /tmp/rg-ps-nobody/out"
        ),
        format!("{TOKEN}\n{TOKEN}\n{TOKEN}\nnobody\n")
    );
}
