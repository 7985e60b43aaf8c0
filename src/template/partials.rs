//! What templates include (`{{> other.hbs}}`), checked before anything is
//! rendered: partials that include each other would recurse until the stack
//! overflows, and a "partial bomb" (each level including the next several
//! times) would render for ever. So the includes form a graph that must have
//! no cycle, be at most [`MAX_DEPTH`] deep, and make at most
//! [`MAX_EXPANSIONS`] inclusions per render. A partial's name must be written
//! out: a computed one (`{{> (lookup . "x")}}`) could not be checked.
//!
//! What a template renders is bounded as well, at run time, by
//! [`super::MAX_RENDERED_BYTES`].

use std::collections::BTreeMap;

use handlebars::template::{Parameter, Template, TemplateElement};

/// How deep partials may nest (a template including a partial is 1).
pub const MAX_DEPTH: usize = 16;
/// How many partials one render may include, counting every inclusion of
/// every partial at every level (loops over data aside).
pub const MAX_EXPANSIONS: u64 = 10_000;

/// Where a template includes a partial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The partial's name.
    pub name: String,
    /// Line and column of the inclusion in the including template.
    pub at: (usize, usize),
}

/// A partial whose name is computed at render time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    /// Line and column of the inclusion.
    pub at: (usize, usize),
}

/// What one template (or one inline partial it defines) includes, in order.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// Inclusions outside inline partials.
    pub includes: Vec<Include>,
    /// Inline partials (`{{#*inline "x"}}`) it defines, with what each includes.
    pub inline: BTreeMap<String, Vec<Include>>,
    /// Inclusions with a computed name.
    pub computed: Vec<Computed>,
}

/// What `template` includes.
pub fn node(template: &Template) -> Node {
    let mut node = Node::default();
    let mut includes = Vec::new();
    collect(template, &mut includes, &mut node);
    node.includes = includes;
    node
}

fn collect(template: &Template, includes: &mut Vec<Include>, node: &mut Node) {
    for (index, element) in template.elements.iter().enumerate() {
        let at = template.mapping.get(index).map_or((1, 1), |m| (m.0, m.1));
        match element {
            TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                match name_of(&d.name) {
                    Some(name) if name == "@partial-block" => {}
                    Some(name) => includes.push(Include { name, at }),
                    None => node.computed.push(Computed { at }),
                }
                if let Some(inner) = &d.template {
                    collect(inner, includes, node);
                }
            }
            TemplateElement::DecoratorBlock(d) if name_of(&d.name).as_deref() == Some("inline") => {
                let name = d.params.first().and_then(name_of).unwrap_or_default();
                let mut inner_includes = Vec::new();
                if let Some(inner) = &d.template {
                    collect(inner, &mut inner_includes, node);
                }
                node.inline.entry(name).or_default().extend(inner_includes);
            }
            TemplateElement::DecoratorBlock(d) => {
                if let Some(inner) = &d.template {
                    collect(inner, includes, node);
                }
            }
            TemplateElement::HelperBlock(h) => {
                for inner in [&h.template, &h.inverse].into_iter().flatten() {
                    collect(inner, includes, node);
                }
            }
            _ => {}
        }
    }
}

/// The name a parameter stands for, if it is written out.
fn name_of(parameter: &Parameter) -> Option<String> {
    match parameter {
        Parameter::Name(name) => Some(name.clone()),
        Parameter::Path(_) => parameter.as_name().map(str::to_string),
        Parameter::Literal(serde_json::Value::String(s)) => Some(s.clone()),
        Parameter::Literal(other) => Some(other.to_string()),
        _ => None,
    }
}

/// Why what a template includes cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Partials that include each other: the chain, from the first to the
    /// one included again.
    Cycle(Vec<String>),
    /// Partials nested deeper than [`MAX_DEPTH`]: the chain.
    TooDeep(Vec<String>),
    /// More than [`MAX_EXPANSIONS`] inclusions: the chain that multiplies
    /// most, each with how many times it is included by the one before.
    TooMany(Vec<(String, u64)>),
}

