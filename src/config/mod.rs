//! Loading and checking a user's infrastructure repository.
//!
//! [`Project::load`] reads `redgreen.yml`, every recipe under `recipes/` and
//! every template under `templates/` into typed models, collecting every
//! problem as a [`Diag`] that points at its file, line and column.
//! [`Project::validate`] then checks what spans files: references, include
//! cycles, duplicate resources per host, templates rendered per host.
//! Nothing here touches a host.

mod expand;
pub mod inventory;
mod validate;
pub mod waivers;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use expand::{HostResources, Overrides, expand_host};
pub use inventory::Inventory;
pub use validate::parse_service_notify;

use crate::diagnostic::{Diag, Diags, Place, Source};
use crate::files::walk;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::recipe::{Spanned, Text, Vars};
use crate::resource::Resource;
use crate::template::Templates;

/// The name of the project file.
pub const PROJECT_FILE: &str = "redgreen.yml";

/// A recipe file as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Default values for variables, overridden by group, host and command-line vars.
    #[serde(default, deserialize_with = "crate::recipe::de::null_as_default")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub vars: Vars,
    /// Other recipes whose resources come first.
    #[serde(default, deserialize_with = "crate::recipe::de::null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub include: Vec<Text>,
    /// What the host must have, in order.
    #[serde(default, deserialize_with = "crate::recipe::de::null_as_default")]
    #[schemars(with = "Option<Vec<Resource>>")]
    pub resources: Vec<Spanned<Resource>>,
    /// `command` resources that run only when notified, once, at the end.
    #[serde(default, deserialize_with = "crate::recipe::de::null_as_default")]
    #[schemars(with = "Option<Vec<Resource>>")]
    pub handlers: Vec<Spanned<Resource>>,
}

/// A recipe file and its parsed model.
#[derive(Debug, Clone)]
pub struct LoadedRecipe {
    /// The recipe's name: its path under recipes/ without the extension.
    pub name: String,
    /// The file's text, for error messages.
    pub source: Source,
    /// The parsed recipe.
    pub recipe: Recipe,
}

/// A user's infrastructure repository, loaded and parsed.
#[derive(Debug)]
pub struct Project {
    /// The directory holding redgreen.yml.
    pub root: PathBuf,
    /// redgreen.yml's text, for error messages.
    pub inventory_source: Source,
    /// redgreen.yml, parsed.
    pub inventory: Inventory,
    /// Every recipe under recipes/, by name.
    pub recipes: BTreeMap<String, LoadedRecipe>,
    /// Every template under templates/, compiled.
    pub templates: Templates,
}

impl Project {
    /// Load the project at `root`: parse every file, collecting all problems.
    pub fn load(root: &Path) -> Result<Project, Diags> {
        let mut diags = Diags::default();
        let project_file = root.join(PROJECT_FILE);
        if !project_file.is_file() {
            return Err(Diag::plain(format!(
                "no {PROJECT_FILE} in {}",
                root.display()
            ))
            .help("run redgreen in a project directory, pass -C DIR, or create one with `redgreen init`")
            .into());
        }
        let inventory_source = crate::files::read_source(&project_file, PROJECT_FILE)?;
        let inventory = match yaml::parse::<Inventory>(&inventory_source) {
            Ok(inventory) => Some(inventory),
            Err(diag) => {
                diags.push(diag);
                None
            }
        };

        let mut recipes = BTreeMap::new();
        let (found, problems) = files_under(root, "recipes", &["yml", "yaml"]);
        diags.0.extend(problems);
        for (name, path, shown) in found {
            let loaded = crate::files::read_source(&path, &shown)
                .and_then(|source| Ok((yaml::parse::<Recipe>(&source)?, source)));
            match loaded {
                Ok((recipe, source)) => {
                    recipes.insert(
                        name.clone(),
                        LoadedRecipe {
                            name,
                            source,
                            recipe,
                        },
                    );
                }
                Err(diag) => diags.push(diag),
            }
        }

        let (templates, template_diags) = Templates::load(root, &root.join("templates"));
        diags.0.extend(template_diags.0);

        match (inventory, diags.is_empty()) {
            (Some(inventory), true) => Ok(Project {
                root: root.to_path_buf(),
                inventory_source,
                inventory,
                recipes,
                templates,
            }),
            _ => Err(diags),
        }
    }

    /// The directory of plain files that `file` resources copy with `source:`.
    pub fn files_dir(&self) -> PathBuf {
        self.root.join("files")
    }

    /// A place in redgreen.yml.
    pub fn inventory_place(&self, loc: crate::recipe::Location) -> Place {
        self.inventory_source.place(loc)
    }

    /// The names of every declared test host (`HOST-PLATFORM`), in order.
    pub fn test_host_names(&self) -> Vec<String> {
        self.test_hosts().into_iter().map(|t| t.name).collect()
    }

    /// Every declared test host: each entry of `test_hosts.hosts` on each
    /// platform, entry by entry.
    pub fn test_hosts(&self) -> Vec<TestHost<'_>> {
        let Some(test_hosts) = &self.inventory.test_hosts else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (entry_name, entry) in test_hosts.hosts.iter() {
            for platform in &test_hosts.platforms {
                out.push(TestHost {
                    name: test_host_name(&entry_name.value, &platform.value.name.value),
                    entry_name,
                    entry,
                    platform,
                });
            }
        }
        out
    }

    /// Check everything that spans files. Returns every problem found.
    pub fn validate(&self, overrides: &Overrides) -> Diags {
        validate::validate(self, overrides)
    }
}

