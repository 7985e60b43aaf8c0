//! Files, directories and symlinks.
//!
//! `the file` means a regular file and `the directory` a directory, both
//! after following symlinks (as `test -f` and `test -d` do). A check of mode,
//! owner or group fails in both polarities when there is no such thing.

use regex::Regex;

use crate::recipe::Mode;
use crate::shell::quote;
use crate::transport::Output;
use crate::verify::library::Args;
use crate::verify::library::expect;
use crate::verify::world::{Ask, Failure, HostWorld, Verdict};

/// The largest part of a file that content checks read.
const MAX_CONTENT: usize = 16 * 1024 * 1024;

/// What `stat` says of a path, following symlinks.
const STAT_FORMAT: &str = "%F|%a|%U|%G";

/// What is at a path (following symlinks).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stat {
    kind: String,
    mode: u32,
    owner: String,
    group: String,
}

impl Stat {
    fn is_file(&self) -> bool {
        self.kind.starts_with("regular")
    }

    fn is_directory(&self) -> bool {
        self.kind == "directory"
    }
}

/// `a directory`, `a regular file`, `nothing`.
fn describe(stat: Option<&Stat>) -> String {
    match stat {
        None => "nothing".into(),
        Some(s) if s.is_file() => "a regular file".into(),
        Some(s) => format!("a {}", s.kind),
    }
}

async fn stat(world: &mut HostWorld, path: &str) -> Result<Option<Stat>, Failure> {
    let output = world
        .check_shared(stat_script(path), Ask::Stat, path)
        .await?;
    Ok(parse_stat(output.stdout_text().trim()))
}

/// What is at `path`: `stat`'s line, or `missing`.
fn stat_script(path: &str) -> String {
    format!(
        "stat -L -c '{STAT_FORMAT}' -- {} 2>/dev/null || echo missing\n",
        quote(path)
    )
}

/// The file's content (exit 2: nothing there, 3: a directory).
fn content_script(path: &str) -> String {
    format!(
        "p={}\n\
         if [ -d \"$p\" ]; then exit 3; elif [ ! -e \"$p\" ]; then exit 2; fi\n\
         head -c {MAX_CONTENT} -- \"$p\"\n",
        quote(path)
    )
}

fn parse_stat(line: &str) -> Option<Stat> {
    let mut parts = line.split('|');
    let kind = parts.next()?.to_string();
    let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
    Some(Stat {
        kind,
        mode,
        owner: parts.next()?.to_string(),
        group: parts.next()?.to_string(),
    })
}

/// A mode as written ("0644", "644", "4755", "0o644") → its number, by the
/// rule recipes follow too ([`Mode::from_octal`]).
pub fn parse_mode(text: &str) -> Result<u32, String> {
    Mode::from_octal(text)
        .map(|mode| mode.0)
        .ok_or_else(|| format!("'{text}' is not an octal mode like \"0644\""))
}

/// Validate: the second value is an octal mode.
pub fn second_is_mode(values: &[String]) -> Result<(), String> {
    parse_mode(values.get(1).map_or("", String::as_str)).map(drop)
}

/// Validate: the second value is a regex.
pub fn second_is_regex(values: &[String]) -> Result<(), String> {
    multiline(values.get(1).map_or("", String::as_str)).map(drop)
}

/// A regex where `^` and `$` match at every line, as in grep.
pub fn multiline(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("(?m){pattern}"))
        .map_err(|e| format!("'{pattern}' is not a valid regex: {e}"))
}

async fn exists(world: &mut HostWorld, args: &Args, directory: bool) -> Verdict {
    let path = args.text(0);
    let found = stat(world, path).await?;
    let holds = found.as_ref().is_some_and(|s| {
        if directory {
            s.is_directory()
        } else {
            s.is_file()
        }
    });
    let what = if directory { "a directory" } else { "a file" };
    expect(
        args,
        holds,
        format!(
            "expected {what} at {path}, found {}",
            describe(found.as_ref())
        ),
        format!("expected no {} at {path}, found one", &what[2..]),
    )
}

