//! Feature files: loading them, checking every step against the library
//! before any host is touched, and expanding every scenario once per host it
//! selects.

use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use cucumber::feature::Ext as _;
use cucumber::tag::Ext as _;
use gherkin::tagexpr::TagOperation;
use regex::Regex;

use super::library::{Block, Library};
use crate::diagnostic::{Diag, Diags, Place, Source};
use crate::files::read_source;

/// The directory of features in a project.
pub const FEATURES_DIR: &str = "features";

/// A parsed feature file.
#[derive(Debug, Clone)]
pub struct FeatureFile {
    /// The file's text, for error messages.
    pub source: Source,
    /// The parsed feature; its `path` is the name shown (relative to the project).
    pub feature: gherkin::Feature,
}

/// The feature files to run: every `*.feature` under `features/`, or under
/// the given files and directories (relative to the project directory).
pub fn find(root: &Path, selection: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, Diags> {
    let mut diags = Diags::default();
    let mut found = Vec::new();
    let wanted: Vec<PathBuf> = if selection.is_empty() {
        vec![PathBuf::from(FEATURES_DIR)]
    } else {
        selection.to_vec()
    };
    for path in wanted {
        // A folder named outside the project on the command line (absolute,
        // or with ..) is its own boundary; links never lead out of it.
        let named_outside = path
            .components()
            .any(|c| matches!(c, Component::RootDir | Component::ParentDir));
        // Relative paths are the project's, wherever redgreen runs (-C).
        let path = root.join(path);
        if path.is_dir() {
            let boundary = if named_outside { path.as_path() } else { root };
            let shown = path
                .strip_prefix(root)
                .map_or_else(|_| path.display().to_string(), |p| p.display().to_string());
            let (files, problems) = crate::files::walk::files_or_problems(boundary, &path, &shown);
            diags.0.extend(problems);
            found.extend(
                files
                    .into_iter()
                    .filter(|file| file.extension().is_some_and(|e| e == "feature")),
            );
        } else if path.is_file() {
            found.push(path);
        } else if !selection.is_empty() {
            diags.push(
                Diag::plain(format!("no feature file or directory {}", path.display())).help(
                    "name .feature files or directories of them, relative to the project directory",
                ),
            );
        }
    }
    diags.into_result()?;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut out: Vec<(PathBuf, String)> = found
        .into_iter()
        .map(|path| {
            let full = path.canonicalize().unwrap_or(path);
            let shown = full
                .strip_prefix(&root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| full.to_string_lossy().into_owned());
            (full, shown)
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Parse feature files, collecting every problem.
pub fn load(files: &[(PathBuf, String)]) -> (Vec<FeatureFile>, Diags) {
    let mut diags = Diags::default();
    let mut out = Vec::new();
    for (path, shown) in files {
        let source = match read_source(path, shown) {
            Ok(source) => source,
            Err(diag) => {
                diags.push(diag);
                continue;
            }
        };
        match parse(&source) {
            Ok(feature) => out.push(FeatureFile { source, feature }),
            Err(diag) => diags.push(diag),
        }
    }
    (out, diags)
}

/// Parse one feature file.
pub fn parse(source: &Source) -> Result<gherkin::Feature, Diag> {
    static POSITION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^Error at (\d+):(\d+): (.*)$").expect("valid regex"));
    let blank = source
        .text
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#'));
    if blank {
        return Err(Diag::at(
            Place::new(source, 0, 0),
            format!("{} is empty", source.name),
        )
        .label("expected `Feature:` here")
        .help(GHERKIN_HELP));
    }
    match gherkin::Feature::parse(source.text.as_str(), gherkin::GherkinEnv::default()) {
        Ok(mut feature) => {
            feature.path = Some(PathBuf::from(&source.name));
            Ok(feature)
        }
        Err(err) => {
            let text = err.to_string();
            let (offset, expected) = match POSITION.captures(&text) {
                Some(caps) => (
                    source.offset_of(caps[1].parse().unwrap_or(1), caps[2].parse().unwrap_or(1)),
                    caps[3].to_string(),
                ),
                None => (0, text.clone()),
            };
            if expected.contains("inconsistent table row sizes") {
                return Err(Diag::at(
                    Place::new(source, offset, 1),
                    format!(
                        "{} is not valid Gherkin: a table row has another number of cells than the first row",
                        source.name
                    ),
                )
                .label("here")
                .help(GHERKIN_HELP));
            }
            // The parser stops after the line it cannot read: point at the
            // first word of that line.
            let (line_start, line) = culprit(source, offset);
            let indent = line.len() - line.trim_start().len();
            let word = line.split_whitespace().next().unwrap_or("");
            let place = Place::new(source, line_start + indent, word.len().max(1));
            let message = match crate::diagnostic::closest(word, KEYWORDS) {
                Some(best) if expected.contains("unknown keyword") && !KEYWORDS.contains(&word) => {
                    format!(
                        "{} is not valid Gherkin: '{word}' is not a keyword, did you mean '{best}'?",
                        source.name
                    )
                }
                _ if expected.contains("unknown keyword") => format!(
                    "{} is not valid Gherkin: this line does not start with a keyword",
                    source.name
                ),
                _ => format!("{} is not valid Gherkin", source.name),
            };
            Err(Diag::at(place, message).label("here").help(GHERKIN_HELP))
        }
    }
}

/// The last line at or before `offset` that is not blank and does not start
/// with Gherkin (keyword, table, DocString, tag, comment), with its offset; or
/// the line at `offset` when the lines before it are all Gherkin.
fn culprit(source: &Source, offset: usize) -> (usize, &str) {
    const STARTS: [&str; 15] = [
        "Feature:",
        "Rule:",
        "Background:",
        "Scenario",
        "Example",
        "Given ",
        "When ",
        "Then ",
        "And ",
        "But ",
        "* ",
        "|",
        "\"\"\"",
        "#",
        "@",
    ];
    let text = source.text.as_str();
    let at_line = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let mut start = at_line;
    loop {
        let line = text[start..].lines().next().unwrap_or("");
        let trimmed = line.trim();
        if !trimmed.is_empty() {
            if STARTS.iter().any(|s| trimmed.starts_with(s)) {
                break;
            }
            return (start, line);
        }
        if start == 0 {
            break;
        }
        start = text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
    }
    (at_line, text[at_line..].lines().next().unwrap_or(""))
}

const GHERKIN_HELP: &str = "a feature file starts with `Feature:` and holds scenarios (`Scenario:`, `Scenario Outline:` with `Examples:`, `Background:`, `Rule:`) of steps that start with Given, When, Then, And or But";

/// The step keywords, for spotting misspelt ones.
const KEYWORDS: [&str; 5] = ["Given", "When", "Then", "And", "But"];

/// Lines that gherkin took as a description but look like misspelt steps
/// (`Thne it works`), and scenarios without steps.
fn check_descriptions(file: &FeatureFile, diags: &mut Diags) {
    let feature = &file.feature;
    let mut blocks: Vec<(&str, &str, &Option<String>, usize, usize)> = Vec::new();
    let scenarios = feature
        .scenarios
        .iter()
        .chain(feature.rules.iter().flat_map(|r| r.scenarios.iter()));
    for scenario in scenarios {
        blocks.push((
            "scenario",
            &scenario.name,
            &scenario.description,
            scenario.steps.len(),
            scenario.span.start,
        ));
    }
    let backgrounds = feature
        .background
        .iter()
        .chain(feature.rules.iter().filter_map(|r| r.background.as_ref()));
    for background in backgrounds {
        blocks.push((
            "background",
            &background.name,
            &background.description,
            background.steps.len(),
            background.span.start,
        ));
    }
    for (what, name, description, steps, start) in blocks {
        let mut misspelt = false;
        for line in description.iter().flat_map(|d| d.lines()) {
            let word = line.split_whitespace().next().unwrap_or("");
            if word.is_empty() || KEYWORDS.contains(&word) {
                continue;
            }
            let Some(best) = crate::diagnostic::closest(word, KEYWORDS) else {
                continue;
            };
            misspelt = true;
            let offset = file.source.text[start..]
                .find(line.trim())
                .map_or(start, |at| start + at);
            diags.push(
                Diag::at(
                    Place::new(&file.source, offset, word.len()),
                    format!("'{word}' is not a step keyword, did you mean '{best}'?"),
                )
                .label("read as a description, not a step")
                .help("steps start with Given, When, Then, And or But; other lines under a scenario are its description"),
            );
        }
        if steps == 0 && !misspelt {
            diags.push(
                Diag::at(
                    Place::new(&file.source, start, 0),
                    format!("the {what} '{name}' has no steps"),
                )
                .label("no steps below")
                .help("steps start with Given, When, Then, And or But"),
            );
        }
    }
}

/// The names that `@host:` and `@group:` tags may use.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Hosts, test hosts (`HOST-PLATFORM`) and test host entries (`HOST`).
    pub hosts: Vec<String>,
    /// Groups.
    pub groups: Vec<String>,
}

/// Check every step of every feature against the library, and every host
/// tag against the inventory (`names`; None when redgreen.yml could not be
/// read, and tags are not checked).
pub fn validate(files: &[FeatureFile], library: &Library, names: Option<&Names>) -> Diags {
    let mut diags = Diags::default();
    for file in files {
        if let Some(names) = names {
            check_tags(file, names, &mut diags);
        }
        check_descriptions(file, &mut diags);
        let feature = match file.feature.clone().expand_examples() {
            Ok(feature) => feature,
            Err(err) => {
                let offset = file.source.offset_of(err.pos.line, err.pos.col);
                diags.push(
                    Diag::at(
                        Place::new(&file.source, offset, err.name.len() + 2),
                        format!("<{}> is not a column of the Examples", err.name),
                    )
                    .label("no such column")
                    .help(
                        "every <name> in a Scenario Outline must be a column of its Examples table",
                    ),
                );
                continue;
            }
        };
        let mut seen: Vec<usize> = Vec::new();
        for step in steps_of(&feature) {
            if seen.contains(&step.span.start) {
                continue; // one report per step of an outline
            }
            if let Some(diag) = check_step(file, library, step) {
                seen.push(step.span.start);
                diags.push(diag);
            }
        }
    }
    diags
}

/// Every step of a feature: backgrounds and scenarios, in rules too.
pub fn steps_of(feature: &gherkin::Feature) -> Vec<&gherkin::Step> {
    let mut out: Vec<&gherkin::Step> = Vec::new();
    out.extend(feature.background.iter().flat_map(|b| b.steps.iter()));
    out.extend(feature.scenarios.iter().flat_map(|s| s.steps.iter()));
    for rule in &feature.rules {
        out.extend(rule.background.iter().flat_map(|b| b.steps.iter()));
        out.extend(rule.scenarios.iter().flat_map(|s| s.steps.iter()));
    }
    out
}

/// The place of a step: its line from the keyword to the end of the text.
fn step_place(file: &FeatureFile, step: &gherkin::Step) -> Place {
    let (line, col) = (step.position.line, step.position.col);
    let offset = file.source.offset_of(line, col);
    let len = format!("{}{}", step.keyword, step.value).trim_end().len();
    Place::new(
        &file.source,
        offset,
        len.min(file.source.text.len() - offset),
    )
}

fn check_step(file: &FeatureFile, library: &Library, step: &gherkin::Step) -> Option<Diag> {
    let place = step_place(file, step);
    let shown = format!("{}{}", step.keyword, step.value);
    let found = library.find(&step.value);
    match found.as_slice() {
        [] => {
            let closest = library.closest(&step.value, 3);
            let message = match closest.first() {
                Some(best) => format!("undefined step '{}', did you mean '{best}'?", shown.trim()),
                None => format!("undefined step '{}'", shown.trim()),
            };
            let mut help = String::new();
            if closest.len() > 1 {
                help.push_str("close steps:\n");
                for phrase in &closest {
                    help.push_str(&format!("  {phrase}\n"));
                }
            }
            help.push_str(
                "`redgreen steps` lists every step; define your own in features/steps.yml",
            );
            Some(
                Diag::at(place, message)
                    .label("no step matches this")
                    .help(help),
            )
        }
        [(phrase, args)] => {
            if phrase.block == Block::DocString && step.docstring.is_none() {
                return Some(
                    Diag::at(place, "this step needs a DocString below it")
                        .label("no DocString")
                        .help("put the text between two lines of \"\"\" under the step"),
                );
            }
            if phrase.block == Block::Table && step.table.is_none() {
                return Some(
                    Diag::at(place, "this step needs a DataTable below it")
                        .label("no DataTable")
                        .help("put one row per item under the step: | nginx-light |"),
                );
            }
            let check = phrase.check_args?;
            let problem = check(&args.values).err()?;
            Some(Diag::at(place, problem).label("in this step"))
        }
        several => {
            let mut diag = Diag::at(
                place,
                format!(
                    "ambiguous step '{}': it matches {} steps",
                    shown.trim(),
                    several.len()
                ),
            )
            .label("matches several steps");
            let mut help = String::from("it matches:\n");
            for (phrase, _) in several {
                match &phrase.defined {
                    Some(defined) => {
                        help.push_str(&format!("  {} (at {})\n", phrase.text, defined.position()));
                        diag = diag.related(
                            Diag::at(defined.clone(), "one of the matching steps is defined here")
                                .label("matches too"),
                        );
                    }
                    None => help.push_str(&format!("  {} (built-in)\n", phrase.text)),
                }
            }
            help.push_str("reword the user step in features/steps.yml so that only one matches");
            Some(diag.help(help))
        }
    }
}

/// Check `@host:` and `@group:` tags against the inventory.
fn check_tags(file: &FeatureFile, names: &Names, diags: &mut Diags) {
    let feature = &file.feature;
    let mut tags: Vec<&String> = feature.tags.iter().collect();
    let scenarios = feature
        .scenarios
        .iter()
        .chain(feature.rules.iter().flat_map(|r| r.scenarios.iter()));
    for rule in &feature.rules {
        tags.extend(&rule.tags);
    }
    for scenario in scenarios {
        tags.extend(&scenario.tags);
        for examples in &scenario.examples {
            tags.extend(&examples.tags);
        }
    }
    let mut reported: Vec<&String> = Vec::new();
    for tag in tags {
        let (what, name, known) = if let Some(name) = tag.strip_prefix("host:") {
            ("host", name, &names.hosts)
        } else if let Some(name) = tag.strip_prefix("group:") {
            ("group", name, &names.groups)
        } else {
            continue;
        };
        if known.iter().any(|k| k == name) || reported.contains(&tag) {
            continue;
        }
        reported.push(tag);
        let offset = file.source.text.find(&format!("@{tag}")).unwrap_or(0);
        let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
        let (best, list) = crate::diagnostic::suggestion(name, &candidates);
        let message = match best {
            Some(best) => format!("unknown {what} '{name}', did you mean '{best}'?"),
            None => format!("unknown {what} '{name}'"),
        };
        let help = if candidates.is_empty() {
            format!("redgreen.yml declares no {what}s")
        } else {
            list
        };
        diags.push(
            Diag::at(Place::new(&file.source, offset, tag.len() + 1), message)
                .label(format!("unknown {what}"))
                .help(help),
        );
    }
}

/// A host a scenario may run on.
#[derive(Debug, Clone)]
pub struct HostTags {
    /// The host's name.
    pub name: String,
    /// The names `@host:` tags may use for it.
    pub aliases: Vec<String>,
    /// Its groups.
    pub groups: Vec<String>,
}

/// The tag that marks a scenario's copy for one host.
pub fn host_tag(host: &str) -> String {
    format!("host:{host}")
}

/// The suffix of a scenario's name in its copy for one host.
pub fn host_suffix(host: &str) -> String {
    format!(" (on {host})")
}

/// Which hosts these tags select: those named by `@host:` and those in a
/// group named by `@group:`; all of them when there is no such tag.
fn select<'h>(tags: &[&String], hosts: &'h [HostTags]) -> Vec<&'h HostTags> {
    let named: Vec<&str> = tags
        .iter()
        .filter_map(|t| t.strip_prefix("host:"))
        .collect();
    let groups: Vec<&str> = tags
        .iter()
        .filter_map(|t| t.strip_prefix("group:"))
        .collect();
    if named.is_empty() && groups.is_empty() {
        return hosts.iter().collect();
    }
    hosts
        .iter()
        .filter(|h| {
            h.aliases.iter().any(|a| named.contains(&a.as_str()))
                || h.groups.iter().any(|g| groups.contains(&g.as_str()))
        })
        .collect()
}

/// The feature with every scenario replaced by one copy per host it selects
/// (and that passes the tag filter), in host order, and outlines expanded
/// into one scenario per example; None when no scenario is left. A copy is
/// named `NAME (on HOST)` and its first tag is `@host:HOST`.
pub fn expand(
    feature: &gherkin::Feature,
    hosts: &[HostTags],
    filter: Option<&TagOperation>,
) -> Option<gherkin::Feature> {
    let mut out = feature.clone();
    out.scenarios = expand_scenarios(&feature.scenarios, &feature.tags, &[], hosts, filter);
    out.rules = feature
        .rules
        .iter()
        .filter_map(|rule| {
            let mut rule = rule.clone();
            rule.scenarios =
                expand_scenarios(&rule.scenarios, &feature.tags, &rule.tags, hosts, filter);
            (!rule.scenarios.is_empty()).then_some(rule)
        })
        .collect();
    if out.scenarios.is_empty() && out.rules.is_empty() {
        return None;
    }
    // Validation has expanded every outline already, so this succeeds.
    Some(out.clone().expand_examples().unwrap_or(out))
}

fn expand_scenarios(
    scenarios: &[gherkin::Scenario],
    feature_tags: &[String],
    rule_tags: &[String],
    hosts: &[HostTags],
    filter: Option<&TagOperation>,
) -> Vec<gherkin::Scenario> {
    let mut out = Vec::new();
    for scenario in scenarios {
        let base: Vec<&String> = feature_tags
            .iter()
            .chain(rule_tags)
            .chain(&scenario.tags)
            .collect();
        let passes = |tags: &[&String], host: &str| {
            let tag = host_tag(host);
            filter.is_none_or(|f| f.eval(tags.iter().map(|t| t.as_str()).chain([tag.as_str()])))
        };
        for host in hosts {
            let examples: Vec<gherkin::Examples> = scenario
                .examples
                .iter()
                .filter(|examples| {
                    let tags: Vec<&String> = base.iter().copied().chain(&examples.tags).collect();
                    select(&tags, hosts).iter().any(|h| h.name == host.name)
                        && passes(&tags, &host.name)
                })
                .cloned()
                .collect();
            let selected = if scenario.examples.is_empty() {
                select(&base, hosts).iter().any(|h| h.name == host.name)
                    && passes(&base, &host.name)
            } else {
                !examples.is_empty()
            };
            if !selected {
                continue;
            }
            let mut copy = scenario.clone();
            copy.name = format!("{}{}", scenario.name, host_suffix(&host.name));
            let tag = host_tag(&host.name);
            copy.tags = std::iter::once(tag.clone())
                .chain(scenario.tags.iter().filter(|t| **t != tag).cloned())
                .collect();
            copy.examples = examples;
            out.push(copy);
        }
    }
    out
}

/// The steps a scenario runs: its feature's background's, its rule's
/// background's, then its own.
pub fn steps_run<'f>(
    feature: &'f gherkin::Feature,
    rule: Option<&'f gherkin::Rule>,
    scenario: &'f gherkin::Scenario,
) -> Vec<&'f gherkin::Step> {
    feature
        .background
        .iter()
        .chain(rule.and_then(|r| r.background.as_ref()))
        .flat_map(|b| &b.steps)
        .chain(&scenario.steps)
        .collect()
}

