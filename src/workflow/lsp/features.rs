//! A feature file as the editor has it: its problems (the same checks as
//! `redgreen validate`), completion of step phrases, tags and values, what a
//! step does (hover), where a user step is defined, its outline, and the
//! quick fix for a misspelt step. Pure functions of the text and the
//! [`Knowledge`].

use std::collections::BTreeSet;

use tower_lsp_server::ls_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, DocumentSymbol, InsertTextFormat,
    Position, Range, SymbolKind, TextEdit,
};

use super::document::{self, line_before};
use super::project::Knowledge;
use crate::diagnostic::{Diag, Place, Source};
use crate::verify::features::{self, FeatureFile};
use crate::verify::library::{Action, Keyword, Phrase, Placeholder};
use crate::verify::steps::COMMANDS;

/// The step keywords a step line starts with.
const KEYWORDS: [&str; 6] = ["Given", "When", "Then", "And", "But", "*"];

/// Every problem of the feature file `name` (relative to the project) with
/// this text: Gherkin syntax, undefined or ambiguous steps, bad values,
/// unknown `@host:`/`@group:` tags.
pub fn problems(knowledge: &Knowledge, name: &str, text: &str) -> Vec<Diag> {
    let source = Source::new(name, text);
    match features::parse(&source) {
        Err(diag) => vec![diag],
        Ok(feature) => {
            let file = FeatureFile { source, feature };
            features::validate(&[file], &knowledge.library, knowledge.names.as_ref()).0
        }
    }
}

/// The step on `line` (from 0): its text after the keyword, and that
/// text's byte range. Read from the line alone, so that it works while the
/// rest of the file does not parse (as it often does while typing).
fn step_on_line(text: &str, line: u32) -> Option<(&str, usize, usize)> {
    let start = document::offset(text, Position::new(line, 0));
    let whole = text[start..].split('\n').next().unwrap_or("");
    let trimmed = whole.trim_start();
    let keyword = KEYWORDS
        .iter()
        .find(|k| trimmed.starts_with(&format!("{k} ")))?;
    let after = &trimmed[keyword.len() + 1..];
    let value = after.trim();
    let at = start
        + (whole.len() - trimmed.len())
        + keyword.len()
        + 1
        + (after.len() - after.trim_start().len());
    (!value.is_empty()).then_some((value, at, at + value.len()))
}

fn parse(text: &str) -> Option<gherkin::Feature> {
    features::parse(&Source::new("", text)).ok()
}

/// The byte range of a step's text after its keyword.
fn value_span(text: &str, step: &gherkin::Step) -> (usize, usize) {
    let source = Source::new("", text);
    let keyword_at = source.offset_of(step.position.line, step.position.col);
    let after = keyword_at + step.keyword.len();
    let start = text[after.min(text.len())..]
        .find(step.value.trim_end())
        .map_or(after, |at| after + at);
    (start, start + step.value.trim_end().len())
}

/// A quick fix: the text to put in place of a misspelt step's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What the editor offers.
    pub title: String,
    /// The range of the step's text (after the keyword).
    pub range: Range,
    /// The closest phrase, filled with the step's values.
    pub replacement: String,
}