/// The thing at the path, which must be a file (or a directory).
async fn subject(world: &mut HostWorld, path: &str, directory: bool) -> Result<Stat, Failure> {
    let found = stat(world, path).await?;
    match found {
        Some(s) if (directory && s.is_directory()) || (!directory && s.is_file()) => Ok(s),
        other => Err(Failure::check(format!(
            "expected {} at {path}, found {}",
            if directory { "a directory" } else { "a file" },
            describe(other.as_ref())
        ))),
    }
}

async fn mode(world: &mut HostWorld, args: &Args, directory: bool) -> Verdict {
    let wanted = parse_mode(args.text(1)).map_err(Failure::input)?;
    let found = subject(world, args.text(0), directory).await?;
    expect(
        args,
        found.mode == wanted,
        format!("expected mode {wanted:04o}, found {:04o}", found.mode),
        format!(
            "expected a mode other than {wanted:04o}, found {:04o}",
            found.mode
        ),
    )
}

async fn owner(world: &mut HostWorld, args: &Args, directory: bool) -> Verdict {
    let wanted = args.text(1);
    let found = subject(world, args.text(0), directory).await?;
    expect(
        args,
        found.owner == wanted,
        format!("expected owner {wanted}, found {}", found.owner),
        format!(
            "expected an owner other than {wanted}, found {}",
            found.owner
        ),
    )
}

async fn group(world: &mut HostWorld, args: &Args, directory: bool) -> Verdict {
    let wanted = args.text(1);
    let found = subject(world, args.text(0), directory).await?;
    expect(
        args,
        found.group == wanted,
        format!("expected group {wanted}, found {}", found.group),
        format!(
            "expected a group other than {wanted}, found {}",
            found.group
        ),
    )
}

/// `the file {string} should exist`
pub async fn file_exists(world: &mut HostWorld, args: &Args) -> Verdict {
    exists(world, args, false).await
}

/// `the directory {string} should exist`
pub async fn directory_exists(world: &mut HostWorld, args: &Args) -> Verdict {
    exists(world, args, true).await
}

/// `the file {string} should have mode {string}`
pub async fn file_mode(world: &mut HostWorld, args: &Args) -> Verdict {
    mode(world, args, false).await
}

/// `the directory {string} should have mode {string}`
pub async fn directory_mode(world: &mut HostWorld, args: &Args) -> Verdict {
    mode(world, args, true).await
}

/// `the file {string} should be owned by {string}`
pub async fn file_owner(world: &mut HostWorld, args: &Args) -> Verdict {
    owner(world, args, false).await
}

/// `the directory {string} should be owned by {string}`
pub async fn directory_owner(world: &mut HostWorld, args: &Args) -> Verdict {
    owner(world, args, true).await
}

/// `the file {string} should be in group {string}`
pub async fn file_group(world: &mut HostWorld, args: &Args) -> Verdict {
    group(world, args, false).await
}

/// `the directory {string} should be in group {string}`
pub async fn directory_group(world: &mut HostWorld, args: &Args) -> Verdict {
    group(world, args, true).await
}

/// The content of the file at `path` (at most [`MAX_CONTENT`] bytes).
async fn content(world: &mut HostWorld, path: &str) -> Result<String, Failure> {
    let output = world
        .check_shared(content_script(path), Ask::Content, path)
        .await?;
    match output.status {
        0 => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
        2 => Err(Failure::check(format!(
            "expected a file at {path}, found nothing"
        ))),
        3 => Err(Failure::check(format!(
            "expected a file at {path}, found a directory"
        ))),
        status => Err(Failure::check(format!(
            "cannot read {path} (exit {status}): {}",
            output.stderr_text().trim()
        ))),
    }
}

