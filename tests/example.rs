//! The project's own example suite (redgreen.yml, recipes, templates, files
//! and features at the top of this repository) on a fresh test host: its
//! features fail before converge (red) and pass after (green).

mod common;

use std::path::Path;

fn statuses(report: &serde_json::Value) -> Vec<String> {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}: {}",
                s["scenario"].as_str().unwrap(),
                s["status"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn the_example_goes_red_then_green() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let project = common::Project::new();
    for dir in ["recipes", "templates", "files", "features"] {
        common::copy_dir(&repository.join(dir), &project.path().join(dir));
    }
    std::fs::copy(
        repository.join("redgreen.yml"),
        project.path().join("redgreen.yml"),
    )
    .unwrap();
    project.run(&["validate"]).expect(0);
    let _hosts = project.create_hosts();

    let red = project.run(&["verify", "--format", "json"]).expect(1);
    let red = statuses(&red.json());
    assert!(
        red.contains(&"the message of the day names the manager: failed".to_string()),
        "{red:#?}"
    );
    assert!(
        red.contains(&"its files belong to the web server: failed".to_string()),
        "{red:#?}"
    );

    project.run(&["converge"]).expect(0);
    let green = project.run(&["verify", "--format", "json"]).expect(0);
    let green = statuses(&green.json());
    assert!(green.iter().all(|s| s.ends_with(": passed")), "{green:#?}");
    assert_eq!(green.len(), 13, "{green:#?}");
}
