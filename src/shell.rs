//! The one place where shell text is made safe: quoting, data blocks, and the
//! line protocol that probe and apply scripts print.
//!
//! Every path, name and value that reaches a shell goes through [`quote`].
//! File contents travel inside the script on stdin as base64 data blocks
//! ([`data_block`]), never on a command line.
//!
//! Scripts print structured lines `@TAG KEY VALUE...`; anything else they
//! print (a login banner, a warning) is ignored by [`parse_lines`].

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Quote `text` as one POSIX shell word. The result is safe for any bytes but
/// NUL, which no path, name or argument can contain (see [`has_nul`]).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// True when `text` holds a NUL byte, which cannot reach a shell.
pub fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

/// A here-document that a shell command reads on stdin, holding `data` as base64:
/// `base64 -d > FILE <<'RG_DATA'` followed by the returned text.
pub fn data_block(data: &[u8]) -> String {
    let encoded = B64.encode(data);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 + 16);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("RG_DATA\n");
    out
}

/// Decode a base64 value from script output.
pub fn decode(value: &str) -> Option<Vec<u8>> {
    B64.decode(value.trim()).ok()
}

/// Encode bytes as base64 (for values placed in scripts).
pub fn encode(data: &[u8]) -> String {
    B64.encode(data)
}

/// Functions every generated script starts with.
pub const PRELUDE: &str = r#"export LC_ALL=C
umask 022
rg_b64() { base64 | tr -d '\n'; }
rg_emit() { printf '@%s %s %s\n' "$1" "$2" "$3"; }
rg_text() { case $3 in *[!" "-~]*) rg_emit "$1" "$2" "$(printf %s "$3" | rg_b64)" ;; *) rg_emit "$1" "${2}_text" "$3" ;; esac; }
"#;

/// What a script printed: the values of every `@TAG KEY VALUE` line, by tag
/// then key. A key printed several times keeps every value, in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TaggedLines {
    /// tag → key → values.
    pub tags: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// True when the script printed `@end` (it ran to its end).
    pub complete: bool,
}

impl TaggedLines {
    /// The first value of `key` under `tag`.
    pub fn get(&self, tag: &str, key: &str) -> Option<&str> {
        self.tags
            .get(tag)
            .and_then(|keys| keys.get(key))
            .and_then(|values| values.first())
            .map(String::as_str)
    }

    /// A value `rg_text` printed: as it is under `KEY_text` when it is
    /// printable ASCII, else in base64 under `KEY` (so that printable
    /// values, the usual ones, cost the host no process).
    pub fn text(&self, tag: &str, key: &str) -> Option<Vec<u8>> {
        match self.get(tag, &format!("{key}_text")) {
            Some(text) => Some(text.as_bytes().to_vec()),
            None => decode(self.get(tag, key)?),
        }
    }

    /// Every value of `key` under `tag`.
    pub fn all(&self, tag: &str, key: &str) -> &[String] {
        self.tags
            .get(tag)
            .and_then(|keys| keys.get(key))
            .map_or(&[], Vec::as_slice)
    }

    /// Every key and values printed under `tag`.
    pub fn tag(&self, tag: &str) -> Option<&BTreeMap<String, Vec<String>>> {
        self.tags.get(tag)
    }
}

/// Parse one line of the protocol into (tag, key, value).
pub fn parse_line(line: &str) -> Option<(&str, &str, &str)> {
    let rest = line.strip_prefix('@')?;
    let (tag, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
    if tag.is_empty() {
        return None;
    }
    Some((tag, key, value.trim_end_matches('\r')))
}

/// Parse everything a script printed.
pub fn parse_lines(output: &str) -> TaggedLines {
    let mut lines = TaggedLines::default();
    for line in output.lines() {
        if line == "@end" {
            lines.complete = true;
            continue;
        }
        if let Some((tag, key, value)) = parse_line(line) {
            lines
                .tags
                .entry(tag.to_string())
                .or_default()
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
    }
    lines
}

/// On test hosts whose package cache is shared with others (volumes of the
/// platform's, made by the container driver), this file is there, and
/// apt-get runs under its lock (`flock`), one host at a time: apt's own
/// locks would make a second host fail rather than wait.
pub const SHARED_PACKAGE_CACHE: &str = "/var/cache/apt/archives/.redgreen-shared";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Run `sh -c` with a script and return stdout.
    fn sh(script: &str) -> Vec<u8> {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh runs")
            .stdout
    }

    #[test]
    fn quoting_survives_the_shell() {
        for text in [
            "plain",
            "with space",
            "it's",
            "$(rm -rf /)",
            "`x`",
            "a\nb",
            "\\",
            "\"",
            "",
            "*",
        ] {
            let out = sh(&format!("printf %s {}", quote(text)));
            assert_eq!(out, text.as_bytes(), "{text:?}");
        }
    }

    #[test]
    fn data_blocks_round_trip() {
        let data = b"line 1\nRG_DATA\n\x00\xff binary";
        let out = sh(&format!("base64 -d <<'RG_DATA'\n{}", data_block(data)));
        assert_eq!(out, data);
    }

    #[test]
    fn protocol_lines_parse() {
        let lines = parse_lines(
            "banner\n@p1 type file\n@p1 stat 644 0 0 root root\n@facts os_id debian\n@end\n",
        );
        assert!(lines.complete);
        assert_eq!(lines.get("p1", "type"), Some("file"));
        assert_eq!(lines.get("p1", "stat"), Some("644 0 0 root root"));
        assert_eq!(lines.get("facts", "os_id"), Some("debian"));
    }

    /// What `rg_text` printed for `text`, read back.
    fn through_rg_text(text: &str) -> Option<Vec<u8>> {
        let out = sh(&format!("{PRELUDE}rg_text t v {}", quote(text)));
        parse_lines(&String::from_utf8(out).unwrap()).text("t", "v")
    }

    #[test]
    fn printable_text_comes_as_it_is_and_the_rest_in_base64() {
        let out = sh(&format!(
            "{PRELUDE}rg_text t v 'root:x:0:0:root:/root:/bin/bash'"
        ));
        assert_eq!(out, b"@t v_text root:x:0:0:root:/root:/bin/bash\n");
        let out = sh(&format!(
            "{PRELUDE}rg_text t v \"$(printf 'caf\\303\\251\\r')\""
        ));
        assert_eq!(out, b"@t v Y2Fmw6kN\n");
        for text in [
            "",
            " lead and trail ",
            "*",
            "tab\there",
            "é",
            "cr\r",
            "$x `y`",
        ] {
            assert_eq!(
                through_rg_text(text).as_deref(),
                Some(text.as_bytes()),
                "{text:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_text_without_nul_is_one_word(text in "[^\u{0}]{0,40}") {
            let out = sh(&format!("printf %s {}", quote(&text)));
            prop_assert_eq!(out, text.as_bytes());
        }

        /// Values without NUL or a newline (a passwd line, a symlink's
        /// target as the probe reads it) come back as they were.
        #[test]
        fn rg_text_round_trips(text in "[^\u{0}\n]{0,40}") {
            prop_assert_eq!(through_rg_text(&text), Some(text.into_bytes()));
        }
    }
}