/// For every undefined step on the lines of `range`: the closest phrase.
pub fn fixes(knowledge: &Knowledge, text: &str, range: Range) -> Vec<Fix> {
    let Some(feature) = parse(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for step in features::steps_of(&feature) {
        let line = step.position.line as u32 - 1;
        if line < range.start.line || line > range.end.line {
            continue;
        }
        if !knowledge.library.find(&step.value).is_empty() {
            continue;
        }
        let Some(best) = knowledge.library.closest(&step.value, 1).into_iter().next() else {
            continue;
        };
        // closest() says it with the phrase's keyword; the step keeps its own.
        let replacement = best.split_once(' ').map_or(best.as_str(), |(_, rest)| rest);
        let (start, end) = value_span(text, step);
        out.push(Fix {
            title: format!("Replace with '{replacement}'"),
            range: document::range(text, start, end),
            replacement: replacement.to_string(),
        });
    }
    out
}

/// What to offer at `position`: `@host:`/`@group:` tags after `@`, values
/// the recipes use inside a step's quotes, else every phrase after a step
/// keyword (as a snippet whose placeholders are the quoted values).
pub fn completions(knowledge: &Knowledge, text: &str, position: Position) -> Vec<CompletionItem> {
    let before = line_before(text, position);
    let token = before.rsplit(char::is_whitespace).next().unwrap_or("");
    let token_range = |len: usize| {
        let units = before[before.len() - len..].encode_utf16().count() as u32;
        Range::new(
            Position::new(position.line, position.character - units),
            position,
        )
    };
    if token.starts_with('@') {
        return tag_items(knowledge, token_range(token.len()));
    }
    let trimmed = before.trim_start();
    let Some(keyword) = KEYWORDS
        .iter()
        .find(|k| trimmed.starts_with(&format!("{k} ")))
    else {
        return Vec::new();
    };
    let after = &trimmed[keyword.len() + 1..];
    if after.matches('"').count() % 2 == 1 {
        let (words, typed) = after.rsplit_once('"').unwrap_or(("", after));
        return value_items(knowledge, words, token_range(typed.len()));
    }
    let range = token_range(after.len());
    knowledge
        .library
        .phrases
        .iter()
        .map(|phrase| CompletionItem {
            label: phrase.text.clone(),
            kind: Some(CompletionItemKind::SNIPPET),
            detail: Some(phrase.family.to_string()),
            documentation: Some(tower_lsp_server::ls_types::Documentation::String(format!(
                "e.g. {} {}",
                phrase.keyword, phrase.example
            ))),
            filter_text: Some(phrase.text.clone()),
            insert_text_format: Some(InsertTextFormat::SNIPPET),
            text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(
                range,
                snippet(phrase),
            ))),
            ..CompletionItem::default()
        })
        .collect()
}

fn tag_items(knowledge: &Knowledge, range: Range) -> Vec<CompletionItem> {
    let Some(names) = &knowledge.names else {
        return Vec::new();
    };
    let hosts = names.hosts.iter().map(|h| ("host", h));
    let groups = names.groups.iter().map(|g| ("group", g));
    hosts
        .chain(groups)
        .map(|(what, name)| {
            let tag = format!("@{what}:{name}");
            CompletionItem {
                label: tag.clone(),
                kind: Some(CompletionItemKind::CONSTANT),
                detail: Some(format!("run on the {what} {name} (redgreen.yml)")),
                text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(range, tag))),
                ..CompletionItem::default()
            }
        })
        .collect()
}

/// The names recipes use that fit the words before the open quote.
fn value_items(knowledge: &Knowledge, words: &str, range: Range) -> Vec<CompletionItem> {
    let values = &knowledge.values;
    let words = words.trim_end();
    let (what, names): (&str, &BTreeSet<String>) = if words.ends_with("package") {
        ("package", &values.packages)
    } else if words.ends_with("service") || words.ends_with("process") {
        ("service", &values.services)
    } else if words.ends_with("user")
        || words.ends_with("crontab of")
        || words.ends_with(" as")
        || words.ends_with("owned by")
    {
        ("user", &values.users)
    } else if words.ends_with("group") {
        ("group", &values.groups)
    } else if words.ends_with("file")
        || words.ends_with("directory")
        || words.ends_with("symlink")
        || words.ends_with("point to")
    {
        ("path", &values.paths)
    } else {
        return Vec::new();
    };
    names
        .iter()
        .map(|name| CompletionItem {
            label: name.clone(),
            kind: Some(CompletionItemKind::VALUE),
            detail: Some(format!("a {what} the recipes name")),
            text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(range, name.clone()))),
            ..CompletionItem::default()
        })
        .collect()
}

/// The phrase as a snippet: each placeholder a tab stop holding the
/// example's value.
fn snippet(phrase: &Phrase) -> String {
    let example = phrase.example.lines().next().unwrap_or("");
    let defaults = phrase.parse(example).map(|a| a.values).unwrap_or_default();
    let mut out = String::new();
    let mut rest = phrase.text.as_str();
    for (n, placeholder) in phrase.placeholders.iter().enumerate() {
        let token = match placeholder {
            Placeholder::String => "{string}",
            Placeholder::Int => "{int}",
            Placeholder::Word => "{word}",
        };
        let Some(at) = rest.find(token) else {
            break;
        };
        out.push_str(&escape(&rest[..at]));
        let default = escape(defaults.get(n).map_or("", String::as_str));
        let stop = format!("${{{}:{default}}}", n + 1);
        match placeholder {
            Placeholder::String => out.push_str(&format!("\"{stop}\"")),
            _ => out.push_str(&stop),
        }
        rest = &rest[at + token.len()..];
    }
    out.push_str(&escape(rest));
    out
}

