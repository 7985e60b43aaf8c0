//! The step library: every phrase a feature may use, built-in or from
//! `features/steps.yml`, how it is matched, and how a near miss is explained.
//!
//! A phrase is written the way users read it, `the package {string} should be
//! installed`, with `{string}` (a double-quoted value; `\"` inside it is a
//! quote), `{int}` and `{word}` placeholders. It compiles to one anchored
//! regex. A built-in phrase with `should` also matches `should not`, and any
//! check (a `Then` phrase) may end with `within N seconds`. The keyword does
//! not take part in matching (as in every other Cucumber): `Given`, `When`,
//! `Then`, `And` and `But` all find the same phrases; the keyword a phrase is
//! listed with is the one it reads best with.

use std::fmt;
use std::time::Duration;

use futures::future::LocalBoxFuture;
use regex::Regex;

use super::world::{Failure, HostWorld, Verdict};
use crate::diagnostic::Place;

/// A built-in step's code: one short async function of the world and the
/// step's arguments.
pub type CheckFn =
    for<'a> fn(&'a mut HostWorld, &'a Args) -> LocalBoxFuture<'a, Result<(), Failure>>;

/// A static check of a step's arguments, run by `validate` (a regex that does
/// not compile, a mode that is not octal). Returns what is wrong.
pub type ArgsCheck = fn(&[String]) -> Result<(), String>;

/// The keyword a phrase reads best with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// A precondition (unused by the built-ins, allowed for user steps).
    Given,
    /// An action: runs something on the host.
    When,
    /// A check of the host's state.
    Then,
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Keyword::Given => "Given",
            Keyword::When => "When",
            Keyword::Then => "Then",
        })
    }
}

/// What a phrase needs below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// Nothing.
    None,
    /// A DocString (`"""`).
    DocString,
    /// A DataTable (`| a |`).
    Table,
}

/// What a step does.
#[derive(Clone)]
pub enum Action {
    /// A built-in step.
    Builtin(CheckFn),
    /// A user step: a shell command with `{1}`, `{2}`… for the values.
    User {
        /// The command, as written in steps.yml.
        run: String,
    },
}

/// One phrase of the library.
#[derive(Clone)]
pub struct Phrase {
    /// The family it is listed under in `redgreen steps`.
    pub family: &'static str,
    /// The keyword it reads best with.
    pub keyword: Keyword,
    /// The phrase as users read it: `the package {string} should be installed`.
    pub text: String,
    /// An example step (without keyword).
    pub example: String,
    /// The placeholders, in order.
    pub placeholders: Vec<Placeholder>,
    /// What it needs below it.
    pub block: Block,
    /// Whether `should not` is accepted.
    pub negatable: bool,
    /// Whether `within N seconds` is accepted.
    pub retryable: bool,
    /// What it does.
    pub action: Action,
    /// A static check of its arguments.
    pub check_args: Option<ArgsCheck>,
    /// Where a user step is defined (None for built-ins).
    pub defined: Option<Place>,
    regex: Regex,
}

impl fmt::Debug for Phrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Phrase").field("text", &self.text).finish()
    }
}

/// A placeholder in a phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `{string}`: a double-quoted value.
    String,
    /// `{int}`: a whole number.
    Int,
    /// `{word}`: a value without spaces or quotes.
    Word,
}

impl Placeholder {
    const ALL: [(&'static str, Placeholder); 3] = [
        ("string", Placeholder::String),
        ("int", Placeholder::Int),
        ("word", Placeholder::Word),
    ];

    /// The regex of the value, as (before the group, inside it, after it).
    fn pattern(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Placeholder::String => ("\"", r#"(?:[^"\\]|\\.)*"#, "\""),
            Placeholder::Int => ("", r"-?\d+", ""),
            Placeholder::Word => ("", r#"[^\s"]+"#, ""),
        }
    }

    /// A sample value, for generated examples.
    fn sample(self) -> &'static str {
        match self {
            Placeholder::String => "\"example\"",
            Placeholder::Int => "1",
            Placeholder::Word => "word",
        }
    }
}

/// The arguments of one step.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// The placeholder values, in order (`{string}` values unescaped).
    pub values: Vec<String>,
    /// `should` (true) or `should not` (false).
    pub should: bool,
    /// `within N seconds`.
    pub within: Option<Duration>,
    /// The DocString below the step.
    pub docstring: Option<String>,
    /// The DataTable below the step.
    pub table: Option<Vec<Vec<String>>>,
}