/// The one script that asks `ask` of every path in `paths` (the answers
/// ahead; `boundary` is theirs).
pub(crate) fn batch(ask: Ask, paths: &[String], boundary: &str) -> String {
    match ask {
        Ask::Stat => stat_batch(paths),
        Ask::Content => content_batch(paths, boundary),
    }
}

/// What [`batch`] printed, as the output of each path's own check (None
/// when it does not read back as expected).
pub(crate) fn read_batch(
    ask: Ask,
    count: usize,
    boundary: &str,
    output: &Output,
) -> Option<Vec<Output>> {
    match ask {
        Ask::Stat => read_stat_batch(count, output),
        Ask::Content => read_content_batch(count, boundary, output),
    }
}

/// The `stat` of every path in `paths` in one process, for the answers
/// ahead: a line per path, `y` (something is there, following symlinks) or
/// `n`, a line `.`, then `stat`'s line for each `y`.
fn stat_batch(paths: &[String]) -> String {
    format!(
        "set --\n\
         for p in {}; do if [ -e \"$p\" ]; then set -- \"$@\" \"$p\"; echo y; else echo n; fi; done\n\
         echo .\n\
         [ $# -eq 0 ] || stat -L --printf '{STAT_FORMAT}\\n' -- \"$@\"\n",
        words(paths)
    )
}

/// What [`stat_batch`] printed, as the output of each path's own check
/// (None when it does not read back as expected).
fn read_stat_batch(count: usize, output: &Output) -> Option<Vec<Output>> {
    if output.status != 0 {
        return None;
    }
    let text = std::str::from_utf8(&output.stdout).ok()?;
    let mut lines = text.split('\n');
    let flags: Vec<&str> = lines.by_ref().take(count).collect();
    if flags.len() != count || lines.next()? != "." {
        return None;
    }
    let mut answers = Vec::with_capacity(count);
    for flag in flags {
        let stdout = match flag {
            "y" => {
                let line = lines.next()?;
                parse_stat(line)?;
                format!("{line}\n")
            }
            "n" => "missing\n".to_string(),
            _ => return None,
        };
        answers.push(answered(0, stdout.into_bytes()));
    }
    lines.all(str::is_empty).then_some(answers)
}

/// The content of every file in `paths` in one `head`, for the answers
/// ahead: a line per path, `y` (a file to read), `d` (a directory) or `m`
/// (nothing there), a line with `boundary`, then the files read one after
/// the other, each followed by `\nBOUNDARY\n` (a file holding it, read
/// between them).
fn content_batch(paths: &[String], boundary: &str) -> String {
    format!(
        "set --\n\
         for p in {}; do if [ -d \"$p\" ]; then echo d; elif [ -e \"$p\" ]; then set -- \"$@\" \"$p\"; echo y; else echo m; fi; done\n\
         rg_cb={b}\n\
         printf '%s\\n' \"$rg_cb\"\n\
         [ $# -gt 0 ] || exit 0\n\
         rg_cf=$(mktemp) || exit 1\n\
         printf '\\n%s\\n' \"$rg_cb\" > \"$rg_cf\"\n\
         n=$#; for p do set -- \"$@\" \"$p\" \"$rg_cf\"; done; shift $n\n\
         head -q -c {MAX_CONTENT} -- \"$@\"; rg_cs=$?\n\
         rm -f -- \"$rg_cf\"\n\
         exit $rg_cs\n",
        words(paths),
        b = quote(boundary),
    )
}

