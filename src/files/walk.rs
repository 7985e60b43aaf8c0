//! Walking the project's folders (recipes/, templates/, files/, features/)
//! and opening the files a recipe names, without ever leaving the project.
//!
//! Symbolic links are followed only to what is inside the project: a link
//! that resolves outside it (`files/x -> /etc/shadow`, `templates/a -> /`) is
//! reported, never read, and a link back into a folder already walked
//! (`templates/a -> .`) is not walked again, so a walk always ends. Broken
//! and looping links lead nowhere and are skipped, like anything that is
//! neither a regular file nor a folder (FIFOs, devices, sockets).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diag;

/// What a walk finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A regular file (or a link to one inside the project), by the path
    /// it has under the folder walked.
    File(PathBuf),
    /// A link that resolves outside the project.
    Outside {
        /// The link, by the path it has under the folder walked.
        link: PathBuf,
        /// Where it leads.
        target: PathBuf,
    },
}

/// Everything below `dir`, a folder of the project at `root`, in sorted
/// order, skipping hidden entries.
pub fn walk(root: &Path, dir: &Path, f: &mut dyn FnMut(Found)) {
    let Ok(root) = root.canonicalize() else {
        return;
    };
    // The folder itself may be a link.
    let Ok(real) = dir.canonicalize() else {
        return;
    };
    if !real.starts_with(&root) {
        f(Found::Outside {
            link: dir.to_path_buf(),
            target: real,
        });
        return;
    }
    if !real.is_dir() {
        return;
    }
    let mut walked = HashSet::from([real.clone()]);
    walk_in(&root, dir, &real, &mut walked, f);
}

/// Walk `dir`, which really is `real`.
fn walk_in(
    root: &Path,
    dir: &Path,
    real_dir: &Path,
    walked: &mut HashSet<PathBuf>,
    f: &mut dyn FnMut(Found),
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        let Ok(own) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if own.is_file() {
            f(Found::File(path));
            continue;
        }
        if !own.is_dir() && !own.is_symlink() {
            continue; // a FIFO, device or socket
        }
        // Where it really is (following every link on the way); a broken or
        // looping link has no such place.
        let Ok(real) = path.canonicalize() else {
            continue;
        };
        if !real.starts_with(root) {
            f(Found::Outside {
                link: path,
                target: real,
            });
            continue;
        }
        if real.is_dir() {
            // A link to this folder or one it is in would lead round in a
            // loop; one to a folder already walked, twice over the same files.
            if !real_dir.starts_with(&real) && walked.insert(real.clone()) {
                walk_in(root, &path, &real, walked, f);
            }
        } else if real.is_file() {
            f(Found::File(path));
        }
    }
}

/// Every regular file below `dir` (links to outside the project left out:
/// the loaders that read them report them, see [`outside_links`]).
pub fn files(root: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(root, dir, &mut |found| {
        if let Found::File(path) = found {
            out.push(path);
        }
    });
    out
}

/// Every file below `dir`, and a problem for each link that leads outside
/// the project (`shown` is how `dir` is named in messages, like `templates`).
pub fn files_or_problems(root: &Path, dir: &Path, shown: &str) -> (Vec<PathBuf>, Vec<Diag>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    walk(root, dir, &mut |found| match found {
        Found::File(path) => files.push(path),
        Found::Outside { link, target } => {
            let name = match link.strip_prefix(dir) {
                Ok(rest) if !rest.as_os_str().is_empty() => {
                    format!("{shown}/{}", rest.display())
                }
                _ => shown.to_string(),
            };
            problems.push(outside(&name, &target));
        }
    });
    (files, problems)
}

/// The problem of a link `name` (as shown) that leads to `target`, outside
/// the project.
pub fn outside(name: &str, target: &Path) -> Diag {
    Diag::plain(format!(
        "{name} is a link to {}, outside the project",
        target.display()
    ))
    .help("redgreen reads only files inside the project (a recipe could otherwise send any file of this machine to a host); copy the file into the project, or make the link point inside it")
}

