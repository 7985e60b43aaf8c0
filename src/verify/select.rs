//! A part of a suite named by references, as `after:` on a removal names
//! what must pass first: a feature file (`features/site.feature`, or
//! `site.feature`), a scenario's name, or a `@tag` (on the feature, its rule,
//! the scenario or its examples).

use std::path::Path;

use super::Suite;

impl Suite {
    /// Whether `reference` names at least one scenario of the suite.
    pub fn names(&self, reference: &str) -> bool {
        !self.only(&[reference.to_string()]).features.is_empty()
    }

    /// The suite with only the scenarios `references` name (each feature
    /// keeps its background); features left with none are dropped.
    pub fn only(&self, references: &[String]) -> Suite {
        let mut out = self.clone();
        out.features.retain_mut(|file| {
            let feature = &mut file.feature;
            let whole = feature
                .path
                .as_deref()
                .is_some_and(|path| references.iter().any(|r| is_file(path, r)));
            if whole {
                return true;
            }
            let feature_tags = feature.tags.clone();
            feature.scenarios.retain(|s| {
                references
                    .iter()
                    .any(|r| names(r, &s.name, &tags(&feature_tags, &[], s)))
            });
            for rule in &mut feature.rules {
                let rule_tags = rule.tags.clone();
                rule.scenarios.retain(|s| {
                    references
                        .iter()
                        .any(|r| names(r, &s.name, &tags(&feature_tags, &rule_tags, s)))
                });
            }
            feature.rules.retain(|rule| !rule.scenarios.is_empty());
            !feature.scenarios.is_empty() || !feature.rules.is_empty()
        });
        out
    }
}

/// Whether `reference` is this feature file: its path from the project, or
/// from features/.
fn is_file(path: &Path, reference: &str) -> bool {
    let reference = Path::new(reference.trim_start_matches("./"));
    path == reference || path.strip_prefix("features").is_ok_and(|p| p == reference)
}

/// Every tag a scenario has, its own and those it inherits.
fn tags<'t>(
    feature: &'t [String],
    rule: &'t [String],
    scenario: &'t gherkin::Scenario,
) -> Vec<&'t str> {
    feature
        .iter()
        .chain(rule)
        .chain(&scenario.tags)
        .chain(scenario.examples.iter().flat_map(|e| &e.tags))
        .map(String::as_str)
        .collect()
}

/// Whether `reference` (a `@tag` or a scenario's name) names this scenario.
fn names(reference: &str, name: &str, tags: &[&str]) -> bool {
    match reference.strip_prefix('@') {
        Some(tag) => tags.contains(&tag),
        None => name.trim() == reference.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_a_file_a_tag_or_a_name() {
        assert!(is_file(
            Path::new("features/site.feature"),
            "features/site.feature"
        ));
        assert!(is_file(Path::new("features/site.feature"), "site.feature"));
        assert!(is_file(
            Path::new("features/site.feature"),
            "./features/site.feature"
        ));
        assert!(!is_file(
            Path::new("features/site.feature"),
            "other.feature"
        ));
        assert!(names("@new-site", "x", &["new-site", "host:web"]));
        assert!(!names("@old", "x", &["new-site"]));
        assert!(names("the new site answers", "the new site answers", &[]));
        assert!(!names("the new site", "the new site answers", &[]));
    }
}