/// The host of a scenario's copy (its first `@host:` tag).
pub fn host_of(scenario: &gherkin::Scenario) -> Option<&str> {
    scenario.tags.iter().find_map(|t| t.strip_prefix("host:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FeatureFile {
        let source = Source::new("features/web.feature", text);
        let feature = parse(&source).unwrap();
        FeatureFile { source, feature }
    }

    fn hosts() -> Vec<HostTags> {
        let host = |name: &str, groups: &[&str]| HostTags {
            name: name.into(),
            aliases: vec![name.into()],
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        vec![
            host("web1", &["web"]),
            host("web2", &["web"]),
            host("db1", &["db"]),
        ]
    }

    fn names(feature: &gherkin::Feature) -> Vec<String> {
        feature
            .scenarios
            .iter()
            .chain(feature.rules.iter().flat_map(|r| r.scenarios.iter()))
            .map(|s| s.name.clone())
            .collect()
    }

    const WEB: &str = "@group:web
Feature: Web

  Scenario: served
    Then port 80 should be listening

  @host:db1 @slow
  Scenario: also on db1
    Then port 80 should be listening

Rule: ports
  @smoke
  Scenario: ssh
    Then port 22 should be listening
";

    #[test]
    fn scenarios_expand_once_per_selected_host() {
        let feature = file(WEB).feature;
        let expanded = expand(&feature, &hosts(), None).unwrap();
        assert_eq!(
            names(&expanded),
            vec![
                "served (on web1)",
                "served (on web2)",
                "also on db1 (on web1)",
                "also on db1 (on web2)",
                "also on db1 (on db1)",
                "ssh (on web1)",
                "ssh (on web2)",
            ]
        );
        assert_eq!(host_of(&expanded.scenarios[4]), Some("db1"));
        assert_eq!(expanded.scenarios[4].tags, vec!["host:db1", "slow"]);
    }

    #[test]
    fn tag_filters_apply_per_host() {
        let feature = file(WEB).feature;
        let filter: TagOperation = "@smoke or (@slow and not @host:web2)".parse().unwrap();
        let expanded = expand(&feature, &hosts(), Some(&filter)).unwrap();
        assert_eq!(
            names(&expanded),
            vec![
                "also on db1 (on web1)",
                "also on db1 (on db1)",
                "ssh (on web1)",
                "ssh (on web2)",
            ]
        );
        let nothing: TagOperation = "@nothing".parse().unwrap();
        assert!(expand(&feature, &hosts(), Some(&nothing)).is_none());
    }

    #[test]
    fn examples_select_hosts_too() {
        let feature = file(
            "Feature: Packages
  Scenario Outline: <name> is installed
    Then the package \"<name>\" should be installed

    @host:web1
    Examples:
      | name  |
      | nginx |

    Examples:
      | name |
      | curl |
",
        )
        .feature;
        let expanded = expand(&feature, &hosts(), None).unwrap();
        assert_eq!(
            names(&expanded),
            vec![
                "nginx is installed (on web1)",
                "curl is installed (on web1)",
                "curl is installed (on web2)",
                "curl is installed (on db1)",
            ]
        );
        assert_eq!(
            expanded.scenarios[0].steps[0].value,
            "the package \"nginx\" should be installed"
        );
    }

    #[test]
    fn undefined_steps_name_their_place_and_the_closest_phrase() {
        let f = file(
            "Feature: Web\n  Scenario: typo\n    Given the pakage \"nginx\" should be installed\n",
        );
        let diags = validate(&[f], &Library::builtin(), Some(&Names::default()));
        assert_eq!(diags.0.len(), 1);
        let diag = &diags.0[0];
        assert_eq!(
            diag.message,
            "undefined step 'Given the pakage \"nginx\" should be installed', did you mean 'Then the package \"nginx\" should be installed'?"
        );
        assert_eq!(
            diag.place.as_ref().unwrap().position(),
            "features/web.feature:3:5"
        );
    }

    #[test]
    fn blocks_arguments_and_tags_are_checked() {
        let f = file(
            "@host:wbe1
Feature: Web
  Scenario: checks
    Then the file \"/etc/motd\" should contain:
    And the file \"/etc/motd\" should have mode \"rw\"
    And the following packages should be installed:
      | curl |
    And the output should match \"(\"
",
        );
        let names = Names {
            hosts: vec!["web1".into()],
            groups: vec![],
        };
        let diags = validate(&[f], &Library::builtin(), Some(&names));
        let messages: Vec<String> = diags.0.iter().map(|d| d.one_line()).collect();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert_eq!(
            messages[0],
            "features/web.feature:1:1: unknown host 'wbe1', did you mean 'web1'?"
        );
        assert_eq!(
            messages[1],
            "features/web.feature:4:5: this step needs a DocString below it"
        );
        assert!(
            messages[2].starts_with("features/web.feature:5:5: 'rw' is not an octal mode"),
            "{}",
            messages[2]
        );
        assert!(
            messages[3].starts_with("features/web.feature:8:5: '(' is not a valid regex"),
            "{}",
            messages[3]
        );
    }

    #[test]
    fn bad_gherkin_says_where() {
        let source = Source::new(
            "features/x.feature",
            "Feature: x\n  Scenario: y\n    Given a\n      | a | b |\n      | c |\n",
        );
        let diag = parse(&source).unwrap_err();
        assert_eq!(
            diag.message,
            "features/x.feature is not valid Gherkin: a table row has another number of cells than the first row"
        );
        assert_eq!(diag.place.unwrap().position(), "features/x.feature:6:1");
        let typo = Source::new(
            "features/t.feature",
            "Feature: x\n  Scenario: y\n    Given a\n    Thne b\n",
        );
        let diag = parse(&typo).unwrap_err();
        assert_eq!(
            diag.message,
            "features/t.feature is not valid Gherkin: 'Thne' is not a keyword, did you mean 'Then'?"
        );
        assert_eq!(diag.place.unwrap().position(), "features/t.feature:4:5");
        let empty = Source::new("features/e.feature", "# nothing\n");
        assert_eq!(
            parse(&empty).unwrap_err().message,
            "features/e.feature is empty"
        );
    }

    #[test]
    fn misspelt_keywords_are_not_descriptions() {
        let f = file(
            "Feature: x\n  Scenario: y\n    Thne port 80 should be listening\n    And port 22 should be listening\n\n  Scenario: empty\n",
        );
        let diags = validate(&[f], &Library::builtin(), Some(&Names::default()));
        let messages: Vec<String> = diags.0.iter().map(|d| d.one_line()).collect();
        assert_eq!(
            messages,
            vec![
                "features/web.feature:3:5: 'Thne' is not a step keyword, did you mean 'Then'?",
                "features/web.feature:6:3: the scenario 'empty' has no steps",
            ]
        );
    }
}
