//! The project's files on disk: walking its folders without ever leaving
//! it ([`walk`]), and reading a user's file as a regular file of bounded
//! size ([`read_regular`], [`read_source`]).

pub mod walk;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diag, Place, Source};

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

thread_local! {
    /// Texts that stand in for files during [`with_unsaved`].
    static UNSAVED: RefCell<HashMap<PathBuf, String>> = RefCell::new(HashMap::new());
}

/// Run `read` on this thread with `texts` standing in for the files at
/// those paths: [`read_source`] returns them instead of what is on disk.
/// The language server checks an editor's unsaved buffers this way with the
/// very loading code of `redgreen validate`. The files must exist (walking
/// a folder still finds files on disk).
pub fn with_unsaved<T>(texts: HashMap<PathBuf, String>, read: impl FnOnce() -> T) -> T {
    UNSAVED.with(|unsaved| *unsaved.borrow_mut() = texts);
    let out = read();
    UNSAVED.with(|unsaved| unsaved.borrow_mut().clear());
    out
}

/// Read a user's file as UTF-8 text, refusing files that are too large or not text.
///
/// `name` is how the file is shown in messages (relative to the project root).
pub fn read_source(path: &Path, name: &str) -> Result<Source, Diag> {
    if let Some(text) = UNSAVED.with(|unsaved| unsaved.borrow().get(path).cloned()) {
        return Ok(Source::new(name, text));
    }
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
