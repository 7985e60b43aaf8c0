//! What `--help` offers is what each command does.

mod common;

#[test]
fn help_texts_offer_what_the_commands_take() {
    let project = common::Project::new();
    let status = project.run(&["status", "--help"]).expect(0).stdout;
    for flag in ["--tags", "--var", "--plan"] {
        assert!(!status.contains(flag), "status offers {flag}:\n{status}");
    }
    assert!(
        status.contains("Write the status to this file instead of stdout"),
        "{status}"
    );
    let verify = project.run(&["verify", "--help"]).expect(0).stdout;
    assert!(
        verify.contains("pretty, json, junit, cucumber-json, html"),
        "{verify}"
    );
    assert!(verify.contains("ssh://[USER@]HOST[:PORT]"), "{verify}");
    assert!(
        !verify.contains("lists every resource"),
        "the default already does: {verify}"
    );
    // Flags shared by plan and converge say what they do in each.
    let plan = project.run(&["plan", "--help"]).expect(0).stdout;
    assert!(plan.contains("Save the plan (JSON) to this file"), "{plan}");
    assert!(plan.contains("Plan only the resources"), "{plan}");
    let converge = project.run(&["converge", "--help"]).expect(0).stdout;
    assert!(!converge.contains("Save the plan (JSON)"), "{converge}");
    assert!(
        converge.contains("Converge only the resources"),
        "{converge}"
    );
    for command in ["plan", "converge", "verify", "test", "status", "validate"] {
        let help = project.run(&[command, "--help"]).expect(0).stdout;
        assert!(!help.contains("Output format\n"), "{command}: {help}");
        assert!(help.contains("--quiet"), "{command}: {help}");
    }
}
