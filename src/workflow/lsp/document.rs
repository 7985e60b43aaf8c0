//! Places as an editor counts them: lines from 0 and columns in UTF-16 code
//! units (the Language Server Protocol's default), from and to the byte
//! offsets of [`crate::diagnostic`], and problems turned into editor
//! diagnostics.

use tower_lsp_server::ls_types::{Diagnostic, DiagnosticSeverity, Position, Range};

use crate::diagnostic::Diag;

/// The position of byte `offset` in `text`.
pub fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character = text[line_start..offset].encode_utf16().count();
    Position::new(line as u32, character as u32)
}

/// The byte offset of `position` in `text` (the end of the line or of the
/// text when it points past them).
pub fn offset(text: &str, position: Position) -> usize {
    let mut line_start = 0;
    for _ in 0..position.line {
        match text[line_start..].find('\n') {
            Some(at) => line_start += at + 1,
            None => return text.len(),
        }
    }
    let line = text[line_start..].split('\n').next().unwrap_or("");
    let mut units = 0;
    for (at, c) in line.char_indices() {
        if units >= position.character as usize {
            return line_start + at;
        }
        units += c.len_utf16();
    }
    line_start + line.len()
}

/// The range of bytes `start..end` of `text`.
pub fn range(text: &str, start: usize, end: usize) -> Range {
    Range::new(position(text, start), position(text, end))
}

/// The line `position` is on, up to `position`.
pub fn line_before(text: &str, position: Position) -> &str {
    let at = offset(text, position);
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    &text[start..at]
}

/// A problem as an editor shows it: at its place (the start of the file when
/// it has none), with what to do after the message.
pub fn diagnostic(diag: &Diag) -> Diagnostic {
    let range = match &diag.place {
        Some(place) => {
            let start = place.span.offset();
            range(&place.source.text, start, start + place.span.len())
        }
        None => Range::default(),
    };
    let message = match &diag.help {
        Some(help) => format!("{}\n{help}", diag.message),
        None => diag.message.clone(),
    };
    Diagnostic {
        range,
        severity: Some(DiagnosticSeverity::ERROR),
        source: Some("redgreen".to_string()),
        message,
        ..Diagnostic::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_from_zero() {
        let text = "ab\nçé😀x\n";
        assert_eq!(position(text, 0), Position::new(0, 0));
        assert_eq!(position(text, 3), Position::new(1, 0));
        // ç and é are one unit each, the emoji two.
        let x = text.find('x').unwrap();
        assert_eq!(position(text, x), Position::new(1, 4));
        assert_eq!(offset(text, Position::new(1, 4)), x);
        assert_eq!(offset(text, Position::new(0, 99)), 2);
        assert_eq!(offset(text, Position::new(9, 0)), text.len());
        assert_eq!(line_before(text, Position::new(1, 2)), "çé");
    }
}
