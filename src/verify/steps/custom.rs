//! User steps from `features/steps.yml`: a shell command with `{1}`, `{2}`…
//! for the step's values, each substituted as one quoted shell word. The
//! step passes when the command exits 0; its output is shown when it fails.

use crate::shell::quote;
use crate::verify::library::Args;
use crate::verify::world::{Failure, HostWorld, Verdict};

use super::file::excerpt;

/// The command with `{N}` replaced by the quoted N-th value (1-based).
/// Braces that are not `{digits}` stay as they are (`${HOME}`, `awk '{print}'`).
pub fn substitute(run: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(run.len());
    let mut rest = run;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let digits = after.find('}').map(|close| &after[..close]);
        match digits
            .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
            .and_then(|d| d.parse::<usize>().ok().map(|n| (d, n)))
        {
            Some((d, n)) if n >= 1 && n <= values.len() => {
                out.push_str(&quote(&values[n - 1]));
                rest = &after[d.len() + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `{N}` references of a command, for validation.
pub fn references(run: &str) -> Vec<usize> {
    static REFERENCE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\{(\d+)\}").expect("valid regex"));
    REFERENCE
        .captures_iter(run)
        .filter_map(|c| c[1].parse().ok())
        .collect()
}

/// Run a user step.
pub async fn run(world: &mut HostWorld, run: &str, args: &Args) -> Verdict {
    let command = substitute(run, &args.values);
    let output = world.run_command(&command, None).await?;
    if output.status == 0 {
        return Ok(());
    }
    let mut message = format!("`{command}` exited with status {}", output.status);
    let printed = format!("{}{}", output.stdout_text(), output.stderr_text());
    if printed.trim().is_empty() {
        message.push_str(" and printed nothing");
    } else {
        message.push_str(&format!("; it printed:\n{}", excerpt(&printed)));
    }
    Err(Failure::check(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_words() {
        let values = vec!["default".to_string(), "x'; rm -rf / #".to_string()];
        assert_eq!(
            substitute("test -L /etc/nginx/sites-enabled/{1}", &values),
            "test -L /etc/nginx/sites-enabled/'default'"
        );
        assert_eq!(
            substitute("echo {2} ${HOME} awk '{print $1}' {3} {}", &values),
            "echo 'x'\\''; rm -rf / #' ${HOME} awk '{print $1}' {3} {}"
        );
        assert_eq!(references("a {1} b {2} {x} {10}"), vec![1, 2, 10]);
    }

    #[test]
    fn substituted_values_stay_one_word_in_a_shell() {
        let values = vec!["a b; echo injected".to_string()];
        let command = substitute("printf '%s|' {1}", &values);
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "a b; echo injected|"
        );
    }
}
