//! Secret variables: declared as `{ secret: true, env: NAME }`, read from the
//! environment when a host's variables are merged, and never printed.
//!
//! Every secret value that was read is remembered for the whole process, and
//! everything redgreen prints (terminal output, diffs, JSON and other reports,
//! error messages) goes through [`redact`], which replaces each one with
//! `********`.
//!
//! Two rules make that hold whatever the secret looks like:
//!
//! * A secret of several lines (a private key) is also remembered line by
//!   line: a diff or an excerpt of a file shows lines, each with a prefix of
//!   its own (`+`, two spaces), never the value whole. Every line of at least
//!   [`MIN_PART`] characters is masked wherever it appears.
//! * Masking comes before escaping. A report that escapes (JSON, HTML, XML,
//!   Rust's `{:?}`) turns `"`, `\`, `<` or `&` into something else, after
//!   which the secret no longer matches: JSON is masked as a value
//!   ([`redact_json`], [`to_json`]), HTML and XML escape what [`redact`] gave
//!   them, and the verify step failures that cucumber's writers escape are
//!   masked where they are made.

use std::borrow::Cow;
use std::sync::RwLock;

use serde_json::{Map, Value};

/// What a secret is replaced with in output.
pub const MASK: &str = "********";

/// The shortest line of a multi-line secret that is masked on its own:
/// shorter lines (a lone `}`, an empty line) are no secret by themselves, and
/// masking them everywhere would garble all output.
pub const MIN_PART: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember a secret value so that output never shows it, whole or any of
/// its lines.
pub fn register(value: &str) {
    if value.is_empty() {
        return;
    }
    let mut secrets = SECRETS.write().expect("secrets lock");
    for part in parts(value) {
        if !secrets.iter().any(|s| s == part) {
            secrets.push(part.to_string());
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// What is masked of a secret: the value, and each of its lines (without
/// the line break and the spaces around it) that is long enough to matter.
fn parts(value: &str) -> Vec<&str> {
    let mut parts = vec![value];
    if value.contains(['\n', '\r']) {
        parts.extend(
            value
                .split(['\n', '\r'])
                .map(str::trim)
                .filter(|line| line.chars().count() >= MIN_PART),
        );
    }
    parts
}

/// `text` with every known secret masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().expect("secrets lock");
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for secret in secrets.iter() {
        out = out.replace(secret.as_str(), MASK);
    }
    Cow::Owned(out)
}

/// Mask every secret in every string of a JSON value, keys too (before it
/// is serialized, so that escaping cannot hide a secret from the mask).
pub fn redact_json(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let Cow::Owned(masked) = redact(text) {
                *text = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => {
            if map.keys().any(|k| contains_secret(k)) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (redact(&k).into_owned(), v))
                    .collect();
            }
            map.values_mut().for_each(redact_json);
        }
        _ => {}
    }
}

/// `value` as pretty JSON with every secret masked: the one way redgreen
/// writes JSON for people and files.
pub fn to_json(value: &impl serde::Serialize) -> String {
    let mut value = serde_json::to_value(value).expect("reports serialize");
    redact_json(&mut value);
    serde_json::to_string_pretty(&value).expect("reports serialize")
}

/// A diagnostic with every secret in its words masked.
pub fn redact_diag(diag: &crate::diagnostic::Diag) -> crate::diagnostic::Diag {
    let mut diag = diag.clone();
    diag.message = redact(&diag.message).into_owned();
    diag.label = redact(&diag.label).into_owned();
    diag.help = diag.help.map(|h| redact(&h).into_owned());
    diag.related = diag.related.iter().map(redact_diag).collect();
    diag
}

/// True when `text` holds a known secret.
pub fn contains_secret(text: &str) -> bool {
    let secrets = SECRETS.read().expect("secrets lock");
    secrets.iter().any(|s| text.contains(s.as_str()))
}