/// Text taken literally in a snippet.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('$', "\\$")
        .replace('}', "\\}")
}

/// What the step on `position`'s line is, checks and runs, as Markdown.
pub fn hover(knowledge: &Knowledge, text: &str, position: Position) -> Option<(String, Range)> {
    let (value, start, end) = step_on_line(text, position.line)?;
    let found = knowledge.library.find(value);
    let (phrase, args) = found.first()?;
    let mut out = format!(
        "**{} {}** — {}\n\n",
        phrase.keyword, phrase.text, phrase.family
    );
    match &phrase.action {
        Action::User { run } => {
            out.push_str("Passes when this command exits 0 on the host (as root):\n\n");
            out.push_str(&format!("```sh\n{run}\n```\n"));
            if !args.values.is_empty() {
                let values: Vec<String> = args
                    .values
                    .iter()
                    .enumerate()
                    .map(|(n, v)| format!("`{{{}}}` = `{v}`", n + 1))
                    .collect();
                out.push_str(&format!("\nwith {}\n", values.join(", ")));
            }
            if let Some(defined) = &phrase.defined {
                out.push_str(&format!("\nDefined at {}\n", defined.position()));
            }
        }
        Action::Builtin(_) => match phrase.script(args) {
            Some(script) => {
                out.push_str("Checks on the host with:\n\n");
                out.push_str(&format!("```sh\n{script}\n```\n"));
            }
            None => out.push_str(match (phrase.family, phrase.keyword) {
                (COMMANDS, Keyword::When) => {
                    "Runs the command it names on the host (as root, or as the user named), with nothing on stdin.\n"
                }
                (COMMANDS, _) => {
                    "Checks what the last `When I run` did; runs nothing on the host itself.\n"
                }
                _ => "Asks the host through its SSH connection (a TCP connection from the host, no shell script).\n",
            }),
        },
    }
    if phrase.negatable {
        out.push_str("\n`should not` turns the check around.");
    }
    if phrase.retryable {
        out.push_str(" Ends with `within N seconds` to try again until it passes.");
    }
    out.push_str(&format!(
        "\n\nExample:\n\n```gherkin\n{} {}\n```",
        phrase.keyword, phrase.example
    ));
    Some((out, document::range(text, start, end)))
}

/// Where the user step on `position`'s line is defined (in steps.yml).
pub fn definition(knowledge: &Knowledge, text: &str, position: Position) -> Option<Place> {
    let (value, _, _) = step_on_line(text, position.line)?;
    let found = knowledge.library.find(value);
    let (phrase, _) = found.first()?;
    phrase.defined.clone()
}