/// One test host of `test_hosts:`: an entry of its `hosts` on one of its
/// platforms.
#[derive(Debug, Clone)]
pub struct TestHost<'p> {
    /// `HOST-PLATFORM`.
    pub name: String,
    /// The entry's name (`HOST`), with its place.
    pub entry_name: &'p Text,
    /// The entry: groups and vars.
    pub entry: &'p inventory::TestHostEntry,
    /// The platform.
    pub platform: &'p Spanned<inventory::Platform>,
}

/// The name of the test host for `host` on `platform`.
pub fn test_host_name(host: &str, platform: &str) -> String {
    format!("{host}-{platform}")
}

/// Every file under the project's folder `folder` with one of `extensions`,
/// sorted, as (name without extension relative to the folder, path, name
/// shown in messages); and the links in it that lead outside the project.
fn files_under(
    root: &Path,
    folder: &str,
    extensions: &[&str],
) -> (Vec<(String, PathBuf, String)>, Vec<Diag>) {
    let dir = root.join(folder);
    let mut out = Vec::new();
    let (files, problems) = walk::files_or_problems(root, &dir, folder);
    for path in files {
        let Ok(relative) = path.strip_prefix(&dir) else {
            continue;
        };
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !extensions.contains(&ext) {
            continue;
        }
        let rel = relative.to_string_lossy().into_owned();
        let name = rel
            .strip_suffix(&format!(".{ext}"))
            .unwrap_or(&rel)
            .to_string();
        let shown = format!("{folder}/{rel}");
        out.push((name, path, shown));
    }
    out.sort();
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::{Recipe, yaml};
    use crate::diagnostic::Source;
    use crate::recipe::{Name, When};
    use crate::resource::Spec;

    fn parse(text: &str) -> Result<Recipe, String> {
        yaml::parse::<Recipe>(&Source::new("r.yml", text)).map_err(|d| d.one_line())
    }

    #[test]
    fn a_resource_is_its_type_and_name_then_fields() {
        let recipe = parse(
            "resources:\n  - file: /etc/motd\n    content: hi\n    mode: 0640\n    notify: reload\n",
        )
        .unwrap();
        let res = &recipe.resources[0].value;
        assert_eq!(res.kind.value, "file");
        assert_eq!(res.name.value, Name::One("/etc/motd".into()));
        let Spec::File(file) = &res.spec else {
            panic!("not a file")
        };
        assert_eq!(file.content.as_ref().unwrap().value, "hi");
        assert_eq!(file.mode.as_ref().unwrap().value.0, 0o640);
        assert_eq!(res.common.notify[0].value, "reload");
        assert_eq!(res.name.referenced.line(), 2);
    }

    #[test]
    fn common_fields_may_come_first() {
        let recipe =
            parse("resources:\n  - name: greet\n    when: { os_family: debian }\n    file: /a\n")
                .unwrap();
        let res = &recipe.resources[0].value;
        assert_eq!(res.common.label.as_ref().unwrap().value, "greet");
        assert!(matches!(
            res.common.when.as_ref().unwrap().value,
            When::Match(_)
        ));
        assert_eq!(res.name.value, Name::One("/a".into()));
    }

    #[test]
    fn unknown_field_names_the_closest_and_the_spot() {
        let err = parse("resources:\n  - file: /a\n    onwer: root\n").unwrap_err();
        assert_eq!(
            err,
            "r.yml:3:5: unknown field 'onwer', did you mean 'owner'?"
        );
    }

    #[test]
    fn unknown_type_is_kept_for_validation() {
        let recipe = parse("resources:\n  - fiel: /a\n    owner: root\n").unwrap();
        assert!(matches!(recipe.resources[0].value.spec, Spec::Unknown));
        assert_eq!(recipe.resources[0].value.kind.value, "fiel");
    }

    #[test]
    fn bad_mode_points_at_the_value() {
        let err = parse("resources:\n  - file: /a\n    mode: \"0999\"\n").unwrap_err();
        assert!(err.starts_with("r.yml:3:11: invalid mode '0999'"), "{err}");
    }

    #[test]
    fn package_takes_a_list() {
        let recipe = parse("resources:\n  - package: [curl, git]\n").unwrap();
        assert_eq!(
            recipe.resources[0].value.name.value,
            Name::List(vec!["curl".into(), "git".into()])
        );
    }

    #[test]
    fn notify_takes_a_list() {
        let recipe = parse("resources:\n  - file: /a\n    notify: [a, b]\n").unwrap();
        let notify: Vec<_> = recipe.resources[0]
            .value
            .common
            .notify
            .iter()
            .map(|t| t.value.as_str())
            .collect();
        assert_eq!(notify, ["a", "b"]);
    }
}

/// Projects for unit tests: written to a temporary directory and loaded.
#[cfg(test)]
pub(crate) mod testing {
    use super::{HostResources, Overrides, Project, expand_host};

    /// A project of `files` (path and text) in a temporary directory, which
    /// lives as long as the returned `TempDir`.
    pub fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let project = Project::load(dir.path()).unwrap();
        (dir, project)
    }

    /// The `host` value of host `h` (127.0.0.1) in `groups`, and what it
    /// gets from them.
    pub fn expand<'p>(
        project: &'p Project,
        groups: &[String],
    ) -> (serde_json::Value, HostResources<'p>) {
        let host = crate::template::host_value("h", "127.0.0.1", groups);
        let resources = expand_host(
            project,
            groups,
            &Default::default(),
            &host,
            &Overrides::default(),
        )
        .unwrap();
        (host, resources)
    }
}
