//! Where reports go: the one [`Format`] every command writes, `--format
//! NAME[:FILE]` read into [`Destination`]s, and [`Out`], the one place that
//! opens a destination and writes to it, every secret masked.
//!
//! Masking comes before escaping: what escapes (JSON, HTML, XML) masks what
//! it is given first ([`crate::secrets::to_json`], the HTML report's
//! escaping); [`Out`] masks everything it writes once more, the last line
//! of defence, and writes to stdout through [`crate::output`] (never a raw
//! control character, never a panic).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diag, suggestion};

/// A report's format: what every command can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people: live progress and a summary.
    Pretty,
    /// redgreen's JSON: one document with every result.
    Json,
    /// JUnit XML: one testcase per (scenario, host).
    Junit,
    /// Cucumber JSON (the standard schema of cucumber's report tools).
    CucumberJson,
    /// One self-contained HTML page with a host × scenario grid.
    Html,
}

impl Format {
    /// Every format by the name `--format` takes.
    pub const NAMES: [(&'static str, Format); 5] = [
        ("pretty", Format::Pretty),
        ("json", Format::Json),
        ("junit", Format::Junit),
        ("cucumber-json", Format::CucumberJson),
        ("html", Format::Html),
    ];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        Format::NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("pretty", |(n, _)| n)
    }
}

/// A format and where it writes (`--format NAME[:FILE]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The format.
    pub format: Format,
    /// Its file (None: stdout).
    pub file: Option<PathBuf>,
}

/// Parse `--format` values (`NAME` or `NAME:FILE`) and `--out`, the way
/// cucumber does: a format without a file writes to stdout, at most one may,
/// and when none does, pretty does. `--out FILE` writes the one format
/// without a file (default: pretty) to FILE instead of stdout.
pub fn destinations(formats: &[String], out: Option<&PathBuf>) -> Result<Vec<Destination>, Diag> {
    let mut outputs = Vec::new();
    for spec in formats {
        let (name, file) = match spec.split_once(':') {
            Some((name, file)) if !file.is_empty() => (name, Some(PathBuf::from(file))),
            Some((name, _)) => (name, None),
            None => (spec.as_str(), None),
        };
        let Some((_, format)) = Format::NAMES.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = Format::NAMES.iter().map(|(n, _)| *n).collect();
            let (best, list) = suggestion(name, &names);
            return Err(Diag::plain(match best {
                Some(best) => format!("unknown format '{name}', did you mean '{best}'?"),
                None => format!("unknown format '{name}'"),
            })
            .help(format!(
                "{list}; add :FILE to write to a file (--format junit:report.xml)"
            )));
        };
        outputs.push(Destination {
            format: *format,
            file,
        });
    }
    // `--out` sends the one format without a file (default: pretty) there,
    // instead of stdout.
    if let Some(out) = out {
        let without_file: Vec<usize> = (0..outputs.len())
            .filter(|&i| outputs[i].file.is_none())
            .collect();
        match without_file[..] {
            [] if outputs.is_empty() => outputs.push(Destination {
                format: Format::Pretty,
                file: Some(out.clone()),
            }),
            [i] => outputs[i].file = Some(out.clone()),
            _ => {
                return Err(Diag::plain(
                    "--out needs exactly one --format without a file",
                )
                .help("name the files with the formats instead: --format junit:report.xml --format json:report.json"));
            }
        }
        return Ok(outputs);
    }
    let stdout = outputs.iter().filter(|o| o.file.is_none()).count();
    if stdout > 1 {
        return Err(Diag::plain("more than one --format writes to stdout")
            .help("give all but one a file: --format pretty --format junit:report.xml"));
    }
    if stdout == 0 {
        outputs.insert(
            0,
            Destination {
                format: Format::Pretty,
                file: None,
            },
        );
    }
    Ok(outputs)
}

/// An open destination: stdout, or a file. Everything written is masked.
pub enum Out {
    /// stdout, for people, through [`crate::output::print`] (nothing under
    /// `--quiet`).
    Stdout,
    /// stdout, a machine format, through [`crate::output::data`] (under
    /// `--quiet` too).
    Data,
    /// A file.
    File(io::BufWriter<std::fs::File>),
}

impl Out {
    /// Open where `destination` writes (creating its directory).
    pub fn open(destination: &Destination) -> Result<Out, Diag> {
        match &destination.file {
            None if destination.format == Format::Pretty => Ok(Out::Stdout),
            None => Ok(Out::Data),
            Some(path) => Out::create(path),
        }
    }

    /// Create `path` (and its directory) to write to.
    pub fn create(path: &Path) -> Result<Out, Diag> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| Diag::plain(format!("cannot create {}: {e}", parent.display())))?;
        }
        let file = std::fs::File::create(path)
            .map_err(|e| Diag::plain(format!("cannot write {}: {e}", path.display())))?;
        Ok(Out::File(io::BufWriter::new(file)))
    }

    /// Write `text`, masked. A reader that went away drops it (see
    /// [`crate::output`]).
    pub fn write_text(&mut self, text: &str) {
        match self {
            Out::Stdout => crate::output::print(text),
            Out::Data => crate::output::data(text),
            Out::File(file) => {
                let _ = file.write_all(crate::secrets::redact(text).as_bytes());
                let _ = file.flush();
            }
        }
    }
}

/// `value` as redgreen's JSON: pretty, every secret masked before it is
/// escaped, and a line break at the end.
pub fn json(value: &impl serde::Serialize) -> String {
    crate::secrets::to_json(value) + "\n"
}

/// Write `text` to `path`, masked, or print it when there is no path.
pub fn write_to(path: Option<&Path>, text: &str) -> io::Result<()> {
    match path {
        Some(path) => std::fs::write(path, crate::secrets::redact(text).as_bytes()),
        None => {
            crate::output::print(text);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(formats: &[&str], out: Option<&str>) -> Result<Vec<(Format, Option<String>)>, String> {
        let formats: Vec<String> = formats.iter().map(|s| s.to_string()).collect();
        destinations(&formats, out.map(PathBuf::from).as_ref())
            .map(|o| {
                o.into_iter()
                    .map(|o| (o.format, o.file.map(|f| f.display().to_string())))
                    .collect()
            })
            .map_err(|d| d.message)
    }

    #[test]
    fn formats_follow_cucumber() {
        assert_eq!(specs(&[], None), Ok(vec![(Format::Pretty, None)]));
        assert_eq!(
            specs(&["junit:r.xml"], None),
            Ok(vec![
                (Format::Pretty, None),
                (Format::Junit, Some("r.xml".into()))
            ])
        );
        assert_eq!(
            specs(&["json", "cucumber-json:c.json"], None),
            Ok(vec![
                (Format::Json, None),
                (Format::CucumberJson, Some("c.json".into()))
            ])
        );
        assert_eq!(
            specs(&["junit"], Some("r.xml")),
            Ok(vec![(Format::Junit, Some("r.xml".into()))])
        );
        assert_eq!(
            specs(&[], Some("out.txt")),
            Ok(vec![(Format::Pretty, Some("out.txt".into()))])
        );
        assert!(specs(&["json", "junit"], Some("x")).is_err());
        assert_eq!(
            specs(&["json", "junit"], None),
            Err("more than one --format writes to stdout".into())
        );
        assert_eq!(
            specs(&["junt:x"], None),
            Err("unknown format 'junt', did you mean 'junit'?".into())
        );
    }
}
