//! `waivers.yml`: known failures that are "waived" (shown, never hidden,
//! but not red) until a date, after which they are red again.
//!
//! ```yaml
//! - scenario: the site answers        # a scenario's name, or
//!   tag: "@flaky"                     # a tag the scenario carries
//!   hosts: [web2]                     # default: every host
//!   reason: the new certificate arrives on Monday (OPS-123)
//!   until: 2027-01-31                 # waived through this day (UTC)
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::diagnostic::{Diag, Diags, Source};
use crate::files::walk::{self, Unusable};
use crate::recipe::{Spanned, Text};

/// The waivers file, relative to the project.
pub const WAIVERS_FILE: &str = "waivers.yml";

/// One entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    scenario: Option<Text>,
    tag: Option<Text>,
    #[serde(default)]
    hosts: Vec<Text>,
    reason: Option<Text>,
    until: Option<Text>,
}

/// A known failure that is waived until a date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Waiver {
    /// The scenario's name it waives, when it names one.
    pub scenario: Option<String>,
    /// The tag (with its `@`) it waives, when it names one.
    pub tag: Option<String>,
    /// The hosts it waives on (empty: every host).
    pub hosts: Vec<String>,
    /// Why the failure is accepted.
    pub reason: String,
    /// The last day (UTC, `YYYY-MM-DD`) it holds.
    pub until: String,
    /// Where it is written: `waivers.yml:3`.
    pub place: String,
}

impl Waiver {
    /// True when it waives a failure of `scenario` (with `tags`) on `host`
    /// on `today` (`YYYY-MM-DD`).
    pub fn covers(&self, scenario: &str, tags: &[String], host: &str, today: &str) -> bool {
        self.until.as_str() >= today
            && (self.hosts.is_empty() || self.hosts.iter().any(|h| h == host))
            && self.scenario.as_ref().is_none_or(|s| s == scenario)
            && self.tag.as_ref().is_none_or(|tag| {
                let bare = tag.trim_start_matches('@');
                tags.iter().any(|t| t.trim_start_matches('@') == bare)
            })
    }
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10].to_string()
}

/// The project's waivers; none when there is no waivers.yml.
pub fn load(root: &Path) -> Result<Vec<Waiver>, Diags> {
    let path = root.join(WAIVERS_FILE);
    match walk::resolve(root, &path) {
        Ok(_) => {}
        Err(Unusable::Missing) => return Ok(Vec::new()),
        Err(Unusable::Outside(target)) => return Err(walk::outside(WAIVERS_FILE, &target).into()),
        Err(Unusable::NotAFile) => {
            return Err(Diag::plain(format!("{WAIVERS_FILE} is not a regular file")).into());
        }
    }
    let source = crate::files::read_source(&path, WAIVERS_FILE)?;
    let entries: Vec<Spanned<Entry>> = crate::config::yaml::parse(&source)?;
    let mut diags = Diags::default();
    let mut waivers = Vec::new();
    for entry in entries {
        match waiver(&source, entry) {
            Ok(waiver) => waivers.push(waiver),
            Err(diag) => diags.push(diag),
        }
    }
    diags.into_result()?;
    Ok(waivers)
}

fn waiver(source: &Source, entry: Spanned<Entry>) -> Result<Waiver, Diag> {
    let at = source.place(entry.referenced);
    let (line, _) = source.line_col(at.span.offset());
    let entry = entry.value;
    if entry.scenario.is_none() && entry.tag.is_none() {
        return Err(Diag::at(at, "a waiver needs `scenario:` or `tag:`")
            .label("this waiver")
            .help("name the scenario (`scenario: the site answers`) or a tag it carries (`tag: \"@flaky\"`)"));
    }
    let Some(reason) = entry.reason.filter(|r| !r.value.trim().is_empty()) else {
        return Err(Diag::at(at, "a waiver needs a `reason:`")
            .label("this waiver")
            .help("say why the failure is accepted, e.g. `reason: waiting for OPS-123`"));
    };
    let Some(until) = entry.until else {
        return Err(Diag::at(at, "a waiver needs an `until:` date")
            .label("this waiver")
            .help("waivers end: add `until: YYYY-MM-DD`, the last day the failure is accepted"));
    };
    let valid = until.value.len() == 10
        && humantime::parse_rfc3339(&format!("{}T00:00:00Z", until.value)).is_ok();
    if !valid {
        return Err(Diag::at(
            source.place(until.referenced),
            format!("`until: {}` is not a date", until.value),
        )
        .label("not YYYY-MM-DD")
        .help("write the last day the waiver holds as YYYY-MM-DD, e.g. `until: 2027-01-31`"));
    }
    Ok(Waiver {
        scenario: entry.scenario.map(|s| s.value),
        tag: entry.tag.map(|t| t.value),
        hosts: entry.hosts.into_iter().map(|h| h.value).collect(),
        reason: reason.value,
        until: until.value,
        place: format!("{WAIVERS_FILE}:{line}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiver(scenario: Option<&str>, tag: Option<&str>, hosts: &[&str]) -> Waiver {
        Waiver {
            scenario: scenario.map(Into::into),
            tag: tag.map(Into::into),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            reason: "known".into(),
            until: "2027-01-31".into(),
            place: "waivers.yml:1".into(),
        }
    }

    #[test]
    fn a_waiver_holds_through_its_day_and_not_after() {
        let w = waiver(Some("it answers"), None, &["web2"]);
        assert!(w.covers("it answers", &[], "web2", "2027-01-31"));
        assert!(!w.covers("it answers", &[], "web2", "2027-02-01"));
        assert!(!w.covers("it answers", &[], "web1", "2027-01-01"));
        assert!(!w.covers("other", &[], "web2", "2027-01-01"));
        let t = waiver(None, Some("@flaky"), &[]);
        assert!(t.covers("x", &["flaky".into()], "any", "2026-12-01"));
        assert!(t.covers("x", &["@flaky".into()], "any", "2026-12-01"));
        assert!(!t.covers("x", &["slow".into()], "any", "2026-12-01"));
    }

    /// The example of docs/serve.md is a waivers.yml that loads.
    #[test]
    fn the_example_of_the_docs_loads() {
        let doc = include_str!("../../docs/serve.md");
        let example = doc
            .split("```yaml waivers\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/serve.md has a ```yaml waivers example");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("waivers.yml"), example).unwrap();
        let waivers = load(dir.path()).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(waivers.len(), 2);
    }
}
