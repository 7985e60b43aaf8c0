//! The local transport (`--connection local`) runs the same scripts on this
//! machine; used here to check the variable merge order end to end.

mod common;

#[test]
fn variables_merge_in_the_documented_order_and_local_converge_works() {
    let project = common::Project::new();
    let out = project.path().join("out");
    project.write(
        "redgreen.yml",
        "hosts:\n  here: { address: localhost, groups: [g1, g2], vars: { d: host, e: host } }\n\
         groups:\n  g1: { recipes: [r], vars: { b: g1, c: g1, d: g1, e: g1 } }\n  g2: { vars: { c: g2, d: g2, e: g2 } }\n",
    );
    project.write(
        "recipes/r.yml",
        &format!(
            "vars: {{ a: recipe, b: recipe, c: recipe, d: recipe, e: recipe }}\nresources:\n  - file: {}\n    content: \"{{{{a}}}} {{{{b}}}} {{{{c}}}} {{{{d}}}} {{{{e}}}}\\n\"\n    mode: \"0600\"\n",
            out.display()
        ),
    );
    let first = project
        .run(&[
            "converge",
            "--connection",
            "local",
            "--var",
            "e=cli",
            "--format",
            "json",
        ])
        .expect(0);
    assert_eq!(
        first.json()["hosts"][0]["resources"][0]["status"],
        "changed"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "recipe g1 g2 host cli\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777,
        0o600
    );

    let second = project
        .run(&[
            "converge",
            "--connection",
            "local",
            "--var",
            "e=cli",
            "--format",
            "json",
        ])
        .expect(0);
    let report = second.json();
    assert_eq!(report["hosts"][0]["resources"][0]["status"], "ok");
    assert_eq!(report["hosts"][0]["round_trips"], 1);
}
