//! `apt_repository`: an apt source and its signing key.
//!
//! `apt_repository: NAME` manages two files, written like `file` resources:
//!
//! * `/etc/apt/keyrings/NAME.asc` (an ASCII-armoured `key`) or `NAME.gpg` (a
//!   binary one), mode 0644, when `key` is given. `key` is the key itself
//!   (text starting with `-----BEGIN PGP PUBLIC KEY BLOCK-----`) or the name
//!   of a file under files/.
//! * `/etc/apt/sources.list.d/NAME.list`: one line,
//!   `deb [signed-by=KEYRING] URI SUITE COMPONENTS...`. `suite` defaults to
//!   the host's codename (facts: `os_codename`), `components` to `main`
//!   (none for a flat repository, whose suite ends with `/`).
//!
//! Writing either file makes the package cache older than its sources, so the
//! next `package` resource that installs something runs `apt-get update`
//! first (see [`super::package`]). `state: absent` removes both files.

use super::file::{DesiredFile, plan_absent, plan_present};
use super::package::CacheState;
use super::{Change, Decision, PlanInput, Probed, Query};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, Spanned, Text};
use crate::shell::quote;
use serde::Deserialize;

use super::{
    Check, Field, Holds, Kind, NameRule, QueryInput, Resource, ResourceType, fields, literal,
    presence,
};

/// `apt_repository: nodesource`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AptRepositorySpec {
    /// The repository's URI.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub uri: Option<Text>,
    /// The suite (default: the host's codename).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub suite: Option<Text>,
    /// Components.
    #[serde(default, deserialize_with = "crate::recipe::de::null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub components: Vec<Text>,
    /// The signing key (ASCII-armoured text, or a file under files/).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub key: Option<Text>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// The `apt_repository` type.
pub struct AptRepository;

impl ResourceType for AptRepository {
    const KEY: &'static str = "apt_repository";
    const NAME: Holds = Holds::Name(Kind::AptRepository);
    const NAME_RULE: Option<NameRule> = Some(NameRule {
        valid: valid_name,
        noun: "repository name",
        label: "not a file name",
        help: "the name becomes /etc/apt/sources.list.d/NAME.list: letters, digits, . _ -",
    });
    type Spec = AptRepositorySpec;

    fn removal(spec: &AptRepositorySpec) -> Option<crate::recipe::Location> {
        super::absent_at(&spec.state)
    }

    fn evidence(_: &AptRepositorySpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        vec![super::evidence::Subject::Path(list_path(
            &input.planned.names[0],
        ))]
    }

    fn values<'r>(spec: &'r AptRepositorySpec, _: &'r Resource) -> Vec<Field<'r>> {
        let mut out: Vec<Field<'r>> = [
            fields::optional("`uri`", &spec.uri, Holds::Word),
            fields::optional("`suite`", &spec.suite, Holds::Word),
        ]
        .into_iter()
        .flatten()
        .collect();
        out.extend(
            spec.components
                .iter()
                .map(|c| fields::field("`components`", c, Holds::Word)),
        );
        if let Some(key) = &spec.key
            && is_inline_key(&key.value)
        {
            out.push(fields::field("`key`", key, Holds::Text));
        }
        out
    }

    fn sources(spec: &AptRepositorySpec) -> Vec<&Text> {
        spec.key
            .iter()
            .filter(|key| !is_inline_key(&key.value))
            .collect()
    }

    fn check(spec: &AptRepositorySpec, check: &mut Check<'_>) {
        if presence(&spec.state) == Presence::Present {
            check.required(&spec.uri, "uri", "https://example.org/debian");
        }
        if let Some(uri) = &spec.uri
            && literal(&uri.value)
            && !uri.value.contains(':')
        {
            let place = check.at(uri.referenced);
            check.push(
                Diag::at(place, format!("'{}' is not a URI", uri.value))
                    .label("no scheme")
                    .help("for example https://example.org/debian"),
            );
        }
    }

    fn queries(_: &AptRepositorySpec, input: &QueryInput<'_>) -> Vec<Query> {
        let (name, content_limit) = (input.name(), input.content_limit());
        [
            list_path(&name),
            key_path(&name, true),
            key_path(&name, false),
        ]
        .into_iter()
        .map(|path| Query::Path {
            path,
            content_limit: content_limit.max(4096),
        })
        .collect()
    }

    fn plan(
        spec: &AptRepositorySpec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag> {
        let name = input.name().to_string();
        if !valid_name(&name) {
            return Err(Diag::at(
                input.planned.place(),
                format!("invalid repository name '{name}'"),
            )
            .help("the name becomes a file name: letters, digits, . _ -"));
        }
        let mut parts = Vec::new();
        if spec.state.as_ref().map(|s| s.value) == Some(Presence::Absent) {
            for path in [
                list_path(&name),
                key_path(&name, true),
                key_path(&name, false),
            ] {
                parts.push(super::naming(plan_absent(input, &path, probed)?, &path));
            }
            return Ok(finish(parts, probed));
        }
        let Some(uri) = &spec.uri else {
            return Err(Diag::at(
                input.planned.place(),
                "an apt_repository needs `uri`",
            ));
        };
        let uri = input.render(uri)?;
        let suite = match &spec.suite {
            Some(suite) => input.render(suite)?,
            None if !probed.facts.os_codename.is_empty() => probed.facts.os_codename.clone(),
            None => {
                return Err(Diag::at(
                    input.planned.place(),
                    "this host's os_codename is unknown; give `suite`",
                ));
            }
        };
        let mut components = spec
            .components
            .iter()
            .map(|c| input.render(c))
            .collect::<Result<Vec<_>, _>>()?;
        if components.is_empty() && !suite.ends_with('/') {
            components.push("main".into());
        }
        for word in std::iter::once(&uri)
            .chain(std::iter::once(&suite))
            .chain(&components)
        {
            if word.is_empty() || word.contains(char::is_whitespace) || word.contains(['[', ']']) {
                return Err(Diag::at(
                    input.planned.place(),
                    format!("'{word}' cannot be part of an apt source line"),
                ));
            }
        }
        let key = match &spec.key {
            None => None,
            Some(key) if is_inline_key(&key.value) => Some(key.value.trim().as_bytes().to_vec()),
            Some(key) => Some(input.read_file(key)?),
        };
        let mut line = String::from("deb ");
        if let Some(key) = &key {
            let armoured = key.starts_with(b"-----BEGIN");
            let path = key_path(&name, armoured);
            line.push_str(&format!("[signed-by={path}] "));
            let mut content = key.clone();
            if armoured && !content.ends_with(b"\n") {
                content.push(b'\n');
            }
            parts.push(file_in(input, KEYRINGS_DIR, &path, content, probed)?);
            // A key of the other kind from before is removed.
            let other = key_path(&name, !armoured);
            parts.push(super::naming(plan_absent(input, &other, probed)?, &other));
        }
        line.push_str(&format!("{uri} {suite}"));
        for component in &components {
            line.push(' ');
            line.push_str(component);
        }
        let content = format!("# Managed by redgreen.\n{line}\n").into_bytes();
        let list = list_path(&name);
        parts.push(file_in(input, SOURCES_DIR, &list, content, probed)?);
        Ok(finish(parts, probed))
    }
}

