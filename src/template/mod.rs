//! Handlebars rendering: strict mode (a missing variable is an error) and no
//! HTML escaping (these are config files, not web pages).
//!
//! The context of every render is the host's variables at the top level, plus
//! `host` (`name`, `address`, `groups`) and `facts` (gathered on the host).

pub mod partials;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use handlebars::{Handlebars, RenderError, TemplateError};
use serde_json::{Map, Value, json};

use crate::diagnostic::{Diag, Diags, Place, Source};

/// Every template under templates/, compiled, plus a registry for inline strings.
#[derive(Debug)]
pub struct Templates {
    registry: Handlebars<'static>,
    sources: BTreeMap<String, Source>,
    /// What every template includes (checked at load).
    partials: partials::Graph,
}

impl Default for Templates {
    fn default() -> Self {
        Self {
            registry: new_registry(),
            sources: BTreeMap::new(),
            partials: partials::Graph::default(),
        }
    }
}

/// The most a template (or an inline string) may render: beyond it, the
/// render stops with an error (a loop over a huge list, a partial bomb).
pub const MAX_RENDERED_BYTES: usize = 16 * 1024 * 1024;

/// A render's output, refused beyond [`MAX_RENDERED_BYTES`].
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDERED_BYTES {
            self.over = true;
            return Err(std::io::Error::other("the rendered text is too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capped {
    fn text(self) -> String {
        // Handlebars writes whole `str`s.
        String::from_utf8(self.bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

fn too_large(what: &str) -> String {
    format!(
        "{what} renders more than {} MiB",
        MAX_RENDERED_BYTES / 1024 / 1024
    )
}

fn new_registry() -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    registry
}

impl Templates {
    /// Compile every file under `dir` (the templates/ of the project at
    /// `root`). Each template is registered under its path relative to `dir`
    /// (`site.conf.hbs`), and also as a partial under the same name.
    pub fn load(root: &Path, dir: &Path) -> (Templates, Diags) {
        let mut templates = Templates::default();
        let (files, problems) = crate::files::walk::files_or_problems(root, dir, "templates");
        let mut diags = Diags(problems);
        for path in files {
            let Ok(relative) = path.strip_prefix(dir) else {
                continue;
            };
            let name = relative.to_string_lossy().into_owned();
            let shown = format!("templates/{name}");
            match crate::files::read_source(&path, &shown) {
                Ok(source) => {
                    if let Err(err) = templates
                        .registry
                        .register_template_string(&name, &*source.text)
                    {
                        diags.push(template_error(&source, &err));
                    } else {
                        // Also usable as a partial: {{> header.hbs}}
                        let _ = templates.registry.register_partial(&name, &*source.text);
                    }
                    templates.sources.insert(name, source);
                }
                Err(diag) => diags.push(diag),
            }
        }
        diags.0.extend(templates.check_partials());
        (templates, diags)
    }

    /// Build the graph of what each template includes and check it: no
    /// cycle, bounded depth and number of inclusions, names written out.
    fn check_partials(&mut self) -> Vec<Diag> {
        let mut graph = partials::Graph::default();
        for name in self.sources.keys() {
            if let Some(template) = self.registry.get_template(name) {
                graph.nodes.insert(name.clone(), partials::node(template));
            }
        }
        let mut problems = Vec::new();
        let mut cycles_seen = BTreeSet::new();
        let place = |name: &str, (line, column): (usize, usize)| {
            self.sources
                .get(name)
                .map(|source| Place::new(source, source.offset_of(line, column), 1))
        };
        for (name, node) in &graph.nodes {
            for computed in &node.computed {
                if let Some(place) = place(name, computed.at) {
                    problems.push(
                        Diag::at(place, format!("templates/{name} includes a partial whose name is computed"))
                            .label("a computed partial name")
                            .help("write the partial's name out, like {{> header.hbs}}, so that redgreen can check what every template includes"),
                    );
                }
            }
        }
        // Renders start at templates nobody includes: a problem is shown
        // once, for them; templates that only include each other have none.
        let roots = graph.roots();
        let mut order: Vec<(&String, &partials::Node)> = graph.nodes.iter().collect();
        order.sort_by_key(|(name, _)| !roots.contains(&name.as_str()));
        for (name, node) in order {
            let Err((problem, spot)) = graph.check(name, node) else {
                continue;
            };
            match &problem {
                partials::Problem::Cycle(chain) => {
                    let mut key = chain.clone();
                    key.sort();
                    key.dedup();
                    if !cycles_seen.insert(key) {
                        continue;
                    }
                }
                _ if !roots.contains(&name.as_str()) => continue,
                _ => {}
            }
            let Some(place) = place(&spot.template, spot.at) else {
                continue;
            };
            let label = match problem {
                partials::Problem::Cycle(_) => "this inclusion closes the cycle",
                _ => "included here",
            };
            problems.push(
                Diag::at(place, problem.message(&format!("templates/{name}")))
                    .label(label)
                    .help(format!(
                        "a template may include partials at most {} deep and {} times in all, and never itself through others",
                        partials::MAX_DEPTH,
                        partials::MAX_EXPANSIONS
                    )),
            );
        }
        self.partials = graph;
        problems
    }

    /// True when templates/ has a template of that name.
    pub fn contains(&self, name: &str) -> bool {
        self.sources.contains_key(name)
    }

    /// A template's text, as loaded.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.get(name)
    }

    /// The names of every template, for suggestions.
    pub fn names(&self) -> Vec<&str> {
        self.sources.keys().map(String::as_str).collect()
    }

    /// Render a template from templates/.
    pub fn render_file(&self, name: &str, context: &Value) -> Result<String, Diag> {
        let mut out = Capped::default();
        match self.registry.render_to_write(name, context, &mut out) {
            Ok(()) => Ok(out.text()),
            Err(_) if out.over => Err(Diag::plain(too_large(&format!("templates/{name}")))
                .help("a template that renders this much is a mistake (a loop over a huge list, partials included over and over); render less, or ship the data as a file under files/")),
            Err(err) => {
                let source = self.sources.get(name);
                Err(render_error_in_file(source, name, &err))
            }
        }
    }

    /// Render an inline string from a recipe (content, names, paths). `place`
    /// is where the string is written, for errors. Strings without `{{` are
    /// returned as they are.
    pub fn render_inline(
        &self,
        text: &str,
        context: &Value,
        place: &Place,
    ) -> Result<String, Diag> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        // Any inclusion has a `>` (`{{> x}}`, `{{~> x}}`, `{{#> layout}}`).
        if text.contains('>') {
            let template = handlebars::Template::compile(text).map_err(|err| {
                Diag::at(
                    place.clone(),
                    format!("template syntax error: {}", err.reason()),
                )
                .label("in this string")
            })?;
            let node = partials::node(&template);
            if !node.computed.is_empty() {
                return Err(Diag::at(
                    place.clone(),
                    "this string includes a partial whose name is computed",
                )
                .label("a computed partial name")
                .help("write the partial's name out, like {{> header.hbs}}"));
            }
            if let Err((problem, _)) = self.partials.check("this string", &node) {
                return Err(Diag::at(place.clone(), problem.message("this string"))
                    .label("in this string")
                    .help(format!(
                        "a string may include partials at most {} deep and {} times in all",
                        partials::MAX_DEPTH,
                        partials::MAX_EXPANSIONS
                    )));
            }
        }
        let mut out = Capped::default();
        match self
            .registry
            .render_template_to_write(text, context, &mut out)
        {
            Ok(()) => Ok(out.text()),
            Err(_) if out.over => Err(Diag::at(place.clone(), too_large("this string"))
                .label("in this string")
                .help("render less, or ship the data as a file under files/")),
            Err(err) => Err(inline_error(place, &err)),
        }
    }

    /// Check that an inline string compiles, without rendering it.
    pub fn check_inline(text: &str, place: &Place) -> Result<(), Diag> {
        if !text.contains("{{") {
            return Ok(());
        }
        handlebars::Template::compile(text)
            .map(|_| ())
            .map_err(|err| {
                Diag::at(
                    place.clone(),
                    format!("template syntax error: {}", err.reason()),
                )
                .label("in this string")
            })
    }
}

/// The context of a render: vars at the top level, plus `host` and `facts`.
pub fn context(vars: &Map<String, Value>, host: &Value, facts: Option<&Value>) -> Value {
    let mut context = vars.clone();
    context.insert("host".into(), host.clone());
    if let Some(facts) = facts {
        context.insert("facts".into(), facts.clone());
    }
    Value::Object(context)
}

/// The `host` object of the render context.
pub fn host_value(name: &str, address: &str, groups: &[String]) -> Value {
    json!({ "name": name, "address": address, "groups": groups })
}

fn template_error(source: &Source, err: &TemplateError) -> Diag {
    let (line, column) = err.pos().unwrap_or((1, 1));
    let offset = source.offset_of(line, column);
    Diag::at(
        Place::new(source, offset, 1),
        format!("template syntax error in {}: {}", source.name, err.reason()),
    )
    .label("here")
}

fn render_error_in_file(source: Option<&Source>, name: &str, err: &RenderError) -> Diag {
    let reason = render_reason(err);
    match (source, err.line_no, err.column_no) {
        (Some(source), Some(line), Some(column)) => {
            let offset = source.offset_of(line, column);
            Diag::at(
                Place::new(source, offset, 1),
                format!("cannot render templates/{name}: {reason}"),
            )
            .label("here")
            .help(render_help(err))
        }
        _ => {
            Diag::plain(format!("cannot render templates/{name}: {reason}")).help(render_help(err))
        }
    }
}

fn inline_error(place: &Place, err: &RenderError) -> Diag {
    let reason = render_reason(err);
    let within = match (err.line_no, err.column_no) {
        (Some(line), Some(column)) => format!(" (line {line}, column {column} of the string)"),
        _ => String::new(),
    };
    Diag::at(
        place.clone(),
        format!("cannot render this string{within}: {reason}"),
    )
    .label("in this string")
    .help(render_help(err))
}

fn render_reason(err: &RenderError) -> String {
    use handlebars::RenderErrorReason as R;
    match err.reason() {
        R::MissingVariable(Some(path)) => format!("variable '{path}' is not defined"),
        other => other.to_string(),
    }
}

fn render_help(err: &RenderError) -> String {
    use handlebars::RenderErrorReason as R;
    match err.reason() {
        R::MissingVariable(Some(path)) if path.starts_with("facts") => {
            "facts are gathered on the host; the known facts are os_family, os_id, os_version, arch, hostname, init, package_manager, cpus, memory_mb".into()
        }
        R::MissingVariable(_) => {
            "define it under `vars:` of the recipe, a group or the host, or pass --var NAME=VALUE".into()
        }
        _ => "see the handlebars syntax: {{name}}, {{#if x}}...{{/if}}, {{#each list}}...{{/each}}".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Place {
        Place::new(&Source::new("r.yml", "content: x"), 9, 1)
    }

    #[test]
    fn renders_vars_without_escaping() {
        let templates = Templates::default();
        let mut vars = Map::new();
        vars.insert("name".into(), json!("<b>&'\""));
        let ctx = context(&vars, &host_value("h", "a", &[]), None);
        let out = templates
            .render_inline("x={{name}}", &ctx, &place())
            .unwrap();
        assert_eq!(out, "x=<b>&'\"");
    }

    #[test]
    fn missing_variable_is_an_error() {
        let templates = Templates::default();
        let ctx = context(&Map::new(), &host_value("h", "a", &[]), None);
        let err = templates
            .render_inline("{{nope}}", &ctx, &place())
            .unwrap_err();
        assert!(
            err.message.contains("variable 'nope' is not defined"),
            "{}",
            err.message
        );
    }
}
