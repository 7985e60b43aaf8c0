//! Reading YAML files into typed models, with errors that point at the spot.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::DeserializeOwned;
use serde_saphyr::{Location, MessageFormatter, UserMessageFormatter};

use super::diagnostic::{Diag, Place, Source, closest};

/// The largest input file redgreen reads (YAML, templates, features).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why a file could not be read by [`read_regular`].
#[derive(Debug)]
pub enum Unreadable {
    /// Opening or reading failed.
    Io(std::io::Error),
    /// It is not a regular file (a FIFO, a device, a folder).
    NotAFile,
    /// It holds more than the limit (its size, or at least limit + 1).
    TooLarge(u64),
}

/// Read a regular file of at most `limit` bytes. A FIFO or a device is
/// refused without waiting on it (`/dev/zero` is not read until memory runs
/// out, a FIFO does not block), and a file that grows while it is read stops
/// at the limit.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, Unreadable> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        // Opening a FIFO for reading would wait for a writer.
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(Unreadable::Io)?;
    let meta = file.metadata().map_err(Unreadable::Io)?;
    if !meta.is_file() {
        return Err(Unreadable::NotAFile);
    }
    if meta.len() > limit {
        return Err(Unreadable::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(Unreadable::Io)?;
    if bytes.len() as u64 > limit {
        return Err(Unreadable::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Read a user's file as UTF-8 text, refusing files that are too large or not text.
///
/// `name` is how the file is shown in messages (relative to the project root).
pub fn read_source(path: &Path, name: &str) -> Result<Source, Diag> {
    let bytes = match read_regular(path, MAX_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(Unreadable::Io(e)) => {
            return Err(Diag::plain(format!("cannot read {name}: {e}"))
                .help("check the path; files are looked up relative to the project root"));
        }
        Err(Unreadable::NotAFile) => {
            return Err(Diag::plain(format!("{name} is not a regular file"))
                .help("redgreen reads regular files only (not FIFOs, devices or folders)"));
        }
        Err(Unreadable::TooLarge(size)) => {
            return Err(Diag::plain(format!(
                "{name} is too large ({size} bytes; redgreen reads files of at most {} MiB)",
                MAX_FILE_BYTES / 1024 / 1024
            ))
            .help("split it into smaller files, or keep large data in files/ and use `source:`"));
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(err) => {
            let offset = err.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(err.as_bytes()).into_owned();
            let source = Source::new(name, text);
            // The lossy text has replacement characters of a different width after
            // the bad byte, but the offset of the first bad byte is the same.
            Err(Diag::at(
                Place::new(&source, offset, 1),
                format!("{name} is not valid UTF-8"),
            )
            .label("this byte is not UTF-8")
            .help("save the file as UTF-8"))
        }
    }
}

/// Parse a YAML source into `T`, turning the first error into a diagnostic.
pub fn parse<T: DeserializeOwned>(source: &Source) -> Result<T, Diag> {
    if source.text.trim().is_empty() || only_comments(&source.text) {
        return Err(Diag::at(
            Place::new(source, 0, 0),
            format!("{} is empty", source.name),
        )
        .label("expected a YAML mapping here")
        .help("see `redgreen init` for a working example of each file"));
    }
    serde_saphyr::from_str::<T>(&source.text).map_err(|err| to_diag(source, &err))
}

fn only_comments(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---")
}

/// Convert a serde-saphyr error into a diagnostic, improving the wording of the
/// common mistakes (unknown names get a suggestion).
pub fn to_diag(source: &Source, err: &serde_saphyr::Error) -> Diag {
    let raw = UserMessageFormatter.format_message(err).into_owned();
    let place = err.location().map(|loc| place_of(source, loc));
    let (message, label, help) = reword(&raw);
    let mut diag = Diag::plain(message).label(label);
    diag.place = Some(Box::new(place.unwrap_or_else(|| Place::new(source, 0, 0))));
    if let Some(help) = help {
        diag = diag.help(help);
    }
    diag
}

/// The place in `source` that a serde-saphyr location points at.
pub fn place_of(source: &Source, loc: Location) -> Place {
    let span = loc.span();
    match (span.byte_offset(), span.byte_len()) {
        (Some(offset), Some(len)) => Place::new(source, offset as usize, len as usize),
        _ => {
            let offset = source.offset_of(loc.line() as usize, loc.column() as usize);
            Place::new(source, offset, 0)
        }
    }
}

static UNKNOWN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^unknown (field|variant) `([^`]*)`, (?:expected (?:one of )?(.*)|there are no (?:fields|variants))$")
        .expect("valid regex")
});
static MISSING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^missing field `([^`]*)`$").expect("valid regex"));

/// Returns (message, label, help).
fn reword(raw: &str) -> (String, String, Option<String>) {
    if let Some(caps) = UNKNOWN.captures(raw) {
        let what = if &caps[1] == "field" {
            "field"
        } else {
            "value"
        };
        let word = &caps[2];
        let expected: Vec<String> = caps
            .get(3)
            .map(|m| {
                m.as_str()
                    .split(", ")
                    .flat_map(|s| s.split(" or "))
                    .map(|s| s.trim_matches('`').trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let best = closest(word, expected.iter().map(String::as_str));
        let message = match best {
            Some(best) => format!("unknown {what} '{word}', did you mean '{best}'?"),
            None => format!("unknown {what} '{word}'"),
        };
        let help = if expected.is_empty() {
            format!("no {what}s are allowed here")
        } else {
            format!("expected one of: {}", expected.join(", "))
        };
        return (message, format!("unknown {what}"), Some(help));
    }
    if let Some(caps) = MISSING.captures(raw) {
        return (
            format!("missing field '{}'", &caps[1]),
            format!("add '{}' here", &caps[1]),
            None,
        );
    }
    (raw.to_string(), "here".to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        owner: Option<String>,
        state: Option<SampleState>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum SampleState {
        Present,
        Absent,
    }

    #[test]
    fn unknown_field_suggests_the_closest() {
        let source = Source::new("x.yml", "owner: root\nonwer: root\n");
        let diag = parse::<Sample>(&source).unwrap_err();
        assert_eq!(diag.message, "unknown field 'onwer', did you mean 'owner'?");
        assert_eq!(diag.place.unwrap().position(), "x.yml:2:1");
    }

    #[test]
    fn unknown_variant_suggests_the_closest() {
        let source = Source::new("x.yml", "state: presnt\n");
        let diag = parse::<Sample>(&source).unwrap_err();
        assert_eq!(
            diag.message,
            "unknown value 'presnt', did you mean 'present'?"
        );
    }

    #[test]
    fn empty_file_is_an_error() {
        let source = Source::new("x.yml", "# nothing\n");
        let diag = parse::<Sample>(&source).unwrap_err();
        assert_eq!(diag.message, "x.yml is empty");
    }
}
