//! Errors about what a user typed: a message, the file, the spot, and what to do.
//! A leaf: every layer may use it, it uses none.
//!
//! Every problem found in `redgreen.yml`, a recipe, a template or a feature
//! becomes a [`Diag`]. It renders through miette with the file name, line and
//! column and a caret under the spot, and may carry related places (the first
//! declaration of a duplicate, the steps of an include cycle).

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, SourceCode, SourceSpan};

/// A file the user wrote, kept whole so that errors can quote it.
#[derive(Clone, Debug)]
pub struct Source {
    /// The name shown in messages: a path relative to the project root.
    pub name: String,
    /// The file's text.
    pub text: Arc<String>,
}

impl Source {
    /// A source from a name and its text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: Arc::new(text.into()),
        }
    }

    /// The 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// The place that a location of the YAML parser (serde-saphyr) points at.
    pub fn place(&self, loc: serde_saphyr::Location) -> Place {
        let span = loc.span();
        match (span.byte_offset(), span.byte_len()) {
            (Some(offset), Some(len)) => Place::new(self, offset as usize, len as usize),
            _ => {
                let offset = self.offset_of(loc.line() as usize, loc.column() as usize);
                Place::new(self, offset, 0)
            }
        }
    }

    /// The byte offset of a 1-based line and column (columns count characters).
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let mut offset = 0;
        for (index, text) in self.text.split_inclusive('\n').enumerate() {
            if index + 1 == line {
                let within: usize = text
                    .chars()
                    .take(column.saturating_sub(1))
                    .map(char::len_utf8)
                    .sum();
                return offset + within;
            }
            offset += text.len();
        }
        self.text.len()
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A place in a source file.
#[derive(Clone, Debug)]
pub struct Place {
    /// The file.
    pub source: Source,
    /// Byte range in the file.
    pub span: SourceSpan,
}

impl Place {
    /// A place at `offset` of `len` bytes in `source`.
    pub fn new(source: &Source, offset: usize, len: usize) -> Self {
        Self {
            source: source.clone(),
            span: SourceSpan::new(offset.into(), len),
        }
    }

    /// `file:line:column`, as shown in one-line messages.
    pub fn position(&self) -> String {
        let (line, column) = self.source.line_col(self.span.offset());
        format!("{}:{line}:{column}", self.source.name)
    }
}

/// One problem in the user's input.
#[derive(Clone, Debug)]
pub struct Diag {
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where it is, if it is somewhere in a file.
    pub place: Option<Box<Place>>,
    /// The words under the caret.
    pub label: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Other places that explain this one (the first declaration, ...).
    pub related: Vec<Diag>,
}

impl Diag {
    /// A problem that is not tied to a spot in a file (a missing file, a bad flag).
    pub fn plain(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            place: None,
            label: String::new(),
            help: None,
            related: Vec::new(),
        }
    }

    /// A problem at a place in a file.
    pub fn at(place: Place, message: impl Into<String>) -> Self {
        Self {
            place: Some(Box::new(place)),
            ..Self::plain(message)
        }
    }

    /// Set the words under the caret.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Set what the user should do.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Add a sentence to the help text (after what is there).
    pub fn also(mut self, note: impl Into<String>) -> Self {
        let note = note.into();
        self.help = Some(match self.help.take() {
            Some(help) => format!("{help}\n{note}"),
            None => note,
        });
        self
    }

    /// Attach a related place.
    pub fn related(mut self, related: Diag) -> Self {
        self.related.push(related);
        self
    }

    /// `unknown WHAT 'NAME', did you mean 'X'?` at `place`, with what to do and
    /// the names there are.
    pub fn unknown(place: Place, what: &str, name: &str, known: &[&str], fix: &str) -> Diag {
        let (best, list) = suggestion(name, known);
        let message = match best {
            Some(best) => format!("unknown {what} '{name}', did you mean '{best}'?"),
            None => format!("unknown {what} '{name}'"),
        };
        let help = if known.is_empty() {
            fix.to_string()
        } else {
            format!("{fix}; {list}")
        };
        Diag::at(place, message)
            .label(format!("unknown {what}"))
            .help(help)
    }

    /// `unknown WHAT 'NAME', did you mean 'X'?`, not tied to a place (a
    /// command-line argument), with the names there are as its help.
    pub fn unknown_plain(what: &str, name: &str, known: &[&str]) -> Diag {
        let (best, list) = suggestion(name, known);
        let message = match best {
            Some(best) => format!("unknown {what} '{name}', did you mean '{best}'?"),
            None => format!("unknown {what} '{name}'"),
        };
        Diag::plain(message).help(list)
    }

    /// The message with its position, on one line: `file:line:col: message`.
    pub fn one_line(&self) -> String {
        match &self.place {
            Some(place) => format!("{}: {}", place.position(), self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diag {}

impl Diagnostic for Diag {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.place.as_ref().map(|p| &p.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let place = self.place.as_ref()?;
        let label = (!self.label.is_empty()).then(|| self.label.clone());
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            label, place.span,
        ))))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|d| d as &dyn Diagnostic)))
    }
}

impl SourceCode for Source {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let contents =
            self.text
                .as_str()
                .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            *contents.span(),
            contents.line(),
            contents.column(),
            contents.line_count(),
        )))
    }
}

/// Every problem found in one pass over the input.
#[derive(Debug, Clone, Default)]
pub struct Diags(pub Vec<Diag>);

impl Diags {
    /// Record a problem.
    pub fn push(&mut self, diag: Diag) {
        self.0.push(diag);
    }

    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when empty, else the problems.
    pub fn into_result(self) -> Result<(), Diags> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl From<Diag> for Diags {
    fn from(diag: Diag) -> Self {
        Self(vec![diag])
    }
}

/// The closest of `candidates` to `word`, if any is close enough to be a likely
/// typo: few edits away (transpositions count as one), or alike by Jaro-Winkler.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            let lower = c.to_lowercase();
            let edits = strsim::damerau_levenshtein(&word, &lower);
            (edits, strsim::jaro_winkler(&word, &lower), c)
        })
        .filter(|(edits, similarity, _)| *edits <= limit || *similarity >= 0.8)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| c)
}

/// "did you mean 'x'?" or the list of valid names, for help texts.
pub fn suggestion<'a>(word: &str, candidates: &[&'a str]) -> (Option<&'a str>, String) {
    let best = closest(word, candidates.iter().copied());
    let list = candidates
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    (best, format!("valid names are {list}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos() {
        let fields = ["owner", "group", "mode", "content", "source", "state"];
        assert_eq!(closest("onwer", fields), Some("owner"));
        assert_eq!(closest("grup", fields), Some("group"));
        assert_eq!(closest("contnet", fields), Some("content"));
        assert_eq!(closest("zzzz", fields), None);
        assert_eq!(closest("wbe", ["web"]), Some("web"));
        assert_eq!(closest("wbe1", ["web", "web1"]), Some("web1"));
    }

    #[test]
    fn line_col_counts_from_one() {
        let source = Source::new("a.yml", "ab\ncd\n");
        assert_eq!(source.line_col(0), (1, 1));
        assert_eq!(source.line_col(3), (2, 1));
        assert_eq!(source.line_col(4), (2, 2));
        assert_eq!(source.offset_of(2, 2), 4);
    }
}
