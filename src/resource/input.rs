//! What a resource's queries and plan may look at besides the probe's
//! answers: the resource for this host, the template context, the project's
//! templates and files.

use std::path::Path;

use serde_json::{Map, Value};

use super::PlannedResource;
use super::fields;
use super::query::DIFF_LIMIT;
use crate::diagnostic::Diag;
use crate::recipe::{Text, When};
use crate::template::Templates;

/// Everything a resource's plan may look at, besides what the probe found.
pub struct PlanInput<'a> {
    /// The resource for this host, names rendered.
    pub planned: &'a PlannedResource<'a>,
    /// The template context (vars, host, facts).
    pub context: &'a Value,
    /// The project's templates.
    pub templates: &'a Templates,
    /// The project's files/ directory.
    pub files_dir: &'a Path,
    /// Whether the probe brought contents back for diffs.
    pub want_diff: bool,
}

impl PlanInput<'_> {
    /// The resource's (first) name, rendered.
    pub fn name(&self) -> &str {
        &self.planned.names[0]
    }

    /// Check the resource's templated values, rendered with the facts, by
    /// the rules literal ones obey ([`fields`]), before they reach a script.
    pub fn check_values(&self) -> Result<(), Diag> {
        let at = |loc| self.planned.source.place(loc);
        fields::check_rendered(&self.planned.resource.value, &at, &|text, loc| {
            self.templates
                .render_inline(text, self.context, &at(loc))
                .ok()
        })
    }

    /// Read a file under files/ that a field of this resource names (`source`,
    /// an apt key): only a regular file inside the project, links followed.
    pub fn read_file(&self, name: &Text) -> Result<Vec<u8>, Diag> {
        let root = self.files_dir.parent().unwrap_or(self.files_dir);
        let shown = format!("files/{}", name.value);
        crate::files::walk::read_inside(root, &self.files_dir.join(&name.value), &shown).map_err(
            |problem| {
                Diag::at(self.planned.source.place(name.referenced), problem).label("this file")
            },
        )
    }

    /// Render an inline string of this resource (content, targets, values).
    pub fn render(&self, text: &Text) -> Result<String, Diag> {
        let place = self.planned.source.place(text.referenced);
        self.templates
            .render_inline(&text.value, self.context, &place)
    }

    /// Whether a resource's `when` holds on this host.
    pub fn when_holds(&self, facts: &Value, vars: &Map<String, Value>) -> Result<bool, Diag> {
        let Some(when) = &self.planned.resource.value.common.when else {
            return Ok(true);
        };
        match &when.value {
            When::Match(conditions) => {
                for (key, wanted) in conditions {
                    let actual = facts.get(key).or_else(|| vars.get(key));
                    let Some(actual) = actual else {
                        return Err(Diag::at(
                            self.planned.place(),
                            format!("`when` tests '{key}', which is neither a fact nor a variable"),
                        )
                        .help("facts: os_family, os_id, os_version, os_codename, arch, hostname, init, package_manager, cpus, memory_mb, user, container; or define the variable"));
                    };
                    if loose(actual) != loose(wanted) {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            When::Expr(expr) => {
                let text = Text {
                    value: expr.clone(),
                    referenced: when.referenced,
                    defined: when.defined,
                };
                Ok(self.render(&text)?.trim() == "true")
            }
        }
    }
}

/// What [`super::queries`] needs besides the resource: fields used in queries are
/// rendered before facts are known (the probe is what gathers them).
pub struct QueryInput<'a> {
    /// The resource for this host, names rendered.
    pub planned: &'a PlannedResource<'a>,
    /// The template context without facts (vars, host).
    pub context: &'a Value,
    /// The project's templates.
    pub templates: &'a Templates,
    /// Whether the probe brings contents back for diffs.
    pub want_diff: bool,
}

impl QueryInput<'_> {
    /// The resource's (first) name, rendered.
    pub fn name(&self) -> String {
        self.planned.names[0].clone()
    }

    /// How much of a file's content the probe brings back: enough for a
    /// diff when one is wanted, else none.
    pub fn content_limit(&self) -> u64 {
        if self.want_diff { DIFF_LIMIT } else { 0 }
    }

    /// Render a field for the probe; None when it cannot be rendered without
    /// facts (the plan then reports it, with the facts at hand).
    pub fn render(&self, text: &Text) -> Option<String> {
        let place = self.planned.source.place(text.referenced);
        self.templates
            .render_inline(&text.value, self.context, &place)
            .ok()
    }
}

/// Values compared as text, so that `os_version: 12` matches "12".
fn loose(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
