//! `features/steps.yml`: steps users add without Rust.
//!
//! ```yaml
//! - step: the site {string} should be enabled
//!   run: test -L /etc/nginx/sites-enabled/{1}
//! ```
//!
//! `{string}`, `{int}` and `{word}` in the phrase become `{1}`, `{2}`… in the
//! command, each substituted as one quoted shell word. The command runs as
//! root; the step passes when it exits 0. A user step may end with
//! `within N seconds` like any check.

use std::path::Path;

use serde::Deserialize;

use super::features::FEATURES_DIR;
use super::library::{Action, Keyword, Library, Phrase, Shape};
use super::steps::custom::references;
use crate::config::yaml;
use crate::diagnostic::{Diag, Diags, Source};
use crate::files::walk::{self, Unusable};
use crate::recipe::{Spanned, Text};

/// The file of user steps, relative to the project.
pub const STEPS_FILE: &str = "features/steps.yml";

/// The family user steps are listed under.
pub const FAMILY: &str = "User steps (features/steps.yml)";

/// One entry of steps.yml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// The phrase.
    step: Text,
    /// The shell command.
    run: Text,
}

/// Add the user steps of the project at `root` to `library`, collecting
/// every problem. A missing file means no user steps.
pub fn load(root: &Path, library: &mut Library) -> Diags {
    let mut diags = Diags::default();
    let path = root.join(FEATURES_DIR).join("steps.yml");
    match walk::resolve(root, &path) {
        Ok(_) => {}
        Err(Unusable::Missing) => return diags,
        Err(Unusable::Outside(target)) => return walk::outside(STEPS_FILE, &target).into(),
        Err(Unusable::NotAFile) => {
            return Diag::plain(format!("{STEPS_FILE} is not a regular file")).into();
        }
    }
    let source = match crate::files::read_source(&path, STEPS_FILE) {
        Ok(source) => source,
        Err(diag) => return diag.into(),
    };
    let only_comments = source
        .text
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---");
    if only_comments {
        return diags;
    }
    let entries: Vec<Spanned<Entry>> = match yaml::parse(&source) {
        Ok(entries) => entries,
        Err(diag) => return diag.into(),
    };
    let builtin_count = library.phrases.len();
    for entry in entries {
        match phrase(&source, &entry.value) {
            Ok(phrase) => {
                if let Some(diag) = clash(&source, &entry.value, &phrase, library, builtin_count) {
                    diags.push(diag);
                } else {
                    library.phrases.push(phrase);
                }
            }
            Err(diag) => diags.push(diag),
        }
    }
    diags
}

fn phrase(source: &Source, entry: &Entry) -> Result<Phrase, Diag> {
    let place = source.place(entry.step.referenced);
    let shape = Shape {
        negatable: false,
        retryable: true,
    };
    let action = Action::User {
        run: entry.run.value.clone(),
    };
    let phrase = Phrase::new(FAMILY, Keyword::Then, &entry.step.value, shape, action)
        .map_err(|e| {
            Diag::at(place.clone(), e.message)
                .label("in this step")
                .help(e.help)
        })?
        .defined_at(place);
    let count = phrase.placeholders.len();
    if let Some(bad) = references(&entry.run.value)
        .into_iter()
        .find(|n| *n == 0 || *n > count)
    {
        let has = match count {
            0 => "has no values".to_string(),
            1 => "has 1 value, {1}".to_string(),
            n => format!("has {n} values, {{1}} to {{{n}}}"),
        };
        return Err(Diag::at(
            source.place(entry.run.referenced),
            format!("the command uses {{{bad}}}, but the step {has}"),
        )
        .label("no such value")
        .help("{1} is the step's first {string}, {int} or {word}, {2} the second, and so on"));
    }
    if entry.run.value.trim().is_empty() {
        return Err(
            Diag::at(source.place(entry.run.referenced), "the command is empty")
                .label("empty")
                .help("write the shell command that checks the step; it passes when it exits 0"),
        );
    }
    Ok(phrase)
}

/// A user step that would make steps ambiguous: it matches the example of a
/// phrase already known (or one matches its example).
fn clash(
    source: &Source,
    entry: &Entry,
    phrase: &Phrase,
    library: &Library,
    builtin_count: usize,
) -> Option<Diag> {
    let other = library.phrases.iter().enumerate().find(|(_, other)| {
        other.parse(&phrase.example).is_some() || phrase.parse(&other.example).is_some()
    })?;
    let (index, other) = other;
    let place = source.place(entry.step.referenced);
    let mut diag = Diag::at(
        place,
        format!(
            "the step '{}' overlaps the {} step '{}'",
            phrase.text,
            if index < builtin_count {
                "built-in"
            } else {
                "user"
            },
            other.text
        ),
    )
    .label("overlaps another step")
    .help("a step must match only one phrase; reword this one (`redgreen steps` lists them all)");
    if let Some(defined) = &other.defined {
        diag =
            diag.related(Diag::at(defined.clone(), "the other step is defined here").label("here"));
    }
    Some(diag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> (Library, Diags) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("features")).unwrap();
        std::fs::write(dir.path().join("features/steps.yml"), text).unwrap();
        let mut library = Library::builtin();
        let diags = load(dir.path(), &mut library);
        (library, diags)
    }

    #[test]
    fn user_steps_join_the_library() {
        let (library, diags) = load_text(
            "- step: the site {string} should be enabled\n  run: test -L /etc/nginx/sites-enabled/{1}\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let found = library.find("the site \"default\" should be enabled");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1.values, vec!["default"]);
        assert_eq!(
            found[0].0.defined.as_ref().unwrap().position(),
            "features/steps.yml:1:9"
        );
    }

    #[test]
    fn mistakes_in_steps_yml_say_where() {
        let (_, diags) = load_text(
            "- step: the site {strng} should be enabled\n  run: \"true\"\n\
             - step: the port {int} is open\n  run: nc -z localhost {2}\n\
             - step: the file {string} should exist\n  run: test -f {1}\n\
             - step: x\n  rnu: y\n",
        );
        let messages: Vec<String> = diags.0.iter().map(|d| d.one_line()).collect();
        assert_eq!(
            messages,
            vec!["features/steps.yml:8:3: unknown field 'rnu', did you mean 'run'?".to_string(),],
            "a YAML error stops the file"
        );
        let (_, diags) = load_text(
            "- step: the site {strng} should be enabled\n  run: \"true\"\n\
             - step: the port {int} is open\n  run: nc -z localhost {2}\n\
             - step: the file {string} should exist\n  run: test -f {1}\n",
        );
        let messages: Vec<String> = diags.0.iter().map(|d| d.one_line()).collect();
        assert_eq!(
            messages,
            vec![
                "features/steps.yml:1:9: unknown placeholder {strng}, did you mean {string}?",
                "features/steps.yml:4:8: the command uses {2}, but the step has 1 value, {1}",
                "features/steps.yml:5:9: the step 'the file {string} should exist' overlaps the built-in step 'the file {string} should exist'",
            ]
        );
    }
}