impl Args {
    /// The `n`th value (0-based).
    pub fn text(&self, n: usize) -> &str {
        self.values.get(n).map_or("", String::as_str)
    }

    /// The `n`th value as a number.
    pub fn int(&self, n: usize) -> Result<i64, Failure> {
        self.text(n)
            .parse()
            .map_err(|_| Failure::input(format!("'{}' is not a whole number", self.text(n))))
    }

    /// `should` or `should not`, for messages.
    pub fn should_word(&self) -> &'static str {
        if self.should { "should" } else { "should not" }
    }
}

/// Pass when `holds` is what the step wants (`should` or `should not`), else
/// fail with the message for that polarity.
pub fn expect(
    args: &Args,
    holds: bool,
    unlike_should: String,
    unlike_should_not: String,
) -> Verdict {
    match (args.should, holds) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => Err(Failure::check(unlike_should)),
        (false, true) => Err(Failure::check(unlike_should_not)),
    }
}

/// An error in a phrase as written (a user step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseError {
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

/// Options of a phrase while it is built.
#[derive(Clone, Copy)]
pub struct Shape {
    /// Accept `should not`.
    pub negatable: bool,
    /// Accept `within N seconds`.
    pub retryable: bool,
}

impl Phrase {
    /// Build a phrase from its text, with a generated example.
    pub fn new(
        family: &'static str,
        keyword: Keyword,
        text: &str,
        shape: Shape,
        action: Action,
    ) -> Result<Phrase, PhraseError> {
        let (regex, placeholders, block) = compile(text, shape)?;
        Ok(Phrase {
            family,
            keyword,
            text: text.to_string(),
            example: sample(text),
            placeholders,
            block,
            negatable: shape.negatable && find_word(text, "should").is_some(),
            retryable: shape.retryable,
            action,
            check_args: None,
            defined: None,
            regex,
        })
    }

    /// The same phrase with this example.
    pub fn example(mut self, example: &str) -> Phrase {
        self.example = example.to_string();
        self
    }

    /// The same phrase taking a DataTable instead of a DocString.
    pub fn table(mut self) -> Phrase {
        self.block = Block::Table;
        self
    }

    /// The same phrase with a static check of its arguments.
    pub fn args_check(mut self, check: ArgsCheck) -> Phrase {
        self.check_args = Some(check);
        self
    }

    /// The same phrase, defined at `place`.
    pub fn defined_at(mut self, place: Place) -> Phrase {
        self.defined = Some(place);
        self
    }

    /// The regex that a step's text must match.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// The arguments of `text` if it is this phrase.
    pub fn parse(&self, text: &str) -> Option<Args> {
        let caps = self.regex.captures(text)?;
        let mut values = Vec::new();
        for (n, placeholder) in self.placeholders.iter().enumerate() {
            let raw = caps.name(&format!("v{n}")).map_or("", |m| m.as_str());
            values.push(match placeholder {
                Placeholder::String => unescape(raw),
                _ => raw.to_string(),
            });
        }
        Some(Args {
            values,
            should: caps.name("not").is_none(),
            within: caps
                .name("within")
                .and_then(|m| m.as_str().parse().ok())
                .map(Duration::from_secs),
            docstring: None,
            table: None,
        })
    }

    /// The script a built-in check runs on the host for `args`, found without
    /// a host: the world records the script instead of running it. None for
    /// user steps and `When I run`, whose command is the user's.
    pub fn script(&self, args: &Args) -> Option<String> {
        let Action::Builtin(check) = &self.action else {
            return None;
        };
        let mut world = HostWorld::default();
        world.recording = Some(Vec::new());
        // A recording world answers at once, so this never waits.
        let _ = futures::executor::block_on(check(&mut world, args));
        let scripts = world.recording.take().unwrap_or_default();
        scripts.first().map(|s| s.script.trim_end().to_string())
    }

    /// The phrase's text with its placeholders filled by `values` (for "did
    /// you mean"), or None when the numbers differ.
    pub fn filled(&self, values: &[String]) -> Option<String> {
        if values.len() != self.placeholders.len() {
            return None;
        }
        let mut out = self.text.clone();
        for (placeholder, value) in self.placeholders.iter().zip(values) {
            let (token, shown) = match placeholder {
                Placeholder::String => ("{string}", format!("\"{value}\"")),
                Placeholder::Int => ("{int}", value.clone()),
                Placeholder::Word => ("{word}", value.clone()),
            };
            out = out.replacen(token, &shown, 1);
        }
        Some(out)
    }
}

