//! The apply script: every change of a host in one script, each snippet in a
//! subshell of its own with `set -e`, its stdin closed (the script itself
//! arrives on stdin), its output collected, and its failure stopping the
//! rest (later resources may depend on it).

use crate::shell::PRELUDE;

/// Shell that runs `snippets` (tag, code) in order and reports each as
/// `@TAG done` or `@TAG failed BASE64-STDERR`, then `@end`.
pub fn apply_script<'a>(snippets: impl IntoIterator<Item = (String, &'a str)>) -> String {
    let mut script = String::from(PRELUDE);
    script.push_str(
        "rg_err=$(mktemp) && rg_out=$(mktemp) || exit 1\n\
         trap 'rm -f \"$rg_err\" \"$rg_out\"' EXIT\n\
         rg_finish() {\n\
         \x20 cat \"$rg_out\"\n\
         \x20 if [ \"$1\" -ne 0 ]; then printf '@%s failed %s\\n' \"$rg_tag\" \"$(rg_b64 < \"$rg_err\")\"; echo @end; exit 0; fi\n\
         \x20 rg_emit \"$rg_tag\" done\n\
         }\n",
    );
    for (tag, snippet) in snippets {
        script.push_str(&format!("rg_tag={tag}\n( set -e\n"));
        script.push_str(snippet);
        if !snippet.ends_with('\n') {
            script.push('\n');
        }
        script.push_str(") </dev/null >\"$rg_out\" 2>\"$rg_err\"\nrg_finish $?\n");
    }
    script.push_str("echo @end\n");
    script
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::parse_lines;

    fn run(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn a_failure_stops_the_rest_and_says_why() {
        let script = apply_script([
            ("r0".to_string(), "rg_emit \"$rg_tag\" changed one\n"),
            (
                "r1".to_string(),
                "false\nrg_emit \"$rg_tag\" changed never\n",
            ),
            ("r2".to_string(), "rg_emit \"$rg_tag\" changed two\n"),
        ]);
        let lines = parse_lines(&run(&script));
        assert!(lines.complete);
        assert_eq!(lines.get("r0", "changed"), Some("one"));
        assert!(lines.get("r0", "done").is_some());
        assert!(lines.get("r1", "failed").is_some());
        assert_eq!(lines.get("r1", "changed"), None);
        assert!(lines.tag("r2").is_none());
    }

    #[test]
    fn stderr_of_a_failure_comes_back() {
        let script = apply_script([("r0".to_string(), "echo 'no such user: bob' >&2; exit 4\n")]);
        let lines = parse_lines(&run(&script));
        let err = crate::shell::decode(lines.get("r0", "failed").unwrap()).unwrap();
        assert_eq!(String::from_utf8(err).unwrap(), "no such user: bob\n");
    }

    #[test]
    fn the_script_shape_is_stable() {
        insta::assert_snapshot!(apply_script([(
            "r0".to_string(),
            "rg_emit \"$rg_tag\" changed x\n"
        )]));
    }
}
