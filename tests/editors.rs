//! A real editor against `redgreen lsp`: Neovim's built-in LSP client,
//! headless (tests/editors/neovim.lua), the way docs/editors.md sets it up.
//! Neovim comes from Debian's archive (.ci/run installs it).

mod common;

use std::process::Command;

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

#[test]
fn neovim_shows_problems_fixes_hover_definition_and_completion() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "hosts:\n  web1: { address: 127.0.0.1, port: 1, groups: [web] }\ngroups:\n  web: { recipes: [site] }\n",
        ),
        ("recipes/site.yml", "resources:\n  - package: nginx-light\n"),
        (
            "features/steps.yml",
            "- step: the site {string} should be enabled\n  run: test -L /etc/nginx/sites-enabled/{1}\n",
        ),
        (
            "features/web.feature",
            "Feature: Web server\n  @group:web\n  Scenario: nginx\n    Then the pakage \"nginx-light\" should be installed\n    And the service \"nginx\" should be running\n    And the site \"default\" should be enabled\n",
        ),
    ]);
    let root = project.path().canonicalize().unwrap();
    let out = root.join("got.json");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/editors/neovim.lua");
    let status = Command::new("timeout")
        .arg("120")
        .arg("nvim")
        .args(["--headless", "-u", "NONE", "-i", "NONE", "-c"])
        .arg(format!("luafile {}", script.display()))
        .current_dir(&root)
        .env("RG_ROOT", &root)
        .env("RG_BIN", cargo_bin("redgreen"))
        .env("RG_OUT", &out)
        .status()
        .expect("nvim runs (apt-get install neovim; .ci/run installs it)");
    assert!(status.success(), "nvim: {status}");
    let got: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("nvim wrote its answers"))
            .expect("JSON");

    let diagnostics = got["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), 1, "{got:#}");
    assert_eq!(
        (&diagnostics[0]["lnum"], &diagnostics[0]["col"]),
        (&3.into(), &4.into())
    );
    assert!(
        diagnostics[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("undefined step 'Then the pakage"),
        "{got:#}"
    );
    let fix = &got["actions"][0]["edit"]["changes"];
    let edits = fix
        .as_object()
        .expect("changes")
        .values()
        .next()
        .expect("an edit");
    assert_eq!(
        edits[0]["newText"],
        "the package \"nginx-light\" should be installed"
    );
    let hover = got["hover"]["contents"]["value"].as_str().expect("hover");
    assert!(hover.contains("systemctl"), "{hover}");
    let definition = got["definition"]["uri"].as_str().expect("definition");
    assert!(definition.ends_with("/features/steps.yml"), "{definition}");
    assert_eq!(got["symbols"][0]["children"][0]["name"], "nginx");
    let offered = got["completion"].as_array().expect("completion");
    assert!(
        offered
            .iter()
            .any(|i| i["label"] == "the package {string} should be installed"),
        "{got:#}"
    );
}
