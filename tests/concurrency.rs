//! Converges that meet on one host, and a host whose ledger cannot be
//! written: nothing is lost, nothing is left behind, and what went wrong is
//! said.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use assert_cmd::cargo::CommandCargoExt;
use common::{Project, project_on_shared, shared};

/// The tests take the host's converge lock and mount over its ledger's
/// folder: one at a time.
static HOST: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    HOST.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn on_host(command: &str) -> String {
    let shared = shared();
    shared.project.ssh(&shared.host, command)
}

/// `redgreen converge ARGS` in the background.
fn spawn_converge(project: &Project, args: &[&str]) -> Child {
    Command::cargo_bin("redgreen")
        .unwrap()
        .arg("-C")
        .arg(project.path())
        .arg("converge")
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (i32, String) {
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// Wait until `pgrep ARGS` finds a process on the host.
fn wait_for_process(pattern: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while on_host(&format!(
        "pgrep -f -- '{pattern}' >/dev/null && echo yes || echo no"
    )) != "yes\n"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no process like `{pattern}` on the host"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Releases the lock held by [`hold_the_lock`] when dropped.
struct Held;

impl Drop for Held {
    fn drop(&mut self) {
        on_host("pkill -xf 'sleep 601'; true");
    }
}

/// Another process takes the host's converge lock and keeps it.
fn hold_the_lock() -> Held {
    on_host(
        "mkdir -p /var/lib/redgreen && (nohup flock /var/lib/redgreen/converge.lock sleep 601 </dev/null >/dev/null 2>&1 &)",
    );
    wait_for_process("^sleep 601");
    Held
}

#[test]
fn two_converges_at_once_never_lose_a_change() {
    let _turn = take_turn();
    on_host("rm -rf /srv/rg-race && mkdir -p /srv/rg-race && echo start > /srv/rg-race/lines");
    let project = project_on_shared("groups:\n  test: { recipes: [race] }\n");
    project.write(
        "recipes/race.yml",
        "resources:\n  - line: \"{{who}}-{{round}}\"\n    path: /srv/rg-race/lines\n",
    );
    let mut failures = 0;
    for round in 1..=10 {
        let round_var = format!("round={round}");
        let runs: Vec<(&str, Child)> = ["a", "b"]
            .into_iter()
            .map(|who| {
                let who_var = format!("who={who}");
                (
                    who,
                    spawn_converge(&project, &["--var", &who_var, "--var", &round_var]),
                )
            })
            .collect();
        let results: Vec<(&str, i32, String)> = runs
            .into_iter()
            .map(|(who, child)| {
                let (code, text) = finish(child);
                (who, code, text)
            })
            .collect();
        let lines = on_host("cat /srv/rg-race/lines");
        for (who, code, text) in &results {
            let line = format!("{who}-{round}\n");
            match code {
                0 => assert!(
                    lines.contains(&line),
                    "round {round}: {who} said it changed the file, but {line:?} is not in it:\n{lines}\n{text}"
                ),
                1 => {
                    failures += 1;
                    assert!(
                        text.contains("changed on the host since it was probed; run again"),
                        "round {round}: {who} failed without saying why:\n{text}"
                    );
                    assert!(!lines.contains(&line), "{lines}");
                }
                other => panic!("round {round}: {who} exited {other}:\n{text}"),
            }
        }
    }
    eprintln!("{failures} of 20 converges failed clearly; none lost a change");
    // A last converge of each adds what is missing.
    for who in ["a", "b"] {
        let who_var = format!("who={who}");
        project
            .run(&["converge", "--var", &who_var, "--var", "round=10"])
            .expect(0);
    }
    let lines = on_host("cat /srv/rg-race/lines");
    assert!(
        lines.contains("a-10\n") && lines.contains("b-10\n"),
        "{lines}"
    );
}

#[test]
fn a_converge_waits_for_the_hosts_lock_and_gives_up_clearly() {
    let _turn = take_turn();
    on_host("rm -rf /srv/rg-lock");
    let recipe =
        "resources:\n  - directory: /srv/rg-lock\n  - file: /srv/rg-lock/x\n    content: x\n";
    // command_timeout 1: a converge waits 6 s for the lock (1 s, and the 5 s
    // a host gives a stopped script).
    let impatient = project_on_shared("groups:\n  test: { recipes: [lock] }\n");
    let config = std::fs::read_to_string(impatient.path().join("redgreen.yml")).unwrap();
    impatient.write(
        "redgreen.yml",
        &config.replace("defaults:\n", "defaults:\n  command_timeout: 1\n"),
    );
    impatient.write("recipes/lock.yml", recipe);
    let patient = project_on_shared("groups:\n  test: { recipes: [lock] }\n");
    patient.write("recipes/lock.yml", recipe);

    let held = hold_the_lock();
    let run = impatient.run(&["converge"]).expect(1);
    assert!(
        run.stdout.contains(
            "another converge of this host held its lock (/var/lib/redgreen/converge.lock) for 6s"
        ) && run.stdout.contains("nothing was changed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("not applied"), "{}", run.stdout);
    assert_eq!(
        on_host("test -e /srv/rg-lock && echo changed || echo untouched"),
        "untouched\n"
    );

    // A converge that may wait longer waits, then applies.
    let waiting = spawn_converge(&patient, &[]);
    wait_for_process("^flock -w");
    drop(held);
    let (code, text) = finish(waiting);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("for another converge of this host to finish"),
        "the wait is noted:\n{text}"
    );
    assert_eq!(on_host("cat /srv/rg-lock/x"), "x");
}

/// Unmounts the small file system over the ledger's folder when dropped.
struct Mounted;

impl Drop for Mounted {
    fn drop(&mut self) {
        on_host("umount /var/lib/redgreen; true");
    }
}

#[test]
fn a_ledger_that_cannot_be_written_fails_the_host_and_leaves_no_temporary_file() {
    let _turn = take_turn();
    on_host("rm -rf /srv/rg-full");
    let project = project_on_shared("groups:\n  test: { recipes: [full] }\n");
    project.write(
        "recipes/full.yml",
        "resources:\n  - file: /srv/rg-full\n    content: \"one\\n\"\n",
    );
    project.run(&["converge"]).expect(0);

    // A full file system where the ledger lives.
    on_host("mkdir -p /var/lib/redgreen && mount -t tmpfs -o size=64k tmpfs /var/lib/redgreen");
    let mounted = Mounted;
    on_host("dd if=/dev/zero of=/var/lib/redgreen/fill bs=4k 2>/dev/null; df /var/lib/redgreen");
    project.write(
        "recipes/full.yml",
        "resources:\n  - file: /srv/rg-full\n    content: \"two\\n\"\n",
    );
    // With a change (the ledger is written by the apply script), and without
    // one (by a script of its own).
    for changes in [true, false] {
        let run = project.run(&["converge"]).expect(1);
        assert!(
            run.stdout
                .contains("the ledger /var/lib/redgreen/state.json could not be written: ")
                && run.stdout.contains("No space left on device"),
            "changes: {changes}\n{}",
            run.stdout
        );
        assert_eq!(
            on_host("ls -A /var/lib/redgreen"),
            "converge.lock\nfill\n",
            "no temporary file is left"
        );
    }
    assert_eq!(on_host("cat /srv/rg-full"), "two\n");

    drop(mounted);
    project.run(&["converge"]).expect(0);
    let ledger = shared().project.ledger(&shared().host);
    assert_eq!(ledger["result"], "ok");
}
