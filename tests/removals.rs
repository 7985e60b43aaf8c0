//! Removals with evidence, on one shared real test host: every removal says
//! why (`reason:`), the plan shows it with what the host shows of the
//! thing's use, converge refuses a removal used within `unused_for`, and
//! the host records what was removed and why.

mod common;

use common::project_on_shared;

fn on_host(command: &str) -> String {
    let shared = common::shared();
    shared.project.ssh(&shared.host, command)
}

#[test]
fn the_reason_is_in_the_plan_the_saved_plan_and_the_hosts_record() {
    let root = "/srv/reasons";
    let project = project_on_shared("groups:\n  test: { recipes: [tidy] }\n");
    project.write(
        "recipes/tidy.yml",
        &format!(
            "resources:\n  - file: {root}/old.conf\n    state: absent\n    reason: replaced by new.conf (ticket 42)\n"
        ),
    );
    on_host(&format!(
        "rm -rf {root}; mkdir -p {root} && echo x > {root}/old.conf"
    ));

    let plan = project.run(&["plan"]).expect(0);
    let section = plan
        .stdout
        .split(&format!("- file {root}/old.conf"))
        .nth(1)
        .unwrap_or_else(|| panic!("no removal:\n{}", plan.stdout));
    assert!(
        section.contains("reason: replaced by new.conf (ticket 42)"),
        "{}",
        plan.stdout
    );

    // Kept in the saved plan, and applied from it.
    let plan_file = project.path().join("plan.json");
    let plan_path = plan_file.to_str().unwrap();
    project.run(&["plan", "--out", plan_path]).expect(0);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert_eq!(
        saved["hosts"][0]["resources"][0]["reason"],
        "replaced by new.conf (ticket 42)"
    );
    project.run(&["converge", "--plan", plan_path]).expect(0);
    assert_eq!(
        on_host(&format!(
            "test -e {root}/old.conf && echo there || echo gone"
        )),
        "gone\n"
    );

    // The host records what was removed, and why.
    let record = on_host("tail -n 1 /var/lib/redgreen/removed.jsonl");
    let record: serde_json::Value = serde_json::from_str(&record).expect(&record);
    assert_eq!(record["removed"], format!("file {root}/old.conf"));
    assert_eq!(record["reason"], "replaced by new.conf (ticket 42)");
    assert_eq!(record["host"], "box");
    assert_eq!(record["declared"], "recipes/tidy.yml:2:5");

    // Nothing left to remove: nothing more is recorded.
    let lines = on_host("wc -l < /var/lib/redgreen/removed.jsonl");
    project.run(&["converge"]).expect(0);
    assert_eq!(on_host("wc -l < /var/lib/redgreen/removed.jsonl"), lines);
}
