//! The example CI workflows of docs/ci.md (docs/ci/github-workflow.yml and
//! docs/ci/gitlab-ci.yml) are YAML, have what GitHub and GitLab need (a
//! matrix over platforms, GitLab's `artifacts:reports:junit`), every
//! redgreen command in them parses for every cell of the matrix, and the
//! commands of one cell run: `validate`, then `test` with every reporter on
//! a local test host of the project `redgreen init` makes.

mod common;

use std::path::Path;

use serde_json::Value;

fn workflow(name: &str) -> (String, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/ci")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let value: Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    (text, value)
}

/// Every line of a `run:` or `script:` that calls redgreen, with the
/// matrix variable replaced by `platform`.
fn commands(lines: &[String], platform: &str) -> Vec<Vec<String>> {
    lines
        .iter()
        .flat_map(|run| {
            run.lines()
                .map(str::trim)
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|line| line.starts_with("redgreen "))
        .map(|line| {
            line.replace("${{ matrix.platform }}", platform)
                .replace("$PLATFORM", platform)
                .split_whitespace()
                .skip(1)
                .map(String::from)
                .collect()
        })
        .collect()
}

/// Run redgreen in the project's directory, as a CI job runs in its checkout
/// (relative report paths land there).
fn run_in(project: &common::Project, args: &[&str]) -> common::Run {
    project.run_env(args, &[], true)
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_example_workflows_parse_and_their_commands_run() {
    let (_, github) = workflow("github-workflow.yml");
    let test = &github["jobs"]["test"];
    let platforms = strings(&test["strategy"]["matrix"]["platform"]);
    assert_eq!(platforms, ["debian-12", "debian-13"]);
    let github_runs: Vec<String> = github["jobs"]
        .as_object()
        .expect("jobs")
        .values()
        .flat_map(|job| job["steps"].as_array().cloned().unwrap_or_default())
        .flat_map(|step| strings(&step["run"]))
        .collect();

    let (_, gitlab) = workflow("gitlab-ci.yml");
    let job = &gitlab["test"];
    assert_eq!(job["artifacts"]["reports"]["junit"], "reports/junit.xml");
    assert_eq!(job["artifacts"]["when"], "always");
    assert_eq!(
        strings(&job["parallel"]["matrix"][0]["PLATFORM"]),
        platforms
    );
    let gitlab_scripts: Vec<String> = gitlab
        .as_object()
        .expect("jobs")
        .values()
        .flat_map(|job| strings(&job["script"]))
        .collect();

    // The project they run in: `redgreen init`'s, with both platforms.
    let project = common::Project::new();
    project.run(&["init"]).expect(0);
    let config = std::fs::read_to_string(project.path().join("redgreen.yml")).unwrap();
    let config = config.replace(
        "    - { name: debian-12, image: \"debian:bookworm\" }\n",
        "    - { name: debian-12, image: \"debian:bookworm\" }\n    - { name: debian-13, image: \"debian:trixie\" }\n",
    );
    project.write("redgreen.yml", &config);

    // Every command of every cell parses (clap reads every flag before it
    // answers --help).
    let mut all = Vec::new();
    for platform in &platforms {
        all.extend(commands(&github_runs, platform));
        all.extend(commands(&gitlab_scripts, platform));
    }
    assert!(all.len() >= 10, "{all:?}");
    for command in &all {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.push("--help");
        let run = run_in(&project, &args);
        assert_eq!(
            run.code,
            0,
            "redgreen {}: {}",
            command.join(" "),
            run.stderr
        );
    }

    // One cell runs for real: validate, then the cycle with every reporter.
    let _guard = common::HostsGuard::new(&project);
    let mut ran = Vec::new();
    for command in commands(&github_runs, "debian-12") {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        match args[..] {
            ["validate"] => {
                run_in(&project, &args).expect(0);
                ran.push("validate");
            }
            ["test", ..] => {
                let run = run_in(&project, &args).expect(0);
                ran.push("test");
                assert!(run.stdout.contains("PASSED"), "{}", run.stdout);
                for report in ["junit.xml", "cucumber.json", "index.html"] {
                    let path = project.path().join("reports").join(report);
                    assert!(path.exists(), "{report} written");
                }
                let xml =
                    std::fs::read_to_string(project.path().join("reports/junit.xml")).unwrap();
                assert!(xml.contains("(on web-debian-12)"), "{xml}");
            }
            _ => {}
        }
    }
    assert_eq!(ran, ["validate", "test"]);
}
