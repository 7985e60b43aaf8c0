//! `rpm_repository`: a `.repo` file for dnf, yum or zypper, and its key.
//!
//! `rpm_repository: NAME` manages, written like `file` resources:
//!
//! * `/etc/yum.repos.d/NAME.repo` on dnf and yum hosts,
//!   `/etc/zypp/repos.d/NAME.repo` on zypper hosts (facts: `package_manager`):
//!   one section `[NAME]` with `name`, `baseurl`, `enabled`, `gpgcheck` and
//!   `gpgkey` (zypper's also `type=rpm-md` and `autorefresh=1`).
//! * `/etc/pki/rpm-gpg/RPM-GPG-KEY-NAME`, mode 0644, when `gpgkey` is the
//!   key itself (ASCII-armoured text) or a file under files/; `gpgkey=` then
//!   points at it. A `gpgkey` URL (`https://`, `file://`) is written as it is.
//!
//! `gpgcheck` is on unless the recipe turns it off: a repository without
//! `gpgkey` must say `gpgcheck: false`, so that unsigned packages are a
//! choice someone made. dnf, yum and zypper fetch a new or changed
//! repository's metadata by themselves; no refresh is needed. `state: absent`
//! removes both files.

use super::apt_repository::is_inline_key;
use super::file::{DesiredFile, plan_absent, plan_present};
use super::package_manager::Manager;
use super::{Change, Decision, PlanInput, Probed, Query};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, Spanned, Text};
use serde::Deserialize;

use super::{
    Check, Field, Holds, Kind, NameRule, QueryInput, Resource, ResourceType, fields, literal,
    presence,
};

/// `rpm_repository: epel`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RpmRepositorySpec {
    /// The repository's URL (`baseurl=`).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub baseurl: Option<Text>,
    /// A human-readable name (`name=`; default: the resource's name).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub description: Option<Text>,
    /// The signing key: a URL, ASCII-armoured text, or a file under files/.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub gpgkey: Option<Text>,
    /// Check package signatures (default true; false needs no `gpgkey`).
    #[schemars(with = "Option<bool>")]
    pub gpgcheck: Option<Spanned<bool>>,
    /// Enabled (default true).
    #[schemars(with = "Option<bool>")]
    pub enabled: Option<Spanned<bool>>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// The `rpm_repository` type.
pub struct RpmRepository;

impl ResourceType for RpmRepository {
    const KEY: &'static str = "rpm_repository";
    const NAME: Holds = Holds::Name(Kind::RpmRepository);
    const NAME_RULE: Option<NameRule> = Some(NameRule {
        valid: super::apt_repository::valid_name,
        noun: "repository name",
        label: "not a file name",
        help: "the name becomes /etc/yum.repos.d/NAME.repo: letters, digits, . _ -",
    });
    type Spec = RpmRepositorySpec;

    fn removal(spec: &RpmRepositorySpec) -> Option<crate::recipe::Location> {
        super::absent_at(&spec.state)
    }

    fn evidence(_: &RpmRepositorySpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        vec![super::evidence::Subject::Path(repo_path(
            Manager::Dnf,
            &input.planned.names[0],
        ))]
    }

    fn values<'r>(spec: &'r RpmRepositorySpec, _: &'r Resource) -> Vec<Field<'r>> {
        let mut out: Vec<Field<'r>> = [
            fields::optional("`baseurl`", &spec.baseurl, Holds::Word),
            fields::optional("`description`", &spec.description, Holds::Line),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(key) = &spec.gpgkey {
            if is_inline_key(&key.value) {
                out.push(fields::field("`gpgkey`", key, Holds::Text));
            } else if is_url(&key.value) {
                out.push(fields::field("`gpgkey`", key, Holds::Word));
            }
        }
        out
    }

    fn sources(spec: &RpmRepositorySpec) -> Vec<&Text> {
        spec.gpgkey
            .iter()
            .filter(|key| !is_inline_key(&key.value) && !is_url(&key.value))
            .collect()
    }

