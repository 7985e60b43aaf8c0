//! The one way redgreen prints for people, and the one way text from users
//! and hosts is made safe to show on a terminal.
//!
//! * [`print`] and [`eprint`] (and the [`outln!`](crate::outln) and
//!   [`errln!`](crate::errln) macros) mask secrets and never fail: a closed
//!   pipe (`redgreen validate | head -1`) or a full disk drops what cannot be
//!   written, and the command goes on and ends as it would have. Nothing
//!   panics on a write.
//! * [`shown`] escapes a name, path or value for display: control characters
//!   (escape sequences, carriage returns, line breaks) and the invisible
//!   characters that reorder text are printed as `\x1b`, `\r`, `\u{202e}`,
//!   never raw, so no name can move the cursor, recolour or hide what a plan
//!   shows. [`shown_text`] does the same for text of several lines (messages
//!   from a host, diffs), keeping line breaks and tabs.
//! * As a last line of defence, everything printed goes through
//!   [`terminal_safe`], which escapes any control character that redgreen's
//!   own output never holds: everything but line breaks, tabs and colour
//!   codes (`ESC [ … m`).
//! * [`colour`] is the one decision whether a stream gets colours
//!   (`NO_COLOR`, `CLICOLOR_FORCE`, `CLICOLOR`, a terminal or not), and
//!   [`quiet`] whether redgreen shows anything but errors and the data asked
//!   for (`--quiet`); [`setup`] applies both once, at the start.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where a text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output: reports and data.
    Stdout,
    /// Standard error: progress and errors.
    Stderr,
}

/// What colour decisions read from the environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColourEnv {
    /// `NO_COLOR` is set and not empty.
    pub no_color: bool,
    /// `CLICOLOR_FORCE` is set and neither empty nor `0`.
    pub clicolor_force: bool,
    /// `CLICOLOR=0`.
    pub clicolor_off: bool,
    /// `TERM` is unset or `dumb`.
    pub dumb_term: bool,
}

impl ColourEnv {
    /// This process's environment.
    pub fn current() -> ColourEnv {
        ColourEnv {
            no_color: anstyle_query::no_color(),
            clicolor_force: anstyle_query::clicolor_force(),
            clicolor_off: anstyle_query::clicolor() == Some(false),
            dumb_term: !anstyle_query::term_supports_color(),
        }
    }

    /// Whether a stream that is (or is not) a terminal gets colours:
    /// `NO_COLOR` wins, then `CLICOLOR_FORCE`, then `CLICOLOR=0`; otherwise
    /// colours only on a terminal that is not `TERM=dumb`.
    pub fn colour(self, terminal: bool) -> bool {
        if self.no_color {
            return false;
        }
        if self.clicolor_force {
            return true;
        }
        !self.clicolor_off && terminal && !self.dumb_term
    }
}

/// Whether `stream` gets colours (see [`ColourEnv::colour`]).
pub fn colour(stream: Stream) -> bool {
    let terminal = match stream {
        Stream::Stdout => std::io::stdout().is_terminal(),
        Stream::Stderr => std::io::stderr().is_terminal(),
    };
    ColourEnv::current().colour(terminal)
}

static QUIET: AtomicBool = AtomicBool::new(false);

/// Apply `--quiet` and the colour decision to everything that prints:
/// owo-colors (reports, on stdout), console (indicatif's progress, on
/// stderr). Miette's diagnostics ask [`colour`] themselves.
pub fn setup(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
    owo_colors::set_override(colour(Stream::Stdout));
    console::set_colors_enabled(colour(Stream::Stdout));
    console::set_colors_enabled_stderr(colour(Stream::Stderr));
}

/// True under `--quiet`: errors and the data asked for only.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether progress (spinners, bars, phase lines) is shown: on a terminal,
/// and not under `--quiet`.
pub fn progress() -> bool {
    !quiet() && std::io::stderr().is_terminal()
}

/// The progress lines on the terminal now, if any (see [`show_progress`]).
static LIVE: std::sync::Mutex<Option<indicatif::MultiProgress>> = std::sync::Mutex::new(None);

/// Say that `bars` are the progress lines on the terminal, so that a
/// message from elsewhere (a signal's) is printed above them, not through
/// them; `None` when they are gone.
pub fn show_progress(bars: Option<indicatif::MultiProgress>) {
    *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = bars;
}

/// Run `print` with the progress lines taken off the terminal (they come
/// back below what it printed); false, without running it, when none are
/// shown.
pub fn above_progress(print: impl FnOnce()) -> bool {
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match live {
        Some(bars) if progress() => {
            bars.suspend(print);
            true
        }
        _ => false,
    }
}

/// Print what a command produces for people (a report, a recap, a list) to
/// stdout; nothing under `--quiet`. Data asked for goes through [`data`].
pub fn print(text: &str) {
    if !quiet() {
        data(text);
    }
}

/// Print a command's report for people: to stdout; under `--quiet`, to
/// stderr and only when the run `failed` (what failed is an error to show).
pub fn report(text: &str, failed: bool) {
    if !quiet() {
        data(text);
    } else if failed {
        eprint(text);
    }
}

/// Print data that was asked for (JSON, a schema, completions, a man page)
/// to stdout, also under `--quiet`.
pub fn data(text: &str) {
    write_to(&mut std::io::stdout().lock(), text);
}

/// Print a note for people to stderr ("wrote report.html", a phase that
/// started); nothing under `--quiet`. Errors and warnings go through
/// [`eprint`].
pub fn note(text: &str) {
    if !quiet() {
        eprint(text);
    }
}