/// Why a file a recipe names cannot be used.
#[derive(Debug)]
pub enum Unusable {
    /// It does not exist (or is a broken or looping link).
    Missing,
    /// It resolves outside the project.
    Outside(PathBuf),
    /// It is not a regular file (a folder, a FIFO, a device).
    NotAFile,
}

/// The file at `path` (a path under the project at `root`), after checking
/// that it resolves inside the project and is a regular file.
pub fn resolve(root: &Path, path: &Path) -> Result<PathBuf, Unusable> {
    let real = path.canonicalize().map_err(|_| Unusable::Missing)?;
    let root = root.canonicalize().map_err(|_| Unusable::Missing)?;
    if !real.starts_with(&root) {
        return Err(Unusable::Outside(real));
    }
    if !real.is_file() {
        return Err(Unusable::NotAFile);
    }
    Ok(real)
}

/// Read a file a recipe names (`shown` as in messages, like `files/motd`):
/// only a regular file inside the project.
pub fn read_inside(root: &Path, path: &Path, shown: &str) -> Result<Vec<u8>, String> {
    match resolve(root, path) {
        Ok(real) => std::fs::read(&real).map_err(|e| format!("cannot read {shown}: {e}")),
        Err(Unusable::Missing) => Err(format!("cannot read {shown}: no such file")),
        Err(Unusable::Outside(target)) => Err(format!(
            "{shown} is a link to {}, outside the project",
            target.display()
        )),
        Err(Unusable::NotAFile) => Err(format!("{shown} is not a regular file")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn found(root: &Path, dir: &str) -> Vec<String> {
        let mut out = Vec::new();
        walk(root, &root.join(dir), &mut |found| {
            out.push(match found {
                Found::File(p) => p.strip_prefix(root).unwrap().display().to_string(),
                Found::Outside { link, target } => format!(
                    "{} -> outside {}",
                    link.strip_prefix(root).unwrap().display(),
                    target.display()
                ),
            })
        });
        out
    }

    #[test]
    fn links_are_followed_inside_the_project_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("templates/sub")).unwrap();
        std::fs::create_dir_all(root.join("shared")).unwrap();
        std::fs::write(root.join("templates/a.hbs"), "a").unwrap();
        std::fs::write(root.join("templates/sub/b.hbs"), "b").unwrap();
        std::fs::write(root.join("shared/c.hbs"), "c").unwrap();
        symlink("..", root.join("templates/sub/up")).unwrap();
        symlink("..", root.join("templates/root")).unwrap();
        symlink(".", root.join("templates/self")).unwrap();
        symlink("/", root.join("templates/slash")).unwrap();
        symlink("/etc/passwd", root.join("templates/host")).unwrap();
        symlink("../shared", root.join("templates/shared")).unwrap();
        symlink("loop", root.join("templates/loop")).unwrap();
        symlink("missing", root.join("templates/broken")).unwrap();
        assert_eq!(
            found(root, "templates"),
            [
                "templates/a.hbs",
                "templates/host -> outside /etc/passwd",
                "templates/shared/c.hbs",
                "templates/slash -> outside /",
                "templates/sub/b.hbs",
            ]
        );
    }

    #[test]
    fn a_folder_that_is_a_link_outside_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/etc", dir.path().join("files")).unwrap();
        assert_eq!(found(dir.path(), "files"), ["files -> outside /etc"]);
    }

    #[test]
    fn named_files_must_be_regular_and_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("files")).unwrap();
        std::fs::write(root.join("files/motd"), "hi").unwrap();
        symlink("motd", root.join("files/again")).unwrap();
        symlink("/etc/passwd", root.join("files/host")).unwrap();
        symlink("/dev/zero", root.join("files/zero")).unwrap();
        let read = |name: &str| read_inside(root, &root.join("files").join(name), name);
        assert_eq!(read("again").unwrap(), b"hi");
        assert!(read("host").unwrap_err().contains("outside the project"));
        assert!(read("zero").unwrap_err().contains("outside the project"));
        assert!(read("none").unwrap_err().contains("no such file"));
        assert!(matches!(
            resolve(root, &root.join("files")),
            Err(Unusable::NotAFile)
        ));
    }
}