impl Problem {
    /// The problem in words.
    pub fn message(&self, template: &str) -> String {
        match self {
            Problem::Cycle(chain) => format!("templates include each other: {}", chain.join(" → ")),
            Problem::TooDeep(chain) => format!(
                "partials nest more than {MAX_DEPTH} deep: {}",
                chain.join(" → ")
            ),
            Problem::TooMany(chain) => format!(
                "{template} would include partials more than {MAX_EXPANSIONS} times: {}",
                chain
                    .iter()
                    .enumerate()
                    .map(|(i, (name, times))| if i == 0 || *times == 1 {
                        name.clone()
                    } else {
                        format!("{times} × {name}")
                    })
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
        }
    }
}

/// Where a problem is best shown: the template (by name) and the line and
/// column of an inclusion in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    /// The template whose text holds the inclusion.
    pub template: String,
    /// Line and column.
    pub at: (usize, usize),
}

/// The include graph of every template, by name.
#[derive(Debug, Default)]
pub struct Graph {
    /// Template name → what it includes.
    pub nodes: BTreeMap<String, Node>,
}

/// A node of the graph: a template, or an inline partial of one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    template: String,
    inline: Option<String>,
}

impl Key {
    fn shown(&self) -> String {
        match &self.inline {
            Some(inline) => format!("{inline} (inline in {})", self.template),
            None => self.template.clone(),
        }
    }
}

impl Graph {
    /// Check what the template `name` (whose own includes are `root`)
    /// includes, through every level. A cycle is shown where it closes;
    /// the other problems at the inclusion in `name` that leads to them.
    pub fn check(&self, name: &str, root: &Node) -> Result<(), (Problem, Spot)> {
        let mut memo = BTreeMap::new();
        let mut stack = vec![Key {
            template: name.to_string(),
            inline: None,
        }];
        let mut spot = Spot {
            template: name.to_string(),
            at: (1, 1),
        };
        match self.visit(&root.includes, root, &mut stack, &mut memo, &mut spot) {
            Err(Problem::TooMany(_)) => {
                Err((Problem::TooMany(self.heaviest(root, &stack, &memo)), spot))
            }
            Err(problem) => Err((problem, spot)),
            Ok(_) => Ok(()),
        }
    }

    /// Every template no other template includes (where renders start).
    pub fn roots(&self) -> Vec<&str> {
        let included: std::collections::BTreeSet<&str> = self
            .nodes
            .values()
            .flat_map(|n| n.includes.iter().chain(n.inline.values().flatten()))
            .map(|i| i.name.as_str())
            .collect();
        self.nodes
            .keys()
            .map(String::as_str)
            .filter(|n| !included.contains(n))
            .collect()
    }

    /// The children of an inclusion of `name` from inside `from`: an inline
    /// partial of `from` by that name, else the template by that name.
    fn resolve(&self, from: &Key, from_node: &Node, name: &str) -> Option<(Key, Vec<Include>)> {
        if let Some(includes) = from_node.inline.get(name) {
            return Some((
                Key {
                    template: from.template.clone(),
                    inline: Some(name.to_string()),
                },
                includes.clone(),
            ));
        }
        self.nodes.get(name).map(|node| {
            (
                Key {
                    template: name.to_string(),
                    inline: None,
                },
                node.includes.clone(),
            )
        })
    }