    fn check(spec: &RpmRepositorySpec, check: &mut Check<'_>) {
        if presence(&spec.state) != Presence::Present {
            return;
        }
        check.required(&spec.baseurl, "baseurl", "https://example.org/el9/x86_64");
        if let Some(url) = &spec.baseurl
            && literal(&url.value)
            && !url.value.contains("://")
        {
            let place = check.at(url.referenced);
            check.push(
                Diag::at(place, format!("'{}' is not a URL", url.value))
                    .label("no scheme")
                    .help("for example https://example.org/el9/x86_64 or file:///srv/repo"),
            );
        }
        let gpgcheck = spec.gpgcheck.as_ref().is_none_or(|g| g.value);
        if gpgcheck && spec.gpgkey.is_none() {
            let place = check.at(check.resource.kind.referenced);
            check.push(
                Diag::at(place, "this repository's packages are checked, but it has no `gpgkey`")
                    .label("no key")
                    .help("give `gpgkey` (a URL, the key itself, or a file under files/), or say `gpgcheck: false` for a repository of unsigned packages"),
            );
        }
    }

    fn queries(_: &RpmRepositorySpec, input: &QueryInput<'_>) -> Vec<Query> {
        let (name, content_limit) = (input.name(), input.content_limit());
        [
            repo_path(Manager::Dnf, &name),
            repo_path(Manager::Zypper, &name),
            key_path(&name),
        ]
        .into_iter()
        .map(|path| Query::Path {
            path,
            content_limit: content_limit.max(4096),
        })
        .collect()
    }

