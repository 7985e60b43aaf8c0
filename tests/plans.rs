//! Destructive changes and saved plans, on a real test host: removals stand
//! out in plans, converge applies them only from a saved plan or with
//! --allow-removals, and a saved plan is applied exactly or not at all.

mod common;

use common::project_on_shared;

fn on_host(command: &str) -> String {
    let shared = common::shared();
    shared.project.ssh(&shared.host, command)
}

#[test]
fn removals_are_refused_unless_allowed_and_nothing_is_touched() {
    let root = "/srv/removals";
    let project = project_on_shared("groups:\n  test: { recipes: [tidy] }\n");
    project.write(
        "recipes/tidy.yml",
        &format!(
            "resources:\n  - file: {root}/keep\n    content: \"kept\\n\"\n  - file: {root}/gone\n    state: absent\n    reason: a test of removals\n  - directory: {root}/old\n    recursive: true\n    state: absent\n    reason: a test of removals\n  - package: no-such-package-here\n    state: absent\n    reason: a test of removals\n"
        ),
    );
    on_host(&format!(
        "rm -rf {root}; mkdir -p {root}/old/sub && echo x > {root}/old/sub/f && echo x > {root}/gone"
    ));
    let there = || {
        on_host(&format!(
            "for p in keep gone old; do test -e {root}/$p && echo $p; done; true"
        ))
    };

    // The plan puts the removals in a section of their own.
    let plan = project.run(&["plan"]).expect(0);
    assert!(
        plan.stdout.contains("box: 3 to change (2 removals)"),
        "{}",
        plan.stdout
    );
    let section = plan
        .stdout
        .split("removals (applied only from a saved plan or with --allow-removals):")
        .nth(1)
        .unwrap_or_else(|| panic!("no removals section:\n{}", plan.stdout));
    assert!(
        section.contains(&format!("- file {root}/gone"))
            && section.contains(&format!("- directory {root}/old"))
            && section.contains("remove directory and everything in it"),
        "{}",
        plan.stdout
    );
    assert!(
        !section.contains(&format!("{root}/keep")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("2 removals on 1 host (box)"),
        "{}",
        plan.stdout
    );
    let json = project.run(&["plan", "--format", "json"]).expect(0).json();
    let removes: Vec<bool> = json["hosts"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["removes"].as_bool().unwrap())
        .collect();
    assert_eq!(removes, [false, true, true, false]);

    // Converge refuses the host before anything is applied, and says what to do.
    let refused = project.run(&["converge"]).expect(1);
    assert!(
        refused.stdout.contains(&format!(
            "refused  the plan removes 2 things (file {root}/gone, directory {root}/old)"
        )),
        "{}",
        refused.stdout
    );
    assert!(
        refused.stdout.contains("redgreen plan --out plan.json")
            && refused.stdout.contains("--allow-removals"),
        "{}",
        refused.stdout
    );
    assert_eq!(there(), "gone\nold\n", "nothing was touched");
    assert_eq!(
        on_host("cat /var/lib/redgreen/state.json 2>/dev/null | grep -c tidy || true"),
        "0\n",
        "not even the ledger"
    );

    // --allow-removals applies them.
    project.run(&["converge", "--allow-removals"]).expect(0);
    assert_eq!(there(), "keep\n");
    // Nothing left to remove: a plain converge is fine again.
    project.run(&["converge"]).expect(0);
}

#[test]
fn a_saved_plan_is_applied_exactly_or_refused() {
    let root = "/srv/saved";
    let project = project_on_shared("groups:\n  test: { recipes: [saved] }\n");
    project.write(
        "recipes/saved.yml",
        &format!(
            "resources:\n  - file: {root}/a\n    content: \"new\\n\"\n  - file: {root}/old\n    state: absent\n    reason: a test of removals\n"
        ),
    );
    on_host(&format!(
        "rm -rf {root}; mkdir -p {root} && echo old > {root}/a && echo x > {root}/old"
    ));
    let plan_file = project.path().join("plan.json");
    let plan_path = plan_file.to_str().unwrap();

    let plan = project.run(&["plan", "--out", plan_path]).expect(0);
    assert!(
        plan.stdout
            .contains(&format!("Saved the plan to {plan_path}")),
        "{}",
        plan.stdout
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert_eq!(saved["redgreen_plan"], 1);
    assert_eq!(saved["hosts"][0]["host"], "box");
    assert_eq!(saved["hosts"][0]["resources"][1]["removes"], true);

    // The host changes after the plan was saved: the plan is refused, with
    // what differs, and nothing is applied.
    on_host(&format!("echo tampered > {root}/a"));
    let refused = project.run(&["converge", "--plan", plan_path]).expect(1);
    assert!(
        refused
            .stdout
            .contains("refused  the host changed since the plan was saved"),
        "{}",
        refused.stdout
    );
    assert!(
        refused
            .stdout
            .contains(&format!("file {root}/a: the plan had content sha256 ")),
        "{}",
        refused.stdout
    );
    assert_eq!(
        on_host(&format!("cat {root}/a; ls {root}")),
        "tampered\na\nold\n"
    );

    assert!(
        refused.stdout.contains(&format!(
            "the path {root}/a is not as it was when the plan was made"
        )),
        "{}",
        refused.stdout
    );

    // The file the plan removes is not the one that was reviewed: refused too.
    project.run(&["plan", "--out", plan_path]).expect(0);
    on_host(&format!("echo precious > {root}/old"));
    let refused = project.run(&["converge", "--plan", plan_path]).expect(1);
    assert!(
        refused.stdout.contains(&format!(
            "the path {root}/old is not as it was when the plan was made"
        )),
        "{}",
        refused.stdout
    );
    assert_eq!(on_host(&format!("cat {root}/old")), "precious\n");

    // A fresh plan of the host as it is now applies, removal included.
    project.run(&["plan", "--out", plan_path]).expect(0);
    let applied = project
        .run(&["converge", "--plan", plan_path, "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(applied["hosts"][0]["outcome"], "ok");
    assert_eq!(on_host(&format!("cat {root}/a; ls {root}")), "new\na\n");

    // The same plan again: the host is no longer what it planned for.
    let again = project.run(&["converge", "--plan", plan_path]).expect(1);
    assert!(
        again.stdout.contains(&format!(
            "file {root}/old: the plan had remove file, now nothing to change"
        )),
        "{}",
        again.stdout
    );

    // A removal that was not in the plan: the file to remove appeared on the
    // host after the plan was saved (which had nothing to remove).
    project.run(&["plan", "--out", plan_path]).expect(0);
    on_host(&format!("echo new > {root}/old"));
    let refused = project.run(&["converge", "--plan", plan_path]).expect(1);
    assert!(
        refused.stdout.contains(&format!(
            "file {root}/old: the plan had nothing to change, now remove file"
        )),
        "{}",
        refused.stdout
    );
    assert_eq!(on_host(&format!("cat {root}/old")), "new\n");
    on_host(&format!("rm {root}/old"));

    // A plan is for the project as it was: a changed recipe refuses it
    // before any host is touched.
    project.run(&["plan", "--out", plan_path]).expect(0);
    project.write(
        "recipes/saved.yml",
        &format!("resources:\n  - file: {root}/a\n    content: \"newer\\n\"\n"),
    );
    let changed = project.run(&["converge", "--plan", plan_path]).expect(2);
    assert!(
        changed.stderr.contains("recipes/saved.yml changed"),
        "{}",
        changed.stderr
    );
    assert_eq!(on_host(&format!("cat {root}/a")), "new\n");
}
