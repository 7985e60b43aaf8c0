//! CI reads what redgreen writes: the same `--format` reporters on `test`,
//! `verify` and `converge --verify`, several at once; JUnit checked against
//! a JUnit XSD (tests/schemas/junit.xsd, with xmllint from Debian's
//! libxml2-utils); Cucumber JSON read through a typed model of the format as
//! cucumber's report tools read it (the fields and types that cucumber's own
//! JSON schemas require); and, with `GITHUB_ACTIONS=true`, workflow
//! annotations and the step summary, on a real test host.

mod common;

use std::path::Path;
use std::process::Command;

/// Cucumber JSON, as report tools read it: every field they need, typed
/// (each is read to check its type, though not every test looks at it).
#[allow(dead_code)]
mod cucumber {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Feature {
        pub uri: String,
        pub id: String,
        pub keyword: String,
        pub name: String,
        pub line: u32,
        #[serde(default)]
        pub description: Option<String>,
        #[serde(default)]
        pub tags: Vec<Tag>,
        pub elements: Vec<Element>,
    }

    #[derive(Deserialize)]
    pub struct Tag {
        pub name: String,
        pub line: u32,
    }

    #[derive(Deserialize)]
    pub struct Element {
        pub id: String,
        pub keyword: String,
        #[serde(rename = "type")]
        pub kind: Kind,
        pub name: String,
        pub line: u32,
        #[serde(default)]
        pub tags: Vec<Tag>,
        #[serde(default)]
        pub before: Vec<Hook>,
        #[serde(default)]
        pub after: Vec<Hook>,
        pub steps: Vec<Step>,
    }

    #[derive(Deserialize, PartialEq, Debug)]
    #[serde(rename_all = "lowercase")]
    pub enum Kind {
        Scenario,
        Background,
    }

    #[derive(Deserialize)]
    pub struct Hook {
        pub result: StepResult,
    }

    #[derive(Deserialize)]
    pub struct Step {
        pub keyword: String,
        pub name: String,
        pub line: u32,
        pub result: StepResult,
    }

    #[derive(Deserialize)]
    pub struct StepResult {
        pub status: Status,
        #[serde(default)]
        pub duration: Option<u64>,
        #[serde(default)]
        pub error_message: Option<String>,
    }

    #[derive(Deserialize, PartialEq, Debug, Clone, Copy)]
    #[serde(rename_all = "lowercase")]
    pub enum Status {
        Passed,
        Failed,
        Skipped,
        Undefined,
        Pending,
        Ambiguous,
    }
}