    fn plan(
        spec: &RpmRepositorySpec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag> {
        let name = input.name().to_string();
        let fact = probed.facts.package_manager.clone();
        let manager = match Manager::from_fact(&fact) {
            Some(m @ (Manager::Dnf | Manager::Yum | Manager::Zypper)) => m,
            _ => {
                return Err(Diag::at(
                    input.planned.place(),
                    format!(
                        "an rpm_repository is for dnf, yum and zypper hosts; this host's package manager is {fact}"
                    ),
                )
                .help("use `when: { os_family: redhat }` (or suse), and apt_repository on Debian hosts"));
            }
        };
        let path = repo_path(manager, &name);
        let mut parts = Vec::new();
        if presence(&spec.state) == Presence::Absent {
            for path in [path, key_path(&name)] {
                parts.push(super::naming(plan_absent(input, &path, probed)?, &path));
            }
            return Ok(finish(parts));
        }
        let Some(baseurl) = &spec.baseurl else {
            return Err(Diag::at(
                input.planned.place(),
                "an rpm_repository needs `baseurl`",
            ));
        };
        let baseurl = input.render(baseurl)?;
        let description = match &spec.description {
            Some(d) => input.render(d)?,
            None => name.clone(),
        };
        for (what, value) in [("baseurl", &baseurl), ("description", &description)] {
            if value.is_empty() || value.contains(['\n', '\r']) {
                return Err(Diag::at(
                    input.planned.place(),
                    format!("`{what}` must be one non-empty line"),
                ));
            }
        }
        let gpgkey = match &spec.gpgkey {
            None => None,
            Some(key) if is_url(&key.value) => Some(input.render(key)?),
            Some(key) => {
                let content = if is_inline_key(&key.value) {
                    key.value.trim().as_bytes().to_vec()
                } else {
                    input.read_file(key)?
                };
                let mut content = content;
                if !content.ends_with(b"\n") {
                    content.push(b'\n');
                }
                let key_file = key_path(&name);
                parts.push(file_in(input, KEYS_DIR, &key_file, content, probed)?);
                Some(format!("file://{key_file}"))
            }
        };
        if gpgkey
            .as_deref()
            .is_some_and(|k| k.contains(char::is_whitespace))
        {
            return Err(Diag::at(input.planned.place(), "`gpgkey` must be one URL"));
        }
        let flag = |b: Option<&Spanned<bool>>| u8::from(b.is_none_or(|b| b.value));
        let mut content = format!(
            "# Managed by redgreen.\n[{name}]\nname={description}\nbaseurl={baseurl}\nenabled={}\ngpgcheck={}\n",
            flag(spec.enabled.as_ref()),
            flag(spec.gpgcheck.as_ref()),
        );
        if let Some(key) = &gpgkey {
            content.push_str(&format!("gpgkey={key}\n"));
        }
        if manager == Manager::Zypper {
            content.push_str("type=rpm-md\nautorefresh=1\n");
        }
        let dir = if manager == Manager::Zypper {
            ZYPP_DIR
        } else {
            YUM_DIR
        };
        parts.push(file_in(input, dir, &path, content.into_bytes(), probed)?);
        Ok(finish(parts))
    }
}

/// Where dnf and yum read repositories.
pub const YUM_DIR: &str = "/etc/yum.repos.d";
/// Where zypper reads repositories.
pub const ZYPP_DIR: &str = "/etc/zypp/repos.d";
/// Where keys go.
pub const KEYS_DIR: &str = "/etc/pki/rpm-gpg";

/// The `.repo` file of a repository on a host of `manager`.
pub fn repo_path(manager: Manager, name: &str) -> String {
    let dir = if manager == Manager::Zypper {
        ZYPP_DIR
    } else {
        YUM_DIR
    };
    format!("{dir}/{name}.repo")
}

/// The key file of a repository whose key redgreen writes.
pub fn key_path(name: &str) -> String {
    format!("{KEYS_DIR}/RPM-GPG-KEY-{name}")
}

/// True for a `gpgkey` that is a URL rather than a key or a file name.
fn is_url(key: &str) -> bool {
    ["https://", "http://", "file://", "ftp://"]
        .iter()
        .any(|scheme| key.starts_with(scheme))
}

fn file_in(
    input: &PlanInput<'_>,
    dir: &str,
    path: &str,
    content: Vec<u8>,
    probed: &mut Probed,
) -> Result<Decision, Diag> {
    let dir = crate::shell::quote(dir);
    let desired = DesiredFile {
        path: path.to_string(),
        content: Some(content),
        attrs: super::attrs::Attrs::default(),
        guard: None,
    };
    Ok(
        match super::naming(plan_present(input, desired, probed)?, path) {
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

fn finish(parts: Vec<Decision>) -> Decision {
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
        Decision::Ok
    } else {
        Decision::Apply { changes, snippet }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::testing;

    fn on(manager: &str) -> Probed {
        let mut probed = testing::debian();
        probed.facts.package_manager = manager.into();
        probed
    }

    #[test]
    fn a_repository_with_its_key_on_dnf_and_zypper() {
        let recipe = "resources:\n  - rpm_repository: example\n    description: Example packages\n    baseurl: https://example.org/el9/$basearch\n    gpgkey: example.asc\n";
        let key: &[(&str, &[u8])] = &[(
            "example.asc",
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n",
        )];
        for manager in ["dnf", "zypper"] {
            let out = testing::plan(recipe, key, &mut on(manager));
            let Ok(Decision::Apply { changes, .. }) = &out[0] else {
                panic!("{:?}", testing::changes(&out[0]))
            };
            let diffs: Vec<&str> = changes
                .iter()
                .filter_map(|c| match c {
                    Change::Content { diff: Some(d), .. } => Some(d.as_str()),
                    _ => None,
                })
                .collect();
            insta::assert_snapshot!(format!("rpm_repository_{manager}"), diffs.join("\n"));
        }
    }

    #[test]
    fn a_key_url_is_written_as_it_is_and_apt_hosts_are_refused() {
        let recipe = "resources:\n  - rpm_repository: example\n    baseurl: https://example.org/el9\n    gpgkey: https://example.org/key.asc\n";
        let out = testing::plan(recipe, &[], &mut on("dnf"));
        let Ok(Decision::Apply { changes, .. }) = &out[0] else {
            panic!("{:?}", testing::changes(&out[0]))
        };
        assert_eq!(changes.len(), 2, "the .repo file only: {changes:?}");
        let Change::Content {
            diff: Some(diff), ..
        } = &changes[1]
        else {
            panic!("{changes:?}")
        };
        assert!(
            diff.contains("+gpgkey=https://example.org/key.asc\n"),
            "{diff}"
        );
        let out = testing::plan(recipe, &[], &mut on("apt"));
        assert_eq!(
            testing::changes(&out[0]),
            [
                "error: an rpm_repository is for dnf, yum and zypper hosts; this host's package manager is apt"
            ]
        );
    }
}
