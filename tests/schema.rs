//! `redgreen schema`: the JSON Schema of redgreen.yml and of recipes accepts
//! every example and fixture of this repository (the project's own files,
//! the YAML examples of the docs, every fixture project) and rejects the bad
//! inputs whose mistake is one of shape (an unknown field, a wrong type, an
//! unknown value): the schema is as strict as the loader.

mod common;

use std::path::{Path, PathBuf};

use jsonschema::Validator;
use serde_json::Value;

/// Fixtures under fixtures/bad/ whose mistake the schema must catch, and
/// where. Every other fixture is bad for reasons a schema cannot see
/// (references, templates, includes, values checked against each other),
/// and must pass it.
const SCHEMA_ERRORS: &[(&str, &str)] = &[
    ("duplicate-key", "recipes/site.yml"),
    ("empty-name", "recipes/site.yml"),
    ("empty-project-file", "redgreen.yml"),
    ("invalid-mode", "recipes/site.yml"),
    ("list-name-for-file", "recipes/site.yml"),
    ("not-utf8", "recipes/site.yml"),
    ("qemu-misspelt-platform-field", "redgreen.yml"),
    ("removal-without-reason", "recipes/site.yml"),
    ("unknown-field", "recipes/site.yml"),
    ("unknown-inventory-field", "redgreen.yml"),
    ("unknown-resource-type", "recipes/site.yml"),
    ("unknown-state", "recipes/site.yml"),
    ("unused-for-not-a-span-of-time", "recipes/site.yml"),
    ("wrong-type", "recipes/site.yml"),
    ("yaml-syntax", "recipes/site.yml"),
];

struct Schemas {
    project: Validator,
    recipe: Validator,
}

fn schemas() -> Schemas {
    let project = common::Project::new();
    let load = |document: &str| -> Validator {
        let run = project.run(&["schema", document]).expect(0);
        let schema = run.json();
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        jsonschema::draft7::new(&schema).expect("a valid draft-07 schema")
    };
    Schemas {
        project: load("project"),
        recipe: load("recipe"),
    }
}

/// The YAML of a file as JSON, as an editor's language server reads it.
fn yaml(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Why `value` does not fit `validator`, if it does not.
fn problems(validator: &Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Every YAML file of a project: redgreen.yml and recipes/**.
fn project_files(root: &Path) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    if root.join("redgreen.yml").is_file() {
        out.push((root.join("redgreen.yml"), true));
    }
    let mut stack = vec![root.join("recipes")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                out.push((path, false));
            }
        }
    }
    out.sort();
    out
}

/// Check every YAML file of a project; the problems, per file.
fn check_project(schemas: &Schemas, root: &Path) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (path, is_project) in project_files(root) {
        let shown = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let found = match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
            .and_then(|t| yaml(&t))
        {
            Err(e) => vec![format!("not YAML: {e}")],
            // An empty file reads as null: a project file needs its mapping.
            Ok(value) => problems(
                if is_project {
                    &schemas.project
                } else {
                    &schemas.recipe
                },
                &value,
            ),
        };
        if !found.is_empty() {
            out.push((shown, found));
        }
    }
    out
}

#[test]
fn the_projects_own_files_fit_the_schema() {
    let schemas = schemas();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(project_files(root).len() >= 5);
    let found = check_project(&schemas, root);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn every_fixture_fits_the_schema_unless_its_mistake_is_one_of_shape() {
    let schemas = schemas();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut projects: Vec<PathBuf> = Vec::new();
    let mut stack = vec![fixtures];
    while let Some(dir) = stack.pop() {
        if dir.join("redgreen.yml").exists() || dir.join("recipes").is_dir() {
            projects.push(dir.clone());
        }
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.path().is_dir() && entry.file_name() != "recipes" {
                stack.push(entry.path());
            }
        }
    }
    projects.sort();
    assert!(projects.len() >= 60, "{} fixture projects", projects.len());
    let mut wrong = Vec::new();
    for project in &projects {
        let name = project.file_name().unwrap().to_string_lossy().into_owned();
        let found = check_project(&schemas, project);
        match SCHEMA_ERRORS.iter().find(|(case, _)| *case == name) {
            Some((_, file)) => {
                if !found.iter().any(|(f, _)| f == file) {
                    wrong.push(format!("{name}: {file} should not fit the schema"));
                }
            }
            None => {
                for (file, problems) in found {
                    wrong.push(format!(
                        "{name}: {file} should fit the schema: {problems:?}"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The YAML examples of the README and the docs: a project file, a recipe,
/// or a list of resources.
#[test]
fn the_examples_of_the_docs_fit_the_schema() {
    let schemas = schemas();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    // The docs' pages; examples of other files are marked (```yaml ci,
    // ```yaml prometheus, ```yaml waivers) and not checked here.
    for entry in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "md") {
            files.push(entry.path());
        }
    }
    files.sort();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file.strip_prefix(root).unwrap().display().to_string();
        for (n, block) in text.split("```yaml\n").skip(1).enumerate() {
            let block = block.split("```").next().unwrap();
            let value = match yaml(block) {
                Ok(value) => value,
                Err(e) => {
                    wrong.push(format!("{shown} example {n}: not YAML: {e}"));
                    continue;
                }
            };
            let (validator, value) = match &value {
                Value::Object(map)
                    if map.keys().all(|k| {
                        ["defaults", "hosts", "groups", "test_hosts"].contains(&k.as_str())
                    }) =>
                {
                    (&schemas.project, value.clone())
                }
                Value::Object(_) => (&schemas.recipe, value.clone()),
                // A list of resources, as under `resources:`.
                Value::Array(items) if items.iter().all(|i| i.get("step").is_none()) => (
                    &schemas.recipe,
                    serde_json::json!({ "resources": value.clone() }),
                ),
                _ => continue,
            };
            checked += 1;
            let found = problems(validator, &value);
            if !found.is_empty() {
                wrong.push(format!("{shown} example {n}: {found:?}"));
            }
        }
    }
    assert!(checked >= 15, "only {checked} examples checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_typo_is_flagged_with_its_place() {
    let schemas = schemas();
    let recipe = yaml("resources:\n  - file: /etc/motd\n    onwer: root\n").unwrap();
    assert!(!problems(&schemas.recipe, &recipe).is_empty());
    let recipe = yaml("resources:\n  - file: /etc/motd\n    owner: root\n    mode: \"0644\"\n    notify: [a]\n    when: { os_family: debian }\n").unwrap();
    assert_eq!(problems(&schemas.recipe, &recipe), Vec::<String>::new());
    let recipe = yaml("resources:\n  - package: [curl, git]\n  - file: [/a, /b]\n").unwrap();
    let found = problems(&schemas.recipe, &recipe);
    assert!(
        found.iter().all(|p| p.ends_with("at /resources/1")),
        "{found:?}"
    );
    let project = yaml("hosts:\n  web1: { adress: 192.0.2.10 }\n").unwrap();
    assert!(!problems(&schemas.project, &project).is_empty());
}