/// If `value` declares a secret (`{ secret: true, env: NAME }`), the name of
/// its environment variable.
pub fn declared(value: &Value) -> Option<Result<&str, String>> {
    let map = value.as_object()?;
    if map.get("secret") != Some(&Value::Bool(true)) {
        return None;
    }
    let unknown: Vec<&String> = map
        .keys()
        .filter(|k| *k != "secret" && *k != "env")
        .collect();
    if !unknown.is_empty() {
        return Some(Err(format!(
            "unknown field '{}' in a secret; a secret is {{ secret: true, env: NAME }}",
            unknown[0]
        )));
    }
    match map.get("env").and_then(Value::as_str) {
        Some(name) => Some(Ok(name)),
        None => Some(Err(
            "a secret needs `env: NAME`, the environment variable that holds it".into(),
        )),
    }
}

/// Replace every secret declaration among `vars` by its value from the
/// environment (remembering it for redaction). Returns what is wrong.
pub fn resolve(vars: &mut Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in vars.iter_mut() {
        let Some(declaration) = declared(value) else {
            continue;
        };
        match declaration {
            Ok(env) => match std::env::var(env) {
                Ok(secret) => {
                    register(&secret);
                    *value = Value::String(secret);
                }
                Err(_) => problems.push(format!(
                    "the secret variable '{name}' is read from the environment variable {env}, which is not set"
                )),
            },
            Err(problem) => problems.push(format!("variable '{name}': {problem}")),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declarations_resolve_from_the_environment_and_are_masked() {
        // SAFETY: tests in this module are the only users of this variable.
        unsafe { std::env::set_var("REDGREEN_TEST_SECRET_A", "hunter2-and-more") };
        let mut vars = json!({
            "password": { "secret": true, "env": "REDGREEN_TEST_SECRET_A" },
            "plain": "visible",
        })
        .as_object()
        .unwrap()
        .clone();
        assert!(resolve(&mut vars).is_empty());
        assert_eq!(vars["password"], "hunter2-and-more");
        assert_eq!(redact("pw=hunter2-and-more;"), format!("pw={MASK};"));
        assert_eq!(redact("visible"), "visible");
    }

    #[test]
    fn every_line_of_a_multi_line_secret_is_masked() {
        let key = "-----BEGIN TEST KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\r\n  QyNTUxOQAAACBx  \nab\n-----END TEST KEY-----\n";
        register(key);
        let diff = "@@ -0,0 +1,4 @@\n+key=-----BEGIN TEST KEY-----\n+b3BlbnNzaC1rZXktdjEAAAAA\n+QyNTUxOQAAACBx\n+ab\n";
        let masked = redact(diff);
        assert!(!masked.contains("b3BlbnNzaC1rZXktdjEAAAAA"), "{masked}");
        assert!(!masked.contains("QyNTUxOQAAACBx"), "{masked}");
        assert!(!masked.contains("BEGIN TEST KEY"), "{masked}");
        // A two-letter line is no secret by itself.
        assert!(masked.contains("+ab\n"), "{masked}");
        assert_eq!(redact(key), MASK);
    }

    #[test]
    fn json_keys_and_values_are_masked_before_escaping() {
        register("k3y\"with<quotes&\\");
        let text =
            to_json(&json!({ "the check `k3y\"with<quotes&\\`": "x k3y\"with<quotes&\\ y" }));
        assert!(!text.contains("k3y"), "{text}");
        assert_eq!(text.matches(MASK).count(), 2, "{text}");
    }

    #[test]
    fn a_missing_environment_variable_is_a_problem() {
        let mut vars = json!({ "token": { "secret": true, "env": "REDGREEN_TEST_SECRET_UNSET" } })
            .as_object()
            .unwrap()
            .clone();
        let problems = resolve(&mut vars);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("REDGREEN_TEST_SECRET_UNSET"),
            "{}",
            problems[0]
        );
    }
}