/// Print to stderr: secrets masked, never raw control characters, never a
/// panic (a closed pipe drops the text). Errors and warnings: shown under
/// `--quiet` too.
pub fn eprint(text: &str) {
    write_to(&mut std::io::stderr().lock(), text);
}

fn write_to(out: &mut dyn Write, text: &str) {
    let masked = crate::secrets::redact(text);
    let safe = terminal_safe(&masked);
    // A reader that went away (EPIPE) or a full disk is not worth a panic:
    // the work goes on, and the exit code still says how it went.
    let _ = out.write_all(safe.as_bytes());
    let _ = out.flush();
}

/// Print a line to stdout through [`output::print`](crate::output::print).
#[macro_export]
macro_rules! outln {
    () => { $crate::output::print("\n") };
    ($($arg:tt)*) => { $crate::output::print(&format!("{}\n", format_args!($($arg)*))) };
}

/// Print a note line to stderr through [`output::note`](crate::output::note)
/// (nothing under `--quiet`).
#[macro_export]
macro_rules! noteln {
    ($($arg:tt)*) => { $crate::output::note(&format!("{}\n", format_args!($($arg)*))) };
}

/// Print a line to stderr through [`output::eprint`](crate::output::eprint).
#[macro_export]
macro_rules! errln {
    () => { $crate::output::eprint("\n") };
    ($($arg:tt)*) => { $crate::output::eprint(&format!("{}\n", format_args!($($arg)*))) };
}

/// stdout for writers that take an [`std::io::Write`] (cucumber's): writes
/// never fail, so a closed pipe cannot make them panic.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stdout().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stdout().flush();
        Ok(())
    }
}

/// A name, path or value as shown to people: every control character and
/// every character that reorders text escaped (`\x1b`, `\r`, `\n`, `\u{202e}`).
pub fn shown(text: &str) -> Cow<'_, str> {
    escape(text, &[])
}

/// Text of several lines as shown to people: like [`shown`], but line breaks
/// and tabs stay.
pub fn shown_text(text: &str) -> Cow<'_, str> {
    escape(text, &['\n', '\t'])
}

/// True for the characters [`shown`] escapes: C0 and C1 control characters,
/// DEL, and the invisible marks and overrides that change the order or the
/// joining of text (as in "Trojan Source").
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

fn escape<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    if !text.chars().any(|c| needs_escape(c) && !keep.contains(&c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) || keep.contains(&c) {
            out.push(c);
            continue;
        }
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// Text ready for a terminal: line breaks, tabs and colour codes
/// (`ESC [ digits ; … m`, what redgreen and its diagnostics use) stay; every
/// other control character is escaped.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    let unsafe_at = |text: &str| {
        let bytes = text.as_bytes();
        text.char_indices().any(|(i, c)| {
            needs_escape(c)
                && !matches!(c, '\n' | '\t')
                && !(c == '\x1b' && colour_len(&bytes[i..]) > 0)
        })
    };
    if !unsafe_at(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let colour = if c == '\x1b' {
            colour_len(rest.as_bytes())
        } else {
            0
        };
        if colour > 0 {
            out.push_str(&rest[..colour]);
            rest = &rest[colour..];
            continue;
        }
        if needs_escape(c) && !matches!(c, '\n' | '\t') {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// The length of the colour code (`ESC [ 0-9; … m`) at the start of `bytes`,
/// or 0.
fn colour_len(bytes: &[u8]) -> usize {
    if bytes.len() < 3 || bytes[0] != 0x1b || bytes[1] != b'[' {
        return 0;
    }
    for (i, b) in bytes.iter().enumerate().skip(2) {
        match b {
            b'0'..=b'9' | b';' => continue,
            b'm' => return i + 1,
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_no_color_then_clicolor_force_then_the_terminal() {
        let plain = ColourEnv::default();
        assert!(plain.colour(true));
        assert!(!plain.colour(false));
        let forced = ColourEnv {
            clicolor_force: true,
            ..plain
        };
        assert!(forced.colour(false));
        let no_color = ColourEnv {
            no_color: true,
            ..forced
        };
        assert!(!no_color.colour(true), "NO_COLOR wins over CLICOLOR_FORCE");
        let off = ColourEnv {
            clicolor_off: true,
            ..plain
        };
        assert!(!off.colour(true));
        let dumb = ColourEnv {
            dumb_term: true,
            ..plain
        };
        assert!(!dumb.colour(true));
    }

    #[test]
    fn names_show_every_control_character_escaped() {
        assert_eq!(shown("/etc/motd"), "/etc/motd");
        assert_eq!(shown("/tmp/a\x1b[2Jb"), "/tmp/a\\x1b[2Jb");
        assert_eq!(shown("/tmp/ok\r/etc/passwd"), "/tmp/ok\\r/etc/passwd");
        assert_eq!(shown("a\nb\tc\0"), "a\\nb\\tc\\x00");
        assert_eq!(shown("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(shown("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(shown("café 中"), "café 中");
    }

    #[test]
    fn text_keeps_its_lines() {
        assert_eq!(shown_text("a\n\tb\r\n"), "a\n\tb\\r\n");
    }

    #[test]
    fn the_terminal_gets_colours_but_nothing_else() {
        let red = "\x1b[31mfailed\x1b[0m";
        assert_eq!(terminal_safe(red), red);
        assert_eq!(
            terminal_safe("\x1b[1;32mok\x1b[39m\n"),
            "\x1b[1;32mok\x1b[39m\n"
        );
        assert_eq!(terminal_safe("a\rb"), "a\\rb");
        assert_eq!(
            terminal_safe("\x1b[2J\x1b]0;title\x07"),
            "\\x1b[2J\\x1b]0;title\\x07"
        );
        assert_eq!(terminal_safe("\x1b[31"), "\\x1b[31");
    }
}