/// What [`content_batch`] printed, as the output of each path's own check
/// (None when it does not read back as expected).
fn read_content_batch(count: usize, boundary: &str, output: &Output) -> Option<Vec<Output>> {
    if output.status != 0 {
        return None;
    }
    let out = &output.stdout[..];
    let flags = out.get(..count * 2)?;
    let head = format!("{boundary}\n");
    let mut rest = out[count * 2..].strip_prefix(head.as_bytes())?;
    let separator = format!("\n{boundary}\n");
    let mut answers = Vec::with_capacity(count);
    for flag in flags.chunks(2) {
        answers.push(match flag {
            b"y\n" => {
                let at = rest
                    .windows(separator.len())
                    .position(|w| w == separator.as_bytes())?;
                let content = rest[..at].to_vec();
                rest = &rest[at + separator.len()..];
                answered(0, content)
            }
            b"d\n" => answered(3, Vec::new()),
            b"m\n" => answered(2, Vec::new()),
            _ => return None,
        });
    }
    rest.is_empty().then_some(answers)
}

fn answered(status: i32, stdout: Vec<u8>) -> Output {
    Output {
        status,
        stdout,
        stderr: Vec::new(),
    }
}

/// Paths as shell words.
fn words(paths: &[String]) -> String {
    paths.iter().map(|p| quote(p)).collect::<Vec<_>>().join(" ")
}

