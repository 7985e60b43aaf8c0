//! `download`: a file fetched from a URL by the host itself, checked against
//! its sha256 before it is moved into place.
//!
//! The host fetches (with curl, else wget; neither is an error that says so):
//! the bytes do not travel through the controller, and the host's own network
//! path (mirrors, proxies) is the one that counts. The file goes to a
//! temporary file beside the target; only if its sha256 is the one given does
//! it get its mode and owner and get renamed into place, so a bad or
//! truncated download never replaces the file. A file that already has the
//! sha256 is not fetched again; owner, group and mode are checked as for `file`.

use super::attrs::Attrs;
use super::file::{DEFAULT_FILE_MODE, attrs_of, parent};
use super::{Change, Decision, PathKind, PathState, PlanInput, Probed};
use crate::diagnostic::Diag;
use crate::recipe::{Spanned, Text};
use crate::shell::quote;
use serde::Deserialize;

use super::{
    Check, Field, Holds, PlannedResource, Query, QueryInput, Resource, ResourceType, fields,
    literal,
};
use crate::recipe::Mode;

/// `download: /usr/local/bin/tool`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadSpec {
    /// Where to fetch it from.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub url: Option<Text>,
    /// The expected sha256 (required).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub sha256: Option<Text>,
    /// Owner (name or uid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub owner: Option<Text>,
    /// Group (name or gid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub group: Option<Text>,
    /// Permissions.
    #[schemars(with = "Option<Mode>")]
    pub mode: Option<Spanned<Mode>>,
}

/// The `download` type.
pub struct Download;

impl ResourceType for Download {
    const KEY: &'static str = "download";
    const NAME: Holds = Holds::Path;
    type Spec = DownloadSpec;

    fn values<'r>(spec: &'r DownloadSpec, _: &'r Resource) -> Vec<Field<'r>> {
        let mut out: Vec<Field<'r>> = [
            fields::optional("`url`", &spec.url, Holds::Word),
            fields::optional("`sha256`", &spec.sha256, Holds::Word),
        ]
        .into_iter()
        .flatten()
        .collect();
        out.extend(fields::owner_and_group(&spec.owner, &spec.group));
        out
    }

    fn check(spec: &DownloadSpec, check: &mut Check<'_>) {
        check.required(&spec.url, "url", "https://example.org/tool.tar.gz");
        check.required(&spec.sha256, "sha256", "the file's sha256 in hex");
        if let Some(sha) = &spec.sha256
            && literal(&sha.value)
            && !valid_sha256(&sha.value)
        {
            let place = check.at(sha.referenced);
            check.push(
                Diag::at(place, "`sha256` must be 64 hexadecimal digits")
                    .label("not a sha256")
                    .help("compute it with `sha256sum FILE`"),
            );
        }
        if let Some(url) = &spec.url
            && literal(&url.value)
            && !valid_url(&url.value)
        {
            let place = check.at(url.referenced);
            check.push(
                Diag::at(place, format!("'{}' is not a URL the host can fetch", url.value))
                    .label("not an http, https or ftp URL")
                    .help("for example https://example.org/tool.tar.gz; the host fetches it with curl or wget"),
            );
        }
    }

    fn queries(_: &DownloadSpec, input: &QueryInput<'_>) -> Vec<Query> {
        vec![Query::Path {
            path: input.name(),
            content_limit: 0,
        }]
    }

    fn plan(
        spec: &DownloadSpec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag> {
        let path = input.name().to_string();
        let (Some(url), Some(sha)) = (&spec.url, &spec.sha256) else {
            return Err(Diag::at(
                input.planned.place(),
                "a download needs `url` and `sha256`",
            ));
        };
        let url = input.render(url)?;
        if !valid_url(&url) {
            return Err(
                Diag::at(input.planned.place(), format!("invalid URL '{url}'"))
                    .help("an http://, https:// or ftp:// URL"),
            );
        }
        let sha = input.render(sha)?.trim().to_ascii_lowercase();
        if !valid_sha256(&sha) {
            return Err(Diag::at(
                input.planned.place(),
                format!("`sha256` must be 64 hexadecimal digits, not '{sha}'"),
            )
            .help("compute it with `sha256sum FILE`"));
        }
        let attrs = attrs_of(
            input,
            spec.owner.as_ref(),
            spec.group.as_ref(),
            spec.mode.as_ref(),
        )?;
        let state = probed.path(&path);
        let mut changes = Vec::new();
        let mut snippet = String::new();
        match state.kind {
            PathKind::File if state.sha256.as_deref() == Some(sha.as_str()) => {
                changes.extend(attrs.changes(&state));
            }
            PathKind::Absent | PathKind::File => {
                changes.push(if state.kind == PathKind::Absent {
                    Change::Create {
                        what: format!("file from {url}"),
                    }
                } else {
                    Change::Content {
                        diff: None,
                        from: state.sha256.clone(),
                        to: sha.clone(),
                    }
                });
                let mut full = attrs.clone();
                full.mode = full.mode.or(Some(if state.kind == PathKind::File {
                    state.mode.unwrap_or(DEFAULT_FILE_MODE)
                } else {
                    DEFAULT_FILE_MODE
                }));
                snippet.push_str(&fetch_snippet(&path, &url, &sha, &full));
            }
            other => {
                return Err(Diag::at(
                    input.planned.place(),
                    format!(
                        "{path} is {} on the host, not a regular file",
                        other.describe()
                    ),
                ));
            }
        }
        if changes.is_empty() {
            return Ok(Decision::Ok);
        }
        snippet.push_str(&attrs.snippet(&path));
        let after = PathState {
            kind: PathKind::File,
            sha256: Some(sha),
            content: None,
            target: None,
            ..attrs.applied_to(state)
        };
        probed.paths.insert(path, after);
        Ok(Decision::Apply { changes, snippet })
    }

    fn managed_paths(_: &DownloadSpec, planned: &PlannedResource<'_>) -> Vec<String> {
        planned.names.clone()
    }
}