/// Where source lists go.
pub const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
/// Where keys go.
pub const KEYRINGS_DIR: &str = "/etc/apt/keyrings";

/// The source list of a repository.
pub fn list_path(name: &str) -> String {
    format!("{SOURCES_DIR}/{name}.list")
}

/// The key file of a repository: `.asc` for an armoured key, `.gpg` for a binary one.
pub fn key_path(name: &str, armoured: bool) -> String {
    format!(
        "{KEYRINGS_DIR}/{name}.{}",
        if armoured { "asc" } else { "gpg" }
    )
}

/// True for a name that makes a safe file name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// True when `key` is the key itself rather than a file name.
pub fn is_inline_key(key: &str) -> bool {
    key.trim_start()
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
}

/// A file of root's at `path` in `dir`, which is made first (mode 0755)
/// when it is missing; its changes name the path.
fn file_in(
    input: &PlanInput<'_>,
    dir: &str,
    path: &str,
    content: Vec<u8>,
    probed: &mut Probed,
) -> Result<Decision, Diag> {
    let dir = quote(dir);
    Ok(
        match super::naming(plan_present(input, root_file(path, content), probed)?, path) {
            Decision::Apply { changes, snippet } => Decision::Apply {
                changes,
                snippet: format!(
                    "if [ ! -d {dir} ]; then mkdir -m 0755 -p -- {dir}; fi\n{snippet}"
                ),
            },
            other => other,
        },
    )
}

fn root_file(path: &str, content: Vec<u8>) -> DesiredFile {
    DesiredFile {
        path: path.to_string(),
        content: Some(content),
        // Scripts run as root: new files are root's, mode 0644.
        attrs: super::attrs::Attrs::default(),
        guard: None,
    }
}

/// One decision from the decisions about each file; a change makes the
/// package cache stale for the resources planned after.
fn finish(parts: Vec<Decision>, probed: &mut Probed) -> Decision {
    let mut changes: Vec<Change> = Vec::new();
    let mut snippet = String::new();
    for part in parts {
        if let Decision::Apply {
            changes: c,
            snippet: s,
        } = part
        {
            changes.extend(c);
            snippet.push_str(&s);
        }
    }
    if changes.is_empty() {
        return Decision::Ok;
    }
    if probed.package_cache != CacheState::Unknown || probed.facts.package_manager == "apt" {
        probed.package_cache = CacheState::SourcesChanged;
    }
    Decision::Apply { changes, snippet }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert!(valid_name("nodesource"));
        assert!(valid_name("docker.ce-stable"));
        assert!(!valid_name("../etc"));
        assert!(!valid_name("a b"));
        assert_eq!(list_path("x"), "/etc/apt/sources.list.d/x.list");
        assert_eq!(key_path("x", true), "/etc/apt/keyrings/x.asc");
        assert_eq!(key_path("x", false), "/etc/apt/keyrings/x.gpg");
        assert!(is_inline_key(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF...\n"
        ));
        assert!(!is_inline_key("nodesource.asc"));
    }

    use crate::resource::testing;

    #[test]
    fn a_repository_is_a_source_list_and_a_keyring() {
        let out = testing::plan(
            "resources:\n  - apt_repository: example\n    uri: https://example.org/debian\n    components: [main, contrib]\n    key: example.asc\n",
            &[("example.asc", b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n")],
            &mut testing::debian(),
        );
        let Ok(Decision::Apply { snippet, .. }) = &out[0] else {
            panic!("{:?}", testing::changes(&out[0]))
        };
        insta::assert_snapshot!(snippet);
    }

    #[test]
    fn a_flat_repository_has_no_components() {
        let out = testing::plan(
            "resources:\n  - apt_repository: local\n    uri: file:/srv/repo\n    suite: ./\n",
            &[],
            &mut testing::debian(),
        );
        let Ok(Decision::Apply { changes, .. }) = &out[0] else {
            panic!("{:?}", testing::changes(&out[0]))
        };
        let Change::Content {
            diff: Some(diff), ..
        } = &changes[1]
        else {
            panic!("{changes:?}")
        };
        assert!(diff.contains("+deb file:/srv/repo ./\n"), "{diff}");
    }
}
