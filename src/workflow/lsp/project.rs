//! What the server knows about the project: the step library (built-in and
//! features/steps.yml), the names `@host:`/`@group:` tags may use, and the
//! names recipes use (packages, services, users, groups, paths), loaded with
//! the same code as `redgreen validate`, and the problems validate reports
//! in redgreen.yml, recipes, templates and steps.yml.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::config::{Overrides, PROJECT_FILE, Project};
use crate::diagnostic::{Diag, Diags};
use crate::verify::features::Names;
use crate::verify::{self, Library};

/// The project as the server sees it, loaded from disk.
#[derive(Debug, Default)]
pub struct Knowledge {
    /// The project directory.
    pub root: PathBuf,
    /// Every phrase: built-in, then features/steps.yml.
    pub library: Library,
    /// The names tags may use; None when redgreen.yml could not be read.
    pub names: Option<Names>,
    /// The names recipes use, for completing step values.
    pub values: Values,
}

/// The names recipes use, by what they name.
#[derive(Debug, Default)]
pub struct Values {
    /// `package:` names.
    pub packages: BTreeSet<String>,
    /// `service:` names.
    pub services: BTreeSet<String>,
    /// `user:` names, and owners.
    pub users: BTreeSet<String>,
    /// `group:` names, and groups of files.
    pub groups: BTreeSet<String>,
    /// Paths of files, templates, directories, links and downloads.
    pub paths: BTreeSet<String>,
}

impl Values {
    fn of(project: &Project) -> Values {
        let mut values = Values::default();
        for loaded in project.recipes.values() {
            let recipe = &loaded.recipe;
            for resource in recipe.resources.iter().chain(&recipe.handlers) {
                let resource = &resource.value;
                let set = match resource.kind.value.as_str() {
                    "package" => &mut values.packages,
                    "service" => &mut values.services,
                    "user" => &mut values.users,
                    "group" => &mut values.groups,
                    "file" | "template" | "directory" | "link" | "download" => &mut values.paths,
                    _ => continue,
                };
                // A name rendered per host is not a name to offer.
                let names = resource.name.value.items();
                set.extend(
                    names
                        .into_iter()
                        .filter(|n| !n.contains("{{"))
                        .map(str::to_string),
                );
            }
        }
        values
    }
}

impl Knowledge {
    /// Load the project at `root` as `redgreen validate` does, without the
    /// features (the editor holds those), with `unsaved` (an editor's
    /// buffers, by path) in place of those files on disk: what the server
    /// knows, and every problem found.
    pub fn load(root: &Path, unsaved: HashMap<PathBuf, String>) -> (Knowledge, Diags) {
        crate::files::with_unsaved(unsaved, || Self::load_files(root))
    }

    fn load_files(root: &Path) -> (Knowledge, Diags) {
        let (library, mut diags) = verify::project_library(root);
        let (names, values) = match Project::load(root) {
            Ok(project) => {
                let overrides = Overrides {
                    secrets_optional: true,
                    ..Overrides::default()
                };
                diags.0.extend(project.validate(&overrides).0);
                (Some(verify::tag_names(&project).0), Values::of(&project))
            }
            Err(found) => {
                diags.0.extend(found.0);
                (None, Values::default())
            }
        };
        let knowledge = Knowledge {
            root: root.to_path_buf(),
            library,
            names,
            values,
        };
        (knowledge, diags)
    }
}

/// Problems by the file they are in (a path under `root`); a problem
/// without a place goes to redgreen.yml.
pub fn by_file<'d>(root: &Path, diags: &'d Diags) -> BTreeMap<PathBuf, Vec<&'d Diag>> {
    let mut out: BTreeMap<PathBuf, Vec<&'d Diag>> = BTreeMap::new();
    for diag in &diags.0 {
        let name = diag
            .place
            .as_ref()
            .map_or(PROJECT_FILE, |p| p.source.name.as_str());
        out.entry(root.join(name)).or_default().push(diag);
    }
    out
}