    /// The inclusions a render of the includes `list` (of the node on top of
    /// `stack`) makes, through every level; `memo` keeps each node's count.
    fn visit(
        &self,
        list: &[Include],
        owner: &Node,
        stack: &mut Vec<Key>,
        memo: &mut BTreeMap<Key, u64>,
        spot: &mut Spot,
    ) -> Result<u64, Problem> {
        let mut total: u64 = 0;
        let from = stack.last().expect("non-empty stack").clone();
        for include in list {
            if stack.len() == 1 {
                spot.at = include.at;
            }
            let Some((key, children)) = self.resolve(&from, owner, &include.name) else {
                continue; // not found: handlebars says so when it renders
            };
            if let Some(pos) = stack.iter().position(|k| *k == key) {
                let mut chain: Vec<String> = stack[pos..].iter().map(Key::shown).collect();
                chain.push(key.shown());
                *spot = Spot {
                    template: from.template.clone(),
                    at: include.at,
                };
                return Err(Problem::Cycle(chain));
            }
            let count = match memo.get(&key) {
                Some(count) => *count,
                None => {
                    stack.push(key.clone());
                    if stack.len() > MAX_DEPTH + 1 {
                        return Err(Problem::TooDeep(stack.iter().map(Key::shown).collect()));
                    }
                    let owner = self.nodes.get(&key.template).cloned().unwrap_or_default();
                    let inner = self.visit(&children, &owner, stack, memo, spot)?;
                    stack.pop();
                    let count = inner.saturating_add(1);
                    memo.insert(key.clone(), count);
                    count
                }
            };
            total = total.saturating_add(count);
            if total > MAX_EXPANSIONS {
                // The chain is worked out by `check`, from the stack as it is.
                return Err(Problem::TooMany(Vec::new()));
            }
        }
        Ok(total)
    }

