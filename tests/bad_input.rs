//! The catalogue of bad inputs under fixtures/bad/: every case exits 2 with a
//! message naming the file and line, and touches no host.
//!
//! Each case is a small project whose hosts listen on 127.0.0.1 port 1, where
//! nothing listens: had redgreen tried to connect, the host would be
//! unreachable and the exit code 3. `expected.txt` holds lines that must all
//! appear in the error output; `args` the command lines, one per line
//! (default: both `validate` and `converge`), where `{project}` stands for
//! the project's directory; `setup` what is made when the case is copied, one
//! per line: `huge PATH BYTES` (a large recipe), `sparse PATH BYTES` (a
//! file of that size that takes no room), `link PATH TARGET` (a symbolic
//! link), `fifo PATH` (a named pipe).

mod common;

use std::path::Path;

#[test]
fn every_bad_input_exits_2_with_its_place_and_touches_nothing() {
    let catalogue = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad");
    let mut cases: Vec<_> = std::fs::read_dir(&catalogue)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "the catalogue has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let project = common::Project::new();
        common::copy_dir(case, project.path());
        if let Ok(setup) = std::fs::read_to_string(case.join("setup")) {
            for line in setup.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                let full = |path: &str| {
                    let full = project.path().join(path);
                    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                    full
                };
                if let ["link", path, target] = words[..] {
                    std::os::unix::fs::symlink(target, full(path)).unwrap();
                }
                if let ["sparse", path, bytes] = words[..] {
                    std::fs::File::create(full(path))
                        .unwrap()
                        .set_len(bytes.parse().unwrap())
                        .unwrap();
                }
                if let ["fifo", path] = words[..] {
                    let status = std::process::Command::new("mkfifo")
                        .arg(full(path))
                        .status()
                        .unwrap();
                    assert!(status.success(), "mkfifo {path}");
                }
                if let ["huge", path, bytes] = words[..] {
                    let mut text = String::from("resources: []\n");
                    while text.len() < bytes.parse::<usize>().unwrap() {
                        text.push_str(
                            "# filler filler filler filler filler filler filler filler\n",
                        );
                    }
                    project.write(path, &text);
                }
            }
        }
        let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap();
        let commands: Vec<Vec<String>> = match std::fs::read_to_string(case.join("args")) {
            Ok(args) => args
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    l.split_whitespace()
                        .map(|w| w.replace("{project}", &project.path().to_string_lossy()))
                        .collect()
                })
                .collect(),
            Err(_) => vec![vec!["validate".into()], vec!["converge".into()]],
        };
        for args in commands {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = project.run(&args);
            let missing: Vec<&str> = expected
                .lines()
                .filter(|l| !run.stderr.contains(l))
                .collect();
            if run.code != 2 || !missing.is_empty() {
                failures.push(format!(
                    "{name} ({}): exit {} (want 2), missing {missing:?}\n{}",
                    args.join(" "),
                    run.code,
                    run.stderr
                ));
            }
            assert!(
                !run.stderr.contains("unreachable"),
                "{name}: tried to connect"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