/// `\"` → `"` and `\\` → `\` (other backslashes stay, for regexes).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('"') | Some('\\')) {
            out.push(chars.next().expect("peeked"));
        } else {
            out.push(c);
        }
    }
    out
}

/// The phrase with sample values, as an example.
fn sample(text: &str) -> String {
    let mut out = text.to_string();
    for (name, placeholder) in Placeholder::ALL {
        out = out.replace(&format!("{{{name}}}"), placeholder.sample());
    }
    out
}

fn compile(text: &str, shape: Shape) -> Result<(Regex, Vec<Placeholder>, Block), PhraseError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(PhraseError {
            message: "the step is empty".into(),
            help: "write the phrase, e.g. `the site {string} should be enabled`".into(),
        });
    }
    let (body, block) = match trimmed.strip_suffix(':') {
        Some(body) => (body, Block::DocString),
        None => (trimmed, Block::None),
    };
    let mut pattern = String::from("^");
    let mut placeholders = Vec::new();
    let mut rest = body;
    let mut negation_done = !shape.negatable;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            push_literal(&mut pattern, rest, &mut negation_done);
            break;
        };
        push_literal(&mut pattern, &rest[..open], &mut negation_done);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(PhraseError {
                message: format!("'{{' without '}}' in the step '{text}'"),
                help: "placeholders are {string}, {int} and {word}".into(),
            });
        };
        let name = &after[..close];
        let Some((_, placeholder)) = Placeholder::ALL.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = Placeholder::ALL.iter().map(|(n, _)| *n).collect();
            let best = crate::diagnostic::closest(name, names.iter().copied());
            return Err(PhraseError {
                message: match best {
                    Some(best) => {
                        format!("unknown placeholder {{{name}}}, did you mean {{{best}}}?")
                    }
                    None => format!("unknown placeholder {{{name}}}"),
                },
                help: "placeholders are {string}, {int} and {word}".into(),
            });
        };
        let (before, inside, after_group) = placeholder.pattern();
        pattern.push_str(&format!(
            "{before}(?P<v{}>{inside}){after_group}",
            placeholders.len()
        ));
        placeholders.push(*placeholder);
        rest = &after[close + 1..];
    }
    if shape.retryable {
        pattern.push_str(r"(?: within (?P<within>\d+) seconds?)?");
    }
    if block != Block::None {
        pattern.push(':');
    }
    pattern.push('$');
    let regex = Regex::new(&pattern).map_err(|e| PhraseError {
        message: format!("the step '{text}' does not compile: {e}"),
        help: "placeholders are {string}, {int} and {word}".into(),
    })?;
    Ok((regex, placeholders, block))
}

/// Literal text, with the first ` should ` also matching ` should not `.
fn push_literal(pattern: &mut String, literal: &str, negation_done: &mut bool) {
    if !*negation_done && let Some(at) = find_word(literal, "should") {
        pattern.push_str(&regex::escape(&literal[..at + "should".len()]));
        pattern.push_str("(?P<not> not)?");
        pattern.push_str(&regex::escape(&literal[at + "should".len()..]));
        *negation_done = true;
        return;
    }
    pattern.push_str(&regex::escape(literal));
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    text.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        before.is_none_or(|c| c == ' ') && after.is_none_or(|c| c == ' ')
    })
}

/// Every phrase: the built-ins, then the user's.
#[derive(Debug, Clone, Default)]
pub struct Library {
    /// The phrases, in listing order.
    pub phrases: Vec<Phrase>,
}

/// A step's text with its quoted values and numbers turned into placeholders,
/// for measuring how close it is to a phrase.
fn shape_of(text: &str) -> (String, Vec<String>) {
    static VALUE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r#""((?:[^"\\]|\\.)*)"|\b(-?\d+)\b"#).expect("valid regex")
    });
    let mut values = Vec::new();
    let shaped = VALUE.replace_all(text, |caps: &regex::Captures<'_>| {
        if let Some(string) = caps.get(1) {
            values.push(unescape(string.as_str()));
            "{string}".to_string()
        } else {
            values.push(caps[2].to_string());
            "{int}".to_string()
        }
    });
    // `should not` and `within N seconds` are variations of every phrase.
    let shaped = shaped
        .replace(" should not ", " should ")
        .replace(" within {int} seconds", "")
        .replace(" within {int} second", "");
    (shaped, values)
}

