//! Parsing YAML into typed models, with errors that point at the spot.

use std::sync::LazyLock;

use regex::Regex;
use serde::de::DeserializeOwned;
use serde_saphyr::{MessageFormatter, UserMessageFormatter};

use crate::diagnostic::{Diag, Place, Source, closest};

/// Parse a YAML source into `T`, turning the first error into a diagnostic.
pub fn parse<T: DeserializeOwned>(source: &Source) -> Result<T, Diag> {
    if source.text.trim().is_empty() || only_comments(&source.text) {
        return Err(Diag::at(
            Place::new(source, 0, 0),
            format!("{} is empty", source.name),
        )
        .label("expected a YAML mapping here")
        .help("see `redgreen init` for a working example of each file"));
    }
    serde_saphyr::from_str::<T>(&source.text).map_err(|err| to_diag(source, &err))
}

fn only_comments(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---")
}

/// Convert a serde-saphyr error into a diagnostic, improving the wording of the
/// common mistakes (unknown names get a suggestion).
pub fn to_diag(source: &Source, err: &serde_saphyr::Error) -> Diag {
    let raw = UserMessageFormatter.format_message(err).into_owned();
    let place = err.location().map(|loc| source.place(loc));
    let (message, label, help) = reword(&raw);
    let mut diag = Diag::plain(message).label(label);
    diag.place = Some(Box::new(place.unwrap_or_else(|| Place::new(source, 0, 0))));
    if let Some(help) = help {
        diag = diag.help(help);
    }
    diag
}

static UNKNOWN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^unknown (field|variant) `([^`]*)`, (?:expected (?:one of )?(.*)|there are no (?:fields|variants))$")
        .expect("valid regex")
});
static MISSING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^missing field `([^`]*)`$").expect("valid regex"));

/// Returns (message, label, help).
fn reword(raw: &str) -> (String, String, Option<String>) {
    if let Some(caps) = UNKNOWN.captures(raw) {
        let what = if &caps[1] == "field" {
            "field"
        } else {
            "value"
        };
        let word = &caps[2];
        let expected: Vec<String> = caps
            .get(3)
            .map(|m| {
                m.as_str()
                    .split(", ")
                    .flat_map(|s| s.split(" or "))
                    .map(|s| s.trim_matches('`').trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let best = closest(word, expected.iter().map(String::as_str));
        let message = match best {
            Some(best) => format!("unknown {what} '{word}', did you mean '{best}'?"),
            None => format!("unknown {what} '{word}'"),
        };
        let help = if expected.is_empty() {
            format!("no {what}s are allowed here")
        } else {
            format!("expected one of: {}", expected.join(", "))
        };
        return (message, format!("unknown {what}"), Some(help));
    }
    if let Some(caps) = MISSING.captures(raw) {
        return (
            format!("missing field '{}'", &caps[1]),
            format!("add '{}' here", &caps[1]),
            None,
        );
    }
    (raw.to_string(), "here".to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        owner: Option<String>,
        state: Option<SampleState>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum SampleState {
        Present,
        Absent,
    }

    #[test]
    fn unknown_field_suggests_the_closest() {
        let source = Source::new("x.yml", "owner: root\nonwer: root\n");
        let diag = parse::<Sample>(&source).unwrap_err();
        assert_eq!(diag.message, "unknown field 'onwer', did you mean 'owner'?");
        assert_eq!(diag.place.unwrap().position(), "x.yml:2:1");
    }

    #[test]
    fn unknown_variant_suggests_the_closest() {
        let source = Source::new("x.yml", "state: presnt\n");
        let diag = parse::<Sample>(&source).unwrap_err();
        assert_eq!(
            diag.message,
            "unknown value 'presnt', did you mean 'present'?"
        );
    }

    #[test]
    fn empty_file_is_an_error() {
        let source = Source::new("x.yml", "# nothing\n");
        let diag = parse::<Sample>(&source).unwrap_err();
        assert_eq!(diag.message, "x.yml is empty");
    }
}
