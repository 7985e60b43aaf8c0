//! Cucumber JSON of a verify run, from its results: the standard format
//! that existing report tools read. Every (scenario, host) is an element
//! tagged `@host:HOST`; every step is there, a step after a failed one (or
//! on a host that could not be reached) as `skipped`; a host that could not
//! be reached fails the element's `before` hook.

use serde::Serialize;

use crate::verify::features::host_suffix;
use crate::verify::{Outcome, Report, ScenarioResult, StepStatus, Suite};

#[derive(Serialize)]
struct Feature<'a> {
    uri: &'a str,
    id: String,
    keyword: &'a str,
    name: &'a str,
    description: &'a str,
    line: usize,
    tags: Vec<Tag>,
    elements: Vec<Element<'a>>,
}

#[derive(Serialize)]
struct Tag {
    name: String,
    line: usize,
}

#[derive(Serialize)]
struct Element<'a> {
    id: String,
    keyword: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    line: usize,
    tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    before: Vec<Hook>,
    steps: Vec<Step<'a>>,
}

#[derive(Serialize)]
struct Hook {
    result: StepOutcome,
}

#[derive(Serialize)]
struct Step<'a> {
    keyword: String,
    line: usize,
    name: &'a str,
    result: StepOutcome,
}

#[derive(Serialize)]
struct StepOutcome {
    status: &'static str,
    /// Nanoseconds.
    duration: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
}

/// The Cucumber JSON document.
pub fn verify(suite: &Suite, report: &Report) -> String {
    let mut features = Vec::new();
    for file in &suite.features {
        let uri = file.source.name.as_str();
        let scenarios: Vec<&ScenarioResult> =
            report.scenarios.iter().filter(|s| s.file == uri).collect();
        if scenarios.is_empty() {
            continue;
        }
        let feature = &file.feature;
        let id = slug(&feature.name);
        features.push(Feature {
            uri,
            keyword: &feature.keyword,
            name: &feature.name,
            description: feature.description.as_deref().unwrap_or_default(),
            line: feature.position.line,
            tags: tags(&feature.tags, feature.position.line),
            elements: scenarios.into_iter().map(|s| element(&id, s)).collect(),
            id,
        });
    }
    serde_json::to_string_pretty(&features).expect("reports serialize") + "\n"
}

fn element<'a>(feature_id: &str, scenario: &'a ScenarioResult) -> Element<'a> {
    let name = format!("{}{}", scenario.scenario, host_suffix(&scenario.host));
    let message = scenario.failure.as_ref().map(|f| f.message.clone());
    let before = if scenario.status == Outcome::Unreachable
        && scenario
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Skipped)
    {
        vec![Hook {
            result: StepOutcome {
                status: "failed",
                duration: 0,
                error_message: message.clone(),
            },
        }]
    } else {
        Vec::new()
    };
    let steps = scenario
        .steps
        .iter()
        .map(|step| Step {
            keyword: format!("{} ", step.keyword),
            line: step.line,
            name: &step.text,
            result: StepOutcome {
                status: match step.status {
                    StepStatus::Passed => "passed",
                    StepStatus::Failed => "failed",
                    StepStatus::Skipped => "skipped",
                },
                duration: (step.seconds * 1e9) as u64,
                error_message: (step.status == StepStatus::Failed)
                    .then(|| message.clone())
                    .flatten(),
            },
        })
        .collect();
    Element {
        id: format!("{feature_id};{}", slug(&name)),
        keyword: &scenario.keyword,
        kind: "scenario",
        line: scenario.line,
        tags: tags(&scenario.tags, scenario.line),
        name,
        before,
        steps,
    }
}

fn tags(tags: &[String], line: usize) -> Vec<Tag> {
    tags.iter()
        .map(|t| Tag {
            name: format!("@{t}"),
            line,
        })
        .collect()
}

/// `the site (on web1)` → `the-site-on-web1`: an element id as Cucumber
/// writes them.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_lowercase_words_joined_by_dashes() {
        assert_eq!(super::slug("The site (on web1)"), "the-site-on-web1");
        assert_eq!(super::slug("  a -- b "), "a-b");
    }
}