/// True for a sha256 in hex.
pub fn valid_sha256(sha: &str) -> bool {
    sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit())
}

/// True for a URL the host's curl or wget can fetch.
pub fn valid_url(url: &str) -> bool {
    let scheme_ok = ["http://", "https://", "ftp://"]
        .iter()
        .any(|s| url.starts_with(s));
    scheme_ok && url.len() > 8 && !url.contains(char::is_whitespace)
}

/// Shell that fetches `url` beside `path`, checks its sha256, and renames it
/// into place, unless the file already has that sha256. The URL (which may
/// hold a token) reaches curl or wget on stdin, never on their command line.
fn fetch_snippet(path: &str, url: &str, sha: &str, attrs: &Attrs) -> String {
    let p = quote(path);
    let dir = parent(path);
    let d = quote(&dir);
    let u = quote(url);
    // curl's config syntax: a quoted value with `\` and `"` escaped.
    let curl_config = quote(&format!(
        "url = \"{}\"",
        url.replace('\\', "\\\\").replace('"', "\\\"")
    ));
    let s = quote(sha);
    let mut out = format!(
        "rg_p={p}\n\
         rg_cur=\n\
         if [ -f \"$rg_p\" ] && [ ! -L \"$rg_p\" ]; then rg_cur=$(sha256sum < \"$rg_p\" | cut -c1-64); fi\n\
         if [ \"$rg_cur\" != {s} ]; then\n\
         \x20 if [ ! -d {d} ]; then echo \"the directory \"{d}\" does not exist; create it with a directory resource first\" >&2; exit 1; fi\n\
         \x20 rg_tmp=$(mktemp -- {tmp})\n\
         \x20 trap 'rm -f -- \"$rg_tmp\"' EXIT HUP INT TERM\n\
         \x20 if command -v curl >/dev/null 2>&1; then printf '%s\\n' {curl_config} | curl -fsSL --retry 2 -o \"$rg_tmp\" -K -\n\
         \x20 elif command -v wget >/dev/null 2>&1; then printf '%s\\n' {u} | wget -q -O \"$rg_tmp\" -i -\n\
         \x20 else echo 'neither curl nor wget is installed on this host; install one (package: curl) before this download' >&2; exit 1; fi\n\
         \x20 rg_got=$(sha256sum < \"$rg_tmp\" | cut -c1-64)\n\
         \x20 if [ \"$rg_got\" != {s} ]; then echo \"\"{u}\" has sha256 $rg_got, not \"{s}\"; the file was not replaced\" >&2; exit 1; fi\n",
        tmp = quote(&format!("{}/.rg-XXXXXX", dir.trim_end_matches('/'))),
    );
    out.push_str(&attrs.set_on_tmp());
    out.push_str(
        "  mv -f -- \"$rg_tmp\" \"$rg_p\"\n\
         \x20 trap - EXIT HUP INT TERM\n\
         \x20 rg_emit \"$rg_tag\" changed downloaded\n\
         fi\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(valid_url("https://example.org/tool.tar.gz"));
        assert!(valid_url("http://127.0.0.1:8080/x"));
        assert!(!valid_url("example.org/tool"));
        assert!(!valid_url("file:///etc/passwd"));
        assert!(!valid_url("https://a b"));
    }

    #[test]
    fn fetch_snippet_checks_before_it_moves() {
        insta::assert_snapshot!(fetch_snippet(
            "/usr/local/bin/tool",
            "https://example.org/tool",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            &Attrs {
                owner: Some("root".into()),
                group: None,
                mode: Some(0o755),
            }
        ));
    }
}
