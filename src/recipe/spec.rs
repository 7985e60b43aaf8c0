//! The values most resource types share: `state: present|absent` and a file mode.

use serde::Deserialize;

/// `state` of most resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// It must exist (the default).
    #[default]
    Present,
    /// It must not exist.
    Absent,
}

/// A file mode, written as octal digits: `"0644"`, `0755`, `"640"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Mode {
    /// The one rule for a mode, in recipes and in steps alike: 3 or 4 octal
    /// digits (`0644`, `644`, `2755`), optionally written `0o644`.
    pub fn from_octal(text: &str) -> Option<Mode> {
        let digits = text.trim();
        let digits = digits.strip_prefix("0o").unwrap_or(digits);
        let valid = (3..=4).contains(&digits.len()) && digits.chars().all(|c| c.is_digit(8));
        valid
            .then(|| u32::from_str_radix(digits, 8).ok())
            .flatten()
            .map(Mode)
    }

    /// Parse a mode of a recipe ([`Mode::from_octal`]), or say what is wrong.
    pub fn parse(text: &str) -> Result<Mode, String> {
        Mode::from_octal(text).ok_or_else(|| {
            format!(
                "invalid mode '{text}': expected 3 or 4 octal digits, like \"0644\" or \"0755\""
            )
        })
    }

    /// Four octal digits, as `stat -c %a` would print them zero-padded.
    pub fn octal(self) -> String {
        format!("{:04o}", self.0)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.octal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_digits() {
        assert_eq!(Mode::parse("0644"), Ok(Mode(0o644)));
        assert_eq!(Mode::parse("755"), Ok(Mode(0o755)));
        assert_eq!(Mode::parse("0o600"), Ok(Mode(0o600)));
        assert_eq!(Mode::parse("2755"), Ok(Mode(0o2755)));
        assert!(Mode::parse("0999").is_err());
        assert!(Mode::parse("rw-r--r--").is_err());
        assert!(Mode::parse("64").is_err());
        assert_eq!(Mode(0o644).octal(), "0644");
    }
}