/// The first lines of a text, indented, for failure messages.
pub fn excerpt(text: &str) -> String {
    const LINES: usize = 8;
    if text.trim().is_empty() {
        return "  (empty)".into();
    }
    let mut out: Vec<String> = text.lines().take(LINES).map(|l| format!("  {l}")).collect();
    let total = text.lines().count();
    if total > LINES {
        out.push(format!("  … ({} more lines)", total - LINES));
    }
    out.join("\n")
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

async fn contains_text(world: &mut HostWorld, args: &Args, wanted: &str) -> Verdict {
    let path = args.text(0);
    let text = content(world, path).await?;
    let found = text.find(wanted);
    expect(
        args,
        found.is_some(),
        format!(
            "expected {path} to contain {wanted:?}; it does not, it has:\n{}",
            excerpt(&text)
        ),
        format!(
            "expected {path} not to contain {wanted:?}; it does, at line {}",
            found.map_or(0, |at| line_of(&text, at))
        ),
    )
}

/// `the file {string} should contain {string}`
pub async fn contains(world: &mut HostWorld, args: &Args) -> Verdict {
    let wanted = args.text(1).to_string();
    contains_text(world, args, &wanted).await
}

/// The 1-based line where `block`'s lines appear as consecutive lines of
/// `text`, each compared without its indentation and trailing spaces.
fn find_lines(text: &str, block: &str) -> Option<usize> {
    let wanted: Vec<&str> = block.lines().map(str::trim).collect();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    if wanted.is_empty() {
        return Some(1);
    }
    lines
        .windows(wanted.len())
        .position(|window| window == wanted.as_slice())
        .map(|at| at + 1)
}

/// `the file {string} should contain:` with a DocString. One line is looked
/// for as text; several lines must be consecutive lines of the file, whatever
/// their indentation.
pub async fn contains_docstring(world: &mut HostWorld, args: &Args) -> Verdict {
    let Some(wanted) = args.docstring.clone() else {
        return Err(Failure::input(
            "this step needs a DocString (\"\"\") below it",
        ));
    };
    if wanted.lines().count() <= 1 {
        return contains_text(world, args, wanted.trim()).await;
    }
    let path = args.text(0);
    let text = content(world, path).await?;
    let found = find_lines(&text, &wanted);
    let block: String = wanted
        .lines()
        .map(|l| format!("\n  {}", l.trim()))
        .collect();
    expect(
        args,
        found.is_some(),
        format!(
            "expected {path} to contain these lines:{block}\nit does not, it has:\n{}",
            excerpt(&text)
        ),
        format!(
            "expected {path} not to contain these lines:{block}\nit does, from line {}",
            found.unwrap_or(0)
        ),
    )
}

/// `the file {string} should match {string}`
pub async fn matches(world: &mut HostWorld, args: &Args) -> Verdict {
    let (path, pattern) = (args.text(0), args.text(1));
    let regex = multiline(pattern).map_err(Failure::input)?;
    let text = content(world, path).await?;
    let found = regex.find(&text);
    expect(
        args,
        found.is_some(),
        format!(
            "expected {path} to match /{pattern}/; it does not, it has:\n{}",
            excerpt(&text)
        ),
        format!(
            "expected {path} not to match /{pattern}/; it does, at line {}: {:?}",
            found.map_or(0, |m| line_of(&text, m.start())),
            // Masked before `{:?}` escapes it.
            crate::secrets::redact(found.map_or("", |m| m.as_str()))
        ),
    )
}

/// `the symlink {string} should point to {string}`: the link's text is the
/// target, or both resolve to the same path (the target from the link's
/// folder). An absolute link path is resolved with the target in one
/// `readlink -f`; where that fails (a target whose folder is missing, a
/// readlink that takes one path), each is resolved alone.
pub async fn symlink_points_to(world: &mut HostWorld, args: &Args) -> Verdict {
    let (path, target) = (args.text(0), args.text(1));
    let output = world
        .check(format!(
            "p={}; t={}\n\
             if [ -L \"$p\" ]; then\n\
             \techo link; readlink -- \"$p\"\n\
             \tcase $p in */*) d=${{p%/*}}; d=${{d:-/}} ;; *) d=. ;; esac\n\
             \tcase $p in /*) r=$(cd -- \"$d\" && readlink -f -- \"$p\" \"$t\" 2>/dev/null) ;; *) false ;; esac &&\n\
             \t\tprintf '%s\\n' \"$r\" ||\n\
             \t\t{{ readlink -f -- \"$p\" || echo; cd -- \"$d\" && readlink -f -- \"$t\" || echo; }}\n\
             elif [ -e \"$p\" ]; then echo other; stat -c %F -- \"$p\"\n\
             else echo missing; fi\n",
            quote(path),
            quote(target)
        ))
        .await?;
    let text = output.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    match lines.first().copied() {
        Some("link") => {
            let link = lines.get(1).copied().unwrap_or("");
            let resolved = lines.get(2).copied().unwrap_or("");
            let wanted = lines.get(3).copied().unwrap_or("");
            let holds = link == target || (!resolved.is_empty() && resolved == wanted);
            expect(
                args,
                holds,
                format!("expected {path} to point to {target}, found it points to {link}"),
                format!("expected {path} not to point to {target}, found it points to {link}"),
            )
        }
        Some("other") => Err(Failure::check(format!(
            "expected a symlink at {path}, found a {}",
            lines.get(1).copied().unwrap_or("file")
        ))),
        _ => Err(Failure::check(format!(
            "expected a symlink at {path}, found nothing"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Output {
        Output::of_sh(script)
    }

    /// Files, a directory, symlinks and nothing, with awkward names.
    fn awkward(dir: &std::path::Path) -> Vec<String> {
        let file = |name: &str, content: &[u8]| std::fs::write(dir.join(name), content).unwrap();
        file("plain", b"one\ntwo\n");
        file("no newline", b"last");
        file("empty", b"");
        file("binary", b"\x00\xff\n\nrg-batch\n\x00");
        file("it's \"odd\"\nwith a newline", b"odd\n");
        file("-dash", b"dash\n");
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::os::unix::fs::symlink("plain", dir.join("link")).unwrap();
        std::os::unix::fs::symlink("sub", dir.join("link to sub")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.join("broken")).unwrap();
        [
            "plain",
            "no newline",
            "empty",
            "binary",
            "it's \"odd\"\nwith a newline",
            "-dash",
            "sub",
            "link",
            "link to sub",
            "broken",
            "missing",
            "plain",
        ]
        .iter()
        .map(|name| dir.join(name).to_str().unwrap().to_string())
        .collect()
    }

    fn same(batch: &[Output], alone: &[Output]) {
        assert_eq!(batch.len(), alone.len());
        for (b, a) in batch.iter().zip(alone) {
            assert_eq!((b.status, &b.stdout), (a.status, &a.stdout));
        }
    }

    #[test]
    fn the_batches_answer_what_each_check_alone_answers() {
        let dir = tempfile::tempdir().unwrap();
        let paths = awkward(dir.path());
        let boundary = "@rg-batch-0123456789abcdef";

        let stats = read_stat_batch(paths.len(), &sh(&stat_batch(&paths))).unwrap();
        let alone: Vec<Output> = paths.iter().map(|p| sh(&stat_script(p))).collect();
        same(&stats, &alone);
        assert!(alone[10].stdout_text().starts_with("missing"));

        let batch = sh(&content_batch(&paths, boundary));
        let contents = read_content_batch(paths.len(), boundary, &batch).unwrap();
        let alone: Vec<Output> = paths.iter().map(|p| sh(&content_script(p))).collect();
        same(&contents, &alone);
        assert_eq!(contents[3].stdout, b"\x00\xff\n\nrg-batch\n\x00");
        assert_eq!([contents[6].status, contents[10].status], [3, 2]);
    }

    /// Nothing to read still reads back; a cut or forged output does not.
    #[test]
    fn a_batch_that_does_not_read_back_answers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = vec![dir.path().join("missing").to_str().unwrap().to_string()];
        let boundary = "@rg-batch-0123456789abcdef";
        let out = sh(&content_batch(&missing, boundary));
        assert_eq!(read_content_batch(1, boundary, &out).unwrap()[0].status, 2);
        assert_eq!(
            read_stat_batch(1, &sh(&stat_batch(&missing)))
                .unwrap()
                .len(),
            1
        );

        let forged = dir.path().join("forged");
        std::fs::write(&forged, format!("a\n{boundary}\nb")).unwrap();
        let paths = vec![forged.to_str().unwrap().to_string()];
        let out = sh(&content_batch(&paths, boundary));
        assert!(read_content_batch(1, boundary, &out).is_none());

        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let paths = vec![plain.to_str().unwrap().to_string(); 2];
        let mut out = sh(&stat_batch(&paths));
        let last_line = out.stdout[..out.stdout.len() - 1]
            .iter()
            .rposition(|b| *b == b'\n')
            .unwrap();
        out.stdout.truncate(last_line + 1);
        assert!(read_stat_batch(2, &out).is_none());
        let mut out = sh(&content_batch(&paths, boundary));
        out.stdout.truncate(out.stdout.len() - 3);
        assert!(read_content_batch(2, boundary, &out).is_none());
    }

    #[test]
    fn stat_lines_parse() {
        assert_eq!(
            parse_stat("regular empty file|600|root|adm"),
            Some(Stat {
                kind: "regular empty file".into(),
                mode: 0o600,
                owner: "root".into(),
                group: "adm".into()
            })
        );
        assert_eq!(parse_stat("missing"), None);
    }

    #[test]
    fn modes_parse() {
        assert_eq!(parse_mode("0644"), Ok(0o644));
        assert_eq!(parse_mode("644"), Ok(0o644));
        assert_eq!(parse_mode("4755"), Ok(0o4755));
        assert!(parse_mode("0x1").is_err());
        assert!(parse_mode("rw-r--r--").is_err());
        assert!(parse_mode("").is_err());
    }

    #[test]
    fn docstring_lines_ignore_indentation() {
        let text = "server {\n    listen 80;\n    server_name a;\n}\n";
        assert_eq!(find_lines(text, "listen 80;\nserver_name a;"), Some(2));
        assert_eq!(find_lines(text, "listen 80;\n}"), None);
    }

    #[test]
    fn excerpts_are_short() {
        let text: String = (1..=20).map(|n| format!("line {n}\n")).collect();
        let shown = excerpt(&text);
        assert!(shown.starts_with("  line 1\n"));
        assert!(shown.ends_with("… (12 more lines)"));
        assert_eq!(excerpt(""), "  (empty)");
    }
}
