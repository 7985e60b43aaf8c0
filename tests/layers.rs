//! The layers of docs/architecture.md, held against the code: every
//! `crate::…` a module of `src/` names (outside its tests and comments)
//! must be a layer it may use, and only the CLI and the reporters print. A
//! layer that reaches upwards, or prints, fails here with the file and the
//! line.

use std::path::Path;

/// Only these print (the CLI, and the reporters it picks).
const PRINTERS: &[&str] = &["cli", "report", "output"];

/// How printing looks in the code.
const PRINTING: &[&str] = &[
    "outln!",
    "errln!",
    "noteln!",
    "output::print(",
    "output::eprint(",
    "output::data(",
    "output::note(",
    "output::report(",
];

/// The leaves: every layer may use them.
const LEAVES: &[&str] = &["diagnostic", "files", "shell", "secrets", "output", "exit"];

/// Each layer and what it may use besides the leaves, from the top down.
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "cli",
        &[
            "workflow",
            "report",
            "engine",
            "verify",
            "schema",
            "config",
            "resource",
            "template",
            "recipe",
            "driver",
            "transport",
        ],
    ),
    (
        "workflow",
        &[
            "report",
            "engine",
            "verify",
            "config",
            "resource",
            "template",
            "recipe",
            "driver",
            "transport",
        ],
    ),
    (
        "report",
        &[
            "engine",
            "verify",
            "config",
            "resource",
            "template",
            "recipe",
            "driver",
            "transport",
        ],
    ),
    // engine and verify never use each other.
    (
        "engine",
        &["config", "resource", "template", "recipe", "transport"],
    ),
    (
        "verify",
        &["config", "resource", "template", "recipe", "transport"],
    ),
    ("schema", &["config", "resource", "recipe"]),
    (
        "config",
        &["resource", "template", "recipe", "driver", "transport"],
    ),
    ("resource", &["template", "recipe", "transport"]),
    ("template", &["recipe"]),
    ("recipe", &[]),
    ("driver", &["transport"]),
    ("transport", &[]),
    // The leaves, among themselves.
    ("diagnostic", &[]),
    ("shell", &[]),
    ("files", &["diagnostic"]),
    ("secrets", &["diagnostic"]),
    ("output", &["secrets"]),
];

/// The code of a file without its test modules (`#[cfg(test)]` to the end
/// of the item) and without comments.
fn code(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut skipping: Option<i64> = None;
    let mut pending_cfg_test = false;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(depth) = &mut skipping {
            *depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            if *depth <= 0 && line.contains('}') {
                skipping = None;
            }
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        if pending_cfg_test {
            pending_cfg_test = false;
            let depth = line.matches('{').count() as i64 - line.matches('}').count() as i64;
            if depth > 0 {
                skipping = Some(depth);
            }
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = line.split(" // ").next().unwrap_or(line);
        out.push((n + 1, line.to_string()));
    }
    out
}

/// The layer a file of `src/` is in: its folder, or its name at the top.
fn layer(relative: &Path) -> String {
    let first = relative.components().next().unwrap();
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_layer_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    files(&src, &mut paths);
    paths.sort();
    let names = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let grouped = regex::Regex::new(r"crate::\{([^}]*)").unwrap();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for path in &paths {
        let relative = path.strip_prefix(&src).unwrap();
        let from = layer(relative);
        if from == "lib" || from == "main" {
            continue;
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(layer, _)| *layer == from) else {
            panic!(
                "{}: the layer '{from}' is not in the table",
                relative.display()
            );
        };
        checked += 1;
        for (line, text) in code(&std::fs::read_to_string(path).unwrap()) {
            let mut used: Vec<String> = names
                .captures_iter(&text)
                .map(|caps| caps[1].to_string())
                .collect();
            // `crate::{engine, verify as verifying}`
            for caps in grouped.captures_iter(&text) {
                used.extend(caps[1].split(',').filter_map(|item| {
                    let word = item.trim().split("::").next()?.split(' ').next()?;
                    (!word.is_empty()).then(|| word.to_string())
                }));
            }
            if !PRINTERS.contains(&from.as_str()) && PRINTING.iter().any(|p| text.contains(p)) {
                wrong.push(format!(
                    "src/{}:{line}: {from} prints: {}",
                    relative.display(),
                    text.trim()
                ));
            }
            for to in &used {
                let to = to.as_str();
                if matches!(to, "outln" | "errln" | "noteln") {
                    continue;
                }
                if to == from || LEAVES.contains(&to) || allowed.contains(&to) {
                    continue;
                }
                wrong.push(format!(
                    "src/{}:{line}: {from} uses {to}: {}",
                    relative.display(),
                    text.trim()
                ));
            }
        }
    }
    assert!(checked > 100, "only {checked} files were read");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