    /// The chain from the bottom of `stack` that multiplies most: at each
    /// level the partial included most, with how many times.
    fn heaviest(
        &self,
        root: &Node,
        stack: &[Key],
        memo: &BTreeMap<Key, u64>,
    ) -> Vec<(String, u64)> {
        let includes_of = |key: &Key, depth: usize| -> Vec<Include> {
            if depth == 0 {
                return root.includes.clone();
            }
            let node = self.nodes.get(&key.template);
            match (&key.inline, node) {
                (Some(inline), Some(node)) => node.inline.get(inline).cloned().unwrap_or_default(),
                (None, Some(node)) => node.includes.clone(),
                _ => Vec::new(),
            }
        };
        let owner_of = |key: &Key, depth: usize| -> Node {
            if depth == 0 {
                return root.clone();
            }
            self.nodes.get(&key.template).cloned().unwrap_or_default()
        };
        // Down the stack: how often each includes the next.
        let mut chain: Vec<(String, u64)> = vec![(stack[0].shown(), 1)];
        for (depth, pair) in stack.windows(2).enumerate() {
            let owner = owner_of(&pair[0], depth);
            let times = includes_of(&pair[0], depth)
                .iter()
                .filter(|i| {
                    self.resolve(&pair[0], &owner, &i.name)
                        .is_some_and(|(k, _)| k == pair[1])
                })
                .count() as u64;
            chain.push((pair[1].shown(), times.max(1)));
        }
        // Then on, at each level, the partial that weighs most.
        let mut current = stack.last().cloned().map(|k| (k, stack.len() - 1));
        while let Some((key, depth)) = current.take() {
            if chain.len() > MAX_DEPTH + 1 {
                break;
            }
            let owner = owner_of(&key, depth);
            let mut times: BTreeMap<String, u64> = BTreeMap::new();
            for include in includes_of(&key, depth) {
                *times.entry(include.name).or_default() += 1;
            }
            let best = times
                .into_iter()
                .filter_map(|(name, n)| {
                    let (child, _) = self.resolve(&key, &owner, &name)?;
                    let weight = memo.get(&child).copied().unwrap_or(1).saturating_mul(n);
                    Some((child, n, weight))
                })
                .max_by_key(|(_, _, weight)| *weight);
            if let Some((child, n, _)) = best {
                chain.push((child.shown(), n));
                current = Some((child, depth + 1));
            }
        }
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(templates: &[(&str, &str)]) -> Graph {
        let mut graph = Graph::default();
        for (name, text) in templates {
            graph
                .nodes
                .insert(name.to_string(), node(&Template::compile(text).unwrap()));
        }
        graph
    }

    fn check(graph: &Graph, name: &str) -> Result<(), Problem> {
        graph.check(name, &graph.nodes[name]).map_err(|(p, _)| p)
    }

    #[test]
    fn includes_are_found_everywhere() {
        let node = node(
            &Template::compile(
                "{{> a.hbs}}{{#if x}}{{> b.hbs}}{{else}}{{> 'c d.hbs'}}{{/if}}\
                 {{#*inline \"row\"}}{{> e.hbs}}{{/inline}}{{#> layout.hbs}}{{> f.hbs}}{{/layout.hbs}}\
                 {{> (which_partial)}}",
            )
            .unwrap(),
        );
        let names: Vec<&str> = node.includes.iter().map(|i| i.name.as_str()).collect();
        // Names are looked up as written (quotes and all), as handlebars does.
        assert_eq!(
            names,
            ["a.hbs", "b.hbs", "'c d.hbs'", "layout.hbs", "f.hbs"]
        );
        assert_eq!(node.inline["row"][0].name, "e.hbs");
        assert_eq!(node.computed.len(), 1);
    }

    #[test]
    fn partials_that_include_each_other_are_a_cycle() {
        let g = graph(&[
            ("a.hbs", "{{> b.hbs}}"),
            ("b.hbs", "x {{> c.hbs}}"),
            ("c.hbs", "{{#if y}}{{> a.hbs}}{{/if}}"),
        ]);
        assert_eq!(
            g.check("a.hbs", &g.nodes["a.hbs"]),
            Err((
                Problem::Cycle(vec![
                    "a.hbs".into(),
                    "b.hbs".into(),
                    "c.hbs".into(),
                    "a.hbs".into()
                ]),
                Spot {
                    template: "c.hbs".into(),
                    at: (1, 10)
                }
            ))
        );
        assert!(g.roots().is_empty());
        let g = graph(&[(
            "t.hbs",
            "{{#*inline \"p\"}}{{> q}}{{/inline}}{{#*inline \"q\"}}{{> p}}{{/inline}}{{> p}}",
        )]);
        assert!(matches!(check(&g, "t.hbs"), Err(Problem::Cycle(_))));
    }

    #[test]
    fn a_partial_bomb_is_refused_with_its_chain() {
        let mut templates = Vec::new();
        for level in 0..12 {
            let next = format!("{{{{> p{}.hbs}}}}", level + 1);
            templates.push((format!("p{level}.hbs"), next.repeat(4)));
        }
        templates.push(("p12.hbs".into(), "boom".into()));
        let refs: Vec<(&str, &str)> = templates
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let g = graph(&refs);
        let Err(problem) = check(&g, "p0.hbs") else {
            panic!("a bomb passed");
        };
        let message = problem.message("templates/p0.hbs");
        assert!(message.contains("more than 10000 times"), "{message}");
        assert!(
            message.contains("p0.hbs → 4 × p1.hbs → 4 × p2.hbs"),
            "{message}"
        );
    }

    #[test]
    fn deep_chains_are_refused() {
        let mut templates = Vec::new();
        for level in 0..20 {
            templates.push((
                format!("d{level}.hbs"),
                format!("{{{{> d{}.hbs}}}}", level + 1),
            ));
        }
        let refs: Vec<(&str, &str)> = templates
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let g = graph(&refs);
        assert!(
            matches!(check(&g, "d0.hbs"), Err(Problem::TooDeep(chain)) if chain.len() == MAX_DEPTH + 2)
        );
    }

    #[test]
    fn ordinary_partials_pass() {
        let g = graph(&[
            (
                "site.hbs",
                "{{> header.hbs}}{{#each items}}{{> row.hbs}}{{/each}}{{> footer.hbs}}",
            ),
            ("header.hbs", "{{> logo.hbs}}"),
            ("row.hbs", "{{name}}"),
            ("footer.hbs", "{{> logo.hbs}}"),
            ("logo.hbs", "*"),
        ]);
        assert_eq!(check(&g, "site.hbs"), Ok(()));
    }
}