impl Library {
    /// Every phrase that matches `text`, with its arguments.
    pub fn find(&self, text: &str) -> Vec<(&Phrase, Args)> {
        self.phrases
            .iter()
            .filter_map(|p| p.parse(text).map(|args| (p, args)))
            .collect()
    }

    /// The phrases closest to an undefined step, best first, filled with the
    /// step's values where they fit.
    pub fn closest(&self, text: &str, limit: usize) -> Vec<String> {
        let (shaped, values) = shape_of(text);
        let mut scored: Vec<(f64, &Phrase)> = self
            .phrases
            .iter()
            .map(|p| {
                let phrase = p.text.trim_end_matches(':');
                let score = strsim::normalized_damerau_levenshtein(
                    &shaped.to_lowercase(),
                    &phrase.to_lowercase(),
                );
                (score, p)
            })
            .filter(|(score, _)| *score >= 0.5)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        // Only the phrases about as close as the best one.
        let best = scored.first().map_or(0.0, |(score, _)| *score);
        let mut out: Vec<String> = Vec::new();
        for (_, phrase) in scored
            .into_iter()
            .filter(|(score, _)| *score >= best - 0.15)
        {
            let shown = phrase
                .filled(&values)
                .unwrap_or_else(|| phrase.text.clone());
            let shown = format!("{} {shown}", phrase.keyword);
            if !out.contains(&shown) {
                out.push(shown);
            }
            if out.len() == limit {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            negatable: true,
            retryable: true,
        }
    }

    fn phrase(text: &str) -> Phrase {
        Phrase::new(
            "Test",
            Keyword::Then,
            text,
            shape(),
            Action::User { run: "true".into() },
        )
        .unwrap()
    }

    #[test]
    fn placeholders_capture_values() {
        let p = phrase("the file {string} should have mode {string}");
        let args = p
            .parse(r#"the file "/etc/it's \"q\"" should have mode "0644""#)
            .unwrap();
        assert_eq!(args.values, vec![r#"/etc/it's "q""#, "0644"]);
        assert!(args.should);
        assert_eq!(args.within, None);
        let args = p
            .parse(r#"the file "/x" should not have mode "0644" within 5 seconds"#)
            .unwrap();
        assert!(!args.should);
        assert_eq!(args.within, Some(Duration::from_secs(5)));
        assert!(p.parse(r#"the file "/x" should have mode 0644"#).is_none());
    }

    #[test]
    fn regex_backslashes_survive() {
        let p = phrase("the output should match {string}");
        let args = p
            .parse(r#"the output should match "^Welcome to \w+""#)
            .unwrap();
        assert_eq!(args.values, vec![r"^Welcome to \w+"]);
    }

    #[test]
    fn ints_and_words() {
        let p = phrase("port {int} should be listening on {word}");
        let args = p.parse("port 80 should be listening on eth0").unwrap();
        assert_eq!(args.values, vec!["80", "eth0"]);
        assert!(p.parse("port eighty should be listening on eth0").is_none());
    }

    #[test]
    fn a_trailing_colon_takes_a_block() {
        let p = phrase("the file {string} should contain:");
        assert_eq!(p.block, Block::DocString);
        assert!(p.parse(r#"the file "/x" should contain:"#).is_some());
        assert!(
            p.parse(r#"the file "/x" should contain within 3 seconds:"#)
                .is_some()
        );
        assert!(p.parse(r#"the file "/x" should contain"#).is_none());
    }

    #[test]
    fn unknown_placeholders_are_explained() {
        let err = Phrase::new(
            "Test",
            Keyword::Then,
            "the site {strng} should be up",
            shape(),
            Action::User { run: "true".into() },
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "unknown placeholder {strng}, did you mean {string}?"
        );
    }

    #[test]
    fn regex_characters_in_phrases_are_literal() {
        let p = phrase("the value (x) should be {int}.");
        assert!(p.parse("the value (x) should be 3.").is_some());
        assert!(p.parse("the value x should be 3!").is_none());
    }

    #[test]
    fn filled_suggestions_keep_the_values() {
        let p = phrase("the package {string} should be installed");
        assert_eq!(
            p.filled(&["nginx".into()]).unwrap(),
            r#"the package "nginx" should be installed"#
        );
    }
}