/// The outline: the feature, its background, rules and scenarios.
#[allow(deprecated)] // DocumentSymbol's `deprecated` field must be named
pub fn symbols(text: &str) -> Vec<DocumentSymbol> {
    let Some(feature) = parse(text) else {
        return Vec::new();
    };
    let symbol = |keyword: &str,
                  name: &str,
                  kind: SymbolKind,
                  span: &gherkin::Span,
                  children: Vec<DocumentSymbol>| {
        let range = document::range(text, span.start, span.end);
        let head = text[span.start.min(text.len())..]
            .find('\n')
            .map_or(text.len(), |at| span.start + at);
        DocumentSymbol {
            name: if name.is_empty() {
                keyword.to_string()
            } else {
                name.to_string()
            },
            detail: Some(keyword.to_string()),
            kind,
            tags: None,
            deprecated: None,
            range,
            selection_range: document::range(text, span.start, head.min(span.end.max(span.start))),
            children: (!children.is_empty()).then_some(children),
        }
    };
    let scenarios = |scenarios: &[gherkin::Scenario], background: &Option<gherkin::Background>| {
        let mut out: Vec<DocumentSymbol> = background
            .iter()
            .map(|b| {
                symbol(
                    &b.keyword,
                    &b.name,
                    SymbolKind::CONSTRUCTOR,
                    &b.span,
                    Vec::new(),
                )
            })
            .collect();
        out.extend(scenarios.iter().map(|s| {
            symbol(
                &s.keyword,
                &s.name,
                SymbolKind::FUNCTION,
                &s.span,
                Vec::new(),
            )
        }));
        out
    };
    let mut children = scenarios(&feature.scenarios, &feature.background);
    for rule in &feature.rules {
        let inner = scenarios(&rule.scenarios, &rule.background);
        children.push(symbol(
            &rule.keyword,
            &rule.name,
            SymbolKind::NAMESPACE,
            &rule.span,
            inner,
        ));
    }
    vec![symbol(
        &feature.keyword,
        &feature.name,
        SymbolKind::MODULE,
        &feature.span,
        children,
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Library;

    fn knowledge() -> Knowledge {
        Knowledge {
            library: Library::builtin(),
            ..Knowledge::default()
        }
    }

    const FEATURE: &str = "Feature: Web\n  Scenario: nginx\n    Then the pakage \"nginx\" should be installed\n    And the service \"nginx\" should be running\n";

    #[test]
    fn a_misspelt_step_is_a_problem_with_a_fix_on_its_text() {
        let k = knowledge();
        let problems = problems(&k, "features/web.feature", FEATURE);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let diagnostic = document::diagnostic(&problems[0]);
        assert_eq!(diagnostic.range.start, Position::new(2, 4));
        assert!(diagnostic.message.starts_with("undefined step"));
        let fixes = fixes(&k, FEATURE, diagnostic.range);
        assert_eq!(fixes.len(), 1);
        assert_eq!(
            fixes[0].replacement,
            "the package \"nginx\" should be installed"
        );
        assert_eq!(
            fixes[0].range,
            Range::new(Position::new(2, 9), Position::new(2, 47))
        );
    }

    #[test]
    fn phrases_complete_as_snippets_after_a_keyword() {
        let k = knowledge();
        let items = completions(
            &k,
            "Feature: x\n  Scenario: y\n    Then the pa",
            Position::new(2, 15),
        );
        let item = items
            .iter()
            .find(|i| i.label == "the package {string} should be installed")
            .expect("the package phrase");
        let Some(CompletionTextEdit::Edit(edit)) = &item.text_edit else {
            panic!("a text edit");
        };
        assert_eq!(
            edit.new_text,
            "the package \"${1:nginx-light}\" should be installed"
        );
        assert_eq!(edit.range.start, Position::new(2, 9));
        assert!(completions(&k, "Feature: x\n  Scenario: y\n    ", Position::new(2, 4)).is_empty());
    }

    #[test]
    fn hover_shows_the_check_script() {
        let k = knowledge();
        let text =
            "Feature: Web\n  Scenario: nginx\n    Then the package \"nginx\" should be installed\n";
        let (markdown, _) = hover(&k, text, Position::new(2, 10)).expect("a hover");
        assert!(markdown.contains("```sh\n"), "{markdown}");
        assert!(markdown.contains("nginx"), "{markdown}");
    }

    #[test]
    fn hover_says_what_a_command_step_does_without_a_script() {
        let k = knowledge();
        let text = "Feature: x\n  Scenario: y\n    When I run \"whoami\"\n    Then the command should succeed\n";
        let (run, _) = hover(&k, text, Position::new(2, 6)).expect("a hover");
        assert!(run.contains("Runs the command it names"), "{run}");
        let (check, _) = hover(&k, text, Position::new(3, 6)).expect("a hover");
        assert!(check.contains("runs nothing on the host itself"), "{check}");
    }

    #[test]
    fn the_outline_has_the_feature_and_its_scenarios() {
        let symbols = symbols(FEATURE);
        assert_eq!(symbols[0].name, "Web");
        let children = symbols[0].children.as_ref().expect("scenarios");
        assert_eq!(children[0].name, "nginx");
        assert_eq!(children[0].range.start.line, 1);
    }
}