/// Check `file` against the JUnit XSD; panic with xmllint's words if not valid.
#[track_caller]
fn assert_valid_junit(file: &Path) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/junit.xsd");
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(file)
        .output()
        .expect("xmllint runs (Debian package libxml2-utils)");
    assert!(
        output.status.success(),
        "{} is not valid JUnit:\n{}\n{}",
        file.display(),
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

#[track_caller]
fn read_cucumber(file: &Path) -> Vec<cucumber::Feature> {
    let text = std::fs::read_to_string(file).unwrap();
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not Cucumber JSON: {e}\n{text}", file.display()))
}

/// Run redgreen in `project` as a step of GitHub Actions whose step summary
/// is `summary`.
fn on_github(project: &common::Project, summary: &Path, args: &[&str]) -> common::Run {
    project.run_env(
        args,
        &[
            ("GITHUB_ACTIONS", Path::new("true")),
            ("GITHUB_STEP_SUMMARY", summary),
        ],
        false,
    )
}

const FEATURE: &str = r#"Feature: The app greets
  Scenario: the greeting is written
    Then the file "/etc/greeting" should contain "hello"

  Scenario: the greeting is in French
    Then the file "/etc/greeting" should contain "bonjour"
"#;

/// One test host through `test`, then `verify` and `converge --verify` on
/// it: every reporter at once, each read as CI reads it, and GitHub's
/// annotations and summary.
#[test]
fn every_command_that_runs_features_writes_every_reporter_and_github_reads_the_failures() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  app: { recipes: [app] }\ntest_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    app: { groups: [app] }\n",
        ),
        (
            "recipes/app.yml",
            "resources:\n  - file: /etc/greeting\n    content: \"hello\\n\"\n  - command: \"echo run >> /var/log/app-runs\"\n",
        ),
        ("features/app.feature", FEATURE),
    ]);
    let reports = project.path().join("reports");
    let summary = project.path().join("step-summary.md");
    let _guard = common::HostsGuard::new(&project);

    // 1. test: red, converge, green (one scenario stays red), idempotence
    // (the command runs again).
    let junit = format!("junit:{}", reports.join("junit.xml").display());
    let cucumber = format!("cucumber-json:{}", reports.join("cucumber.json").display());
    let html = format!("html:{}", reports.join("index.html").display());
    let run = on_github(
        &project,
        &summary,
        &[
            "test", "--keep", "--format", "pretty", "--format", &junit, "--format", &cucumber,
            "--format", &html,
        ],
    )
    .expect(1);
    assert!(run.stdout.contains("FAILED on app-d12"), "{}", run.stdout);

    // JUnit: valid, a testsuite per phase, the failure says host, expected, found.
    let junit_file = reports.join("junit.xml");
    assert_valid_junit(&junit_file);
    let xml = std::fs::read_to_string(&junit_file).unwrap();
    for suite in [
        "name=\"verify (red): before converge, scenarios must fail\"",
        "name=\"converge\"",
        "name=\"verify (green): after converge, scenarios must pass\"",
        "name=\"converge again (idempotence): nothing may change\"",
    ] {
        assert!(xml.contains(suite), "{suite}\n{xml}");
    }
    assert!(
        xml.contains("red before converge on app-d12, as expected:"),
        "{xml}"
    );
    assert!(
        xml.contains(
            "on app-d12: Then the file \"/etc/greeting\" should contain \"bonjour\" (features/app.feature:6): expected /etc/greeting to contain \"bonjour\"; it does not, it has:"
        ),
        "expected, found and the host: {xml}"
    );
    assert!(
        xml.contains("type=\"not-idempotent\"")
            && xml.contains("command echo run &gt;&gt; /var/log/app-runs (recipes/app.yml:4:5)"),
        "{xml}"
    );

    // Cucumber JSON of the green phase.
    let features = read_cucumber(&reports.join("cucumber.json"));
    assert_eq!(features.len(), 1);
    assert_eq!(features[0].uri, "features/app.feature");
    let statuses: Vec<cucumber::Status> = features[0]
        .elements
        .iter()
        .map(|e| e.steps[0].result.status)
        .collect();
    assert_eq!(
        statuses,
        [cucumber::Status::Passed, cucumber::Status::Failed]
    );
    assert!(
        std::fs::read_to_string(reports.join("index.html"))
            .unwrap()
            .starts_with("<!doctype html>")
    );

    // GitHub: an annotation at the failed step, one at the recipe that is
    // not idempotent, and the summary table.
    assert!(
        run.stderr.contains(
            "::error file=features/app.feature,line=6,title=the greeting is in French still red after converge on app-d12::Then the file \"/etc/greeting\" should contain \"bonjour\"%0Aexpected /etc/greeting to contain \"bonjour\""
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "::error file=recipes/app.yml,line=4,col=5,title=command echo run >> /var/log/app-runs is not idempotent on app-d12::"
        ),
        "{}",
        run.stderr
    );
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.contains("## redgreen test"), "{markdown}");
    assert!(
        markdown.contains("| app-d12 | 2/2 failed | 1/2 passed | ❌ no | ❌ FAILED |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| the greeting is in French `features/app.feature:5` | ❌ → ❌ |"),
        "{markdown}"
    );

    // 2. verify on the kept test host: JSON on stdout stays JSON with the
    // annotations on stderr, JUnit and Cucumber JSON in files.
    let verify_junit = format!("junit:{}", reports.join("verify.xml").display());
    let verify_cucumber = format!("cucumber-json:{}", reports.join("verify.json").display());
    let run = on_github(
        &project,
        &summary,
        &[
            "verify",
            "--test-hosts",
            "--format",
            "json",
            "--format",
            &verify_junit,
            "--format",
            &verify_cucumber,
        ],
    )
    .expect(1);
    assert_eq!(run.json()["summary"]["failed"], 1);
    assert_valid_junit(&reports.join("verify.xml"));
    assert_eq!(
        read_cucumber(&reports.join("verify.json"))[0]
            .elements
            .len(),
        2
    );
    assert!(
        run.stderr.contains(
            "::error file=features/app.feature,line=6,title=the greeting is in French failed on app-d12::"
        ),
        "{}",
        run.stderr
    );
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(
        markdown.contains("## redgreen verify"),
        "appended: {markdown}"
    );
    assert!(markdown.contains("## redgreen test"), "kept: {markdown}");
    assert!(
        markdown.contains("| scenario | app-d12 |\n|---|---|\n| the greeting is written `features/app.feature:2` | ✅ |\n| the greeting is in French `features/app.feature:5` | ❌ |"),
        "{markdown}"
    );

    // 3. converge --verify: the same reporters.
    let converge_junit = format!("junit:{}", reports.join("converge.xml").display());
    let run = on_github(
        &project,
        &summary,
        &[
            "converge",
            "--test-hosts",
            "--verify",
            "--format",
            &converge_junit,
        ],
    )
    .expect(1);
    assert_valid_junit(&reports.join("converge.xml"));
    let xml = std::fs::read_to_string(reports.join("converge.xml")).unwrap();
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(
        run.stderr
            .contains("::error file=features/app.feature,line=6,"),
        "{}",
        run.stderr
    );
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .contains("## redgreen converge"),
    );
}

/// Bad input on GitHub Actions: an annotation at the file and line, and
/// nothing else happens.
#[test]
fn bad_input_is_an_annotation_at_its_place() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "hosts:\n  web1: { address: 127.0.0.1, port: 1, groups: [web] }\ngroups:\n  web: { recipes: [site] }\n",
        ),
        (
            "recipes/site.yml",
            "resources:\n  - file: /etc/site\n    mode: \"99z\"\n",
        ),
    ]);
    let summary = project.path().join("summary.md");
    let run = on_github(&project, &summary, &["validate"]).expect(2);
    assert!(
        run.stderr.contains("::error file=recipes/site.yml,line=3,col=11,title=redgreen%3A bad input%2C nothing was touched::"),
        "{}",
        run.stderr
    );
    // Not on GitHub: no workflow command.
    let run = project.run(&["validate"]).expect(2);
    assert!(!run.stderr.contains("::error"), "{}", run.stderr);
}
