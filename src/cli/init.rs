//! `redgreen init [DIR]`: a new infrastructure repository with a small
//! working example (a recipe, templates and a feature) that goes red, then
//! green, under `redgreen test`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::Failure;
use crate::exit;

/// `init` arguments.
#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// Where to create the repository (default: the project directory, -C).
    pub dir: Option<PathBuf>,
}

/// The files of a new repository: (path, content).
pub const FILES: &[(&str, &str)] = &[
    ("redgreen.yml", include_str!("scaffold/redgreen.yml")),
    (
        "recipes/webserver.yml",
        include_str!("scaffold/webserver.yml"),
    ),
    (
        "templates/site.conf.hbs",
        include_str!("scaffold/site.conf.hbs"),
    ),
    (
        "templates/index.html.hbs",
        include_str!("scaffold/index.html.hbs"),
    ),
    ("features/web.feature", include_str!("scaffold/web.feature")),
    (".gitignore", include_str!("scaffold/gitignore")),
];

/// Write the example into `dir`, refusing to overwrite anything.
pub fn scaffold(dir: &Path) -> Result<(), Failure> {
    let bad = |message: String| Failure::Other(exit::BAD_INPUT, message);
    if dir.join(crate::config::PROJECT_FILE).exists() {
        return Err(bad(format!(
            "{} is already a redgreen project (it has redgreen.yml); nothing was written",
            dir.display()
        )));
    }
    for (path, _) in FILES {
        if dir.join(path).exists() {
            return Err(bad(format!(
                "{} exists; init writes only into a new or empty project, so nothing was written",
                dir.join(path).display()
            )));
        }
    }
    for (path, content) in FILES {
        let full = dir.join(path);
        let parent = full.parent().expect("files have a parent");
        std::fs::create_dir_all(parent)
            .and_then(|()| std::fs::write(&full, content))
            .map_err(|e| {
                Failure::Other(
                    exit::FAILED,
                    format!("cannot write {}: {e}", full.display()),
                )
            })?;
    }
    Ok(())
}

pub(super) fn run(project_dir: &Path, args: &InitArgs) -> Result<i32, Failure> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| project_dir.to_path_buf());
    scaffold(&dir)?;
    let shown = dir.display();
    crate::outln!("Created a redgreen project in {shown}:");
    for (path, _) in FILES {
        crate::outln!("  {path}");
    }
    crate::outln!(
        "\nNext:\n  redgreen -C {shown} test      # red on a fresh test host, converge, then green\n  redgreen -C {shown} validate  # check everything; touches no host"
    );
    Ok(exit::OK)
}
