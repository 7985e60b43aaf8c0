//! What one host gets: its recipes in order (includes first), its variables
//! merged in the documented order, and its resources with names rendered.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::{LoadedRecipe, Project};
use crate::diagnostic::{Diag, Diags};
use crate::recipe::{Spanned, var_name_problem};
use crate::resource::{self, PlannedResource, Resource};
use crate::template;

/// Values given on the command line, which win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--var key=value`.
    pub vars: Map<String, Value>,
    /// Let a secret whose environment variable is not set stand as a
    /// placeholder (`validate` checks without the secrets at hand).
    pub secrets_optional: bool,
}

impl Overrides {
    /// Parse `key=value` pairs; the value is read as a YAML scalar (`8080` is a
    /// number, `true` a boolean, anything else a string).
    pub fn from_pairs(pairs: &[String]) -> Result<Overrides, Diag> {
        let mut vars = Map::new();
        for pair in pairs {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(Diag::plain(format!("--var {pair}: expected NAME=VALUE"))
                    .help("for example --var port=8080"));
            };
            if let Some((message, help)) = var_name_problem(key) {
                return Err(Diag::plain(format!("--var {pair}: {message}")).help(help));
            }
            let parsed = serde_saphyr::from_str::<Value>(value)
                .ok()
                .filter(|v| !v.is_object() && !v.is_array() && !v.is_null())
                .unwrap_or_else(|| Value::String(value.to_string()));
            vars.insert(key.to_string(), parsed);
        }
        Ok(Overrides {
            vars,
            secrets_optional: false,
        })
    }
}

/// Everything one host gets.
#[derive(Debug, Clone)]
pub struct HostResources<'p> {
    /// Recipe names in the order they apply (includes before the recipe that includes them).
    pub recipes: Vec<String>,
    /// Variables: recipe defaults, then group vars, host vars, and --var.
    pub vars: Map<String, Value>,
    /// The resources, in order.
    pub resources: Vec<PlannedResource<'p>>,
    /// Handlers (command resources that run when notified), by name.
    pub handlers: Vec<PlannedResource<'p>>,
}

/// Expand what `host` gets from its groups. `host_value` is the `host` object
/// of the template context; `host_vars` its own vars.
pub fn expand_host<'p>(
    project: &'p Project,
    groups: &[String],
    host_vars: &Map<String, Value>,
    host_value: &Value,
    overrides: &Overrides,
) -> Result<HostResources<'p>, Diags> {
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    for group in groups {
        let Some(entry) = project.inventory.groups.get(group) else {
            continue;
        };
        for recipe in &entry.recipes {
            visit(
                project,
                &recipe.value,
                &mut seen,
                &mut Vec::new(),
                &mut order,
            );
        }
    }

    let mut vars = Map::new();
    for name in &order {
        merge(&mut vars, &project.recipes[name].recipe.vars);
    }
    for group in groups {
        if let Some(entry) = project.inventory.groups.get(group) {
            merge(&mut vars, &entry.vars);
        }
    }
    merge(&mut vars, host_vars);
    merge(&mut vars, &overrides.vars);

    let mut diags = Diags::default();
    for problem in crate::secrets::resolve(&mut vars) {
        if overrides.secrets_optional && problem.contains("is not set") {
            continue;
        }
        diags.push(Diag::plain(problem).help(
            "set the environment variable before running redgreen; secrets are never written in redgreen's files",
        ));
    }
    // Secrets left unresolved (validate only) render as the mask.
    for value in vars.values_mut() {
        if crate::secrets::declared(value).is_some() {
            *value = Value::String(crate::secrets::MASK.into());
        }
    }

    let context = template::context(&vars, host_value, None);
    let mut resources = Vec::new();
    let mut handlers = Vec::new();
    for name in &order {
        let recipe = &project.recipes[name];
        for (list, out) in [
            (&recipe.recipe.resources, &mut resources),
            (&recipe.recipe.handlers, &mut handlers),
        ] {
            for resource in list {
                if resource.value.kind().is_none() {
                    continue;
                }
                match render_names(project, recipe, resource, &context) {
                    Ok(planned) => out.push(planned),
                    Err(diag) => diags.push(diag),
                }
            }
        }
    }
    check_duplicates(&resources, &mut diags);
    diags.into_result()?;
    Ok(HostResources {
        recipes: order,
        vars,
        resources,
        handlers,
    })
}

fn visit(
    project: &Project,
    name: &str,
    seen: &mut BTreeSet<String>,
    stack: &mut Vec<String>,
    order: &mut Vec<String>,
) {
    if seen.contains(name) || stack.iter().any(|s| s == name) {
        return; // already applied, or a cycle (reported by validation)
    }
    let Some(recipe) = project.recipes.get(name) else {
        return; // unknown recipe (reported by validation)
    };
    stack.push(name.to_string());
    for include in &recipe.recipe.include {
        visit(project, &include.value, seen, stack, order);
    }
    stack.pop();
    seen.insert(name.to_string());
    order.push(name.to_string());
}

fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (key, value) in from {
        into.insert(key.clone(), value.clone());
    }
}

fn render_names<'p>(
    project: &'p Project,
    recipe: &'p LoadedRecipe,
    resource: &'p Spanned<Resource>,
    context: &Value,
) -> Result<PlannedResource<'p>, Diag> {
    let res = &resource.value;
    let place = recipe.source.place(res.name.referenced);
    let kind = res.kind().expect("expanded resources have known types");
    let mut names = Vec::new();
    for name in res.name.value.items() {
        let rendered = project.templates.render_inline(name, context, &place)?;
        if name.contains("{{") {
            resource::fields::check_name(kind, &rendered, place.clone())?;
        }
        names.push(rendered);
    }
    // Every other templated value that reaches a script, with the host's
    // vars (the probe uses them before facts are known); what needs facts
    // is checked when the host is planned.
    let at = |loc| recipe.source.place(loc);
    resource::fields::check_rendered(res, &at, &|text, loc| {
        project
            .templates
            .render_inline(text, context, &at(loc))
            .ok()
    })?;
    let path = match resource::path_field(res) {
        Some(path) => {
            let place = recipe.source.place(path.referenced);
            Some(
                project
                    .templates
                    .render_inline(&path.value, context, &place)?,
            )
        }
        None => None,
    };
    Ok(PlannedResource {
        source: &recipe.source,
        resource,
        names,
        path,
    })
}

fn check_duplicates(resources: &[PlannedResource<'_>], diags: &mut Diags) {
    let mut first: HashMap<String, &PlannedResource<'_>> = HashMap::new();
    for planned in resources {
        for identity in planned.identities() {
            match first.get(&identity) {
                Some(earlier) => {
                    diags.push(
                        Diag::at(
                            planned.place(),
                            format!(
                                "duplicate resource: {identity} is declared twice for this host"
                            ),
                        )
                        .label("declared again here")
                        .help("remove one of them, or merge their fields into one resource")
                        .related(
                            Diag::at(earlier.place(), "first declared here")
                                .label("first declared here"),
                        ),
                    );
                }
                None => {
                    first.insert(identity, planned);
                }
            }
        }
    }
}
