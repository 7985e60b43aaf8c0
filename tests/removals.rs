//! Removals with evidence, on one shared real test host: every removal says
//! why (`reason:`), the plan shows it with what the host shows of the
//! thing's use, converge refuses a removal used within `unused_for`, and
//! the host records what was removed and why.

mod common;

use common::project_on_shared;

/// The tests here converge the one shared host and read what its ledger
/// says, which any converge of it rewrites: they take turns.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SHARED_HOST: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SHARED_HOST.lock().unwrap_or_else(|e| e.into_inner())
}

fn on_host(command: &str) -> String {
    let shared = common::shared();
    shared.project.ssh(&shared.host, command)
}

#[test]
fn the_reason_is_in_the_plan_the_saved_plan_and_the_hosts_record() {
    let _turn = one_at_a_time();
    let root = "/srv/reasons";
    let project = project_on_shared("groups:\n  test: { recipes: [tidy] }\n");
    project.write(
        "recipes/tidy.yml",
        &format!(
            "resources:\n  - file: {root}/old.conf\n    state: absent\n    reason: replaced by new.conf (ticket 42)\n"
        ),
    );
    on_host(&format!(
        "rm -rf {root}; mkdir -p {root} && echo x > {root}/old.conf"
    ));

    let plan = project.run(&["plan"]).expect(0);
    let section = plan
        .stdout
        .split(&format!("- file {root}/old.conf"))
        .nth(1)
        .unwrap_or_else(|| panic!("no removal:\n{}", plan.stdout));
    assert!(
        section.contains("reason: replaced by new.conf (ticket 42)"),
        "{}",
        plan.stdout
    );

    // Kept in the saved plan, and applied from it.
    let plan_file = project.path().join("plan.json");
    let plan_path = plan_file.to_str().unwrap();
    project.run(&["plan", "--out", plan_path]).expect(0);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert_eq!(
        saved["hosts"][0]["resources"][0]["reason"],
        "replaced by new.conf (ticket 42)"
    );
    project.run(&["converge", "--plan", plan_path]).expect(0);
    assert_eq!(
        on_host(&format!(
            "test -e {root}/old.conf && echo there || echo gone"
        )),
        "gone\n"
    );

    // The host records what was removed, and why.
    let record = on_host(&format!(
        "grep -F '{root}/old.conf' /var/lib/redgreen/removed.jsonl | tail -n 1"
    ));
    let record: serde_json::Value = serde_json::from_str(&record).expect(&record);
    assert_eq!(record["removed"], format!("file {root}/old.conf"));
    assert_eq!(record["reason"], "replaced by new.conf (ticket 42)");
    assert_eq!(record["host"], "box");
    assert_eq!(record["declared"], "recipes/tidy.yml:2:5");

    // Nothing left to remove: nothing more is recorded.
    // (Other tests share the host: count this test's lines only.)
    let count = || {
        on_host(&format!(
            "grep -cF '{root}/' /var/lib/redgreen/removed.jsonl"
        ))
    };
    let lines = count();
    project.run(&["converge"]).expect(0);
    assert_eq!(count(), lines);
}

/// An ssh session to the shared host as `user`, running `command`, held
/// open until dropped.
struct Session(std::process::Child);

impl Session {
    fn open(user: &str, command: &str) -> Session {
        let shared = common::shared();
        let project = &shared.project;
        let child = std::process::Command::new("ssh")
            .arg("-F")
            .arg(project.path().join(".redgreen/ssh_config"))
            .args(["-tt", "-l", user, "-p"])
            .arg(project.port(&shared.host).to_string())
            .arg(project.address(&shared.host))
            .arg(command)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ssh");
        Session(child)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(command: &str) {
    for _ in 0..50 {
        if on_host(&format!("if {command}; then echo yes; fi")) == "yes\n" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("`{command}` never held on the host");
}

#[test]
fn a_logged_in_user_with_a_process_blocks_its_removal_with_unused_for() {
    let _turn = one_at_a_time();
    on_host(
        "userdel -r olddeploy 2>/dev/null; useradd -m -s /bin/sh olddeploy && usermod -p '*' olddeploy && mkdir -p /home/olddeploy/.ssh && cp /root/.ssh/authorized_keys /home/olddeploy/.ssh/ && chown -R olddeploy: /home/olddeploy/.ssh",
    );
    let project = project_on_shared("groups:\n  test: { recipes: [old] }\n");
    project.write(
        "recipes/old.yml",
        "resources:\n  - user: olddeploy\n    state: absent\n    reason: the site moved to the user deploy\n    unused_for: 7d\n",
    );
    let session = Session::open("olddeploy", "sleep 300");
    wait_for("pgrep -u olddeploy -x sleep >/dev/null");

    // The plan shows the evidence beside the removal.
    let plan = project.run(&["plan"]).expect(0);
    let removal = plan
        .stdout
        .split("- user olddeploy")
        .nth(1)
        .unwrap_or_else(|| panic!("no removal:\n{}", plan.stdout));
    assert!(
        removal.contains("reason: the site moved to the user deploy"),
        "{}",
        plan.stdout
    );
    assert!(removal.contains("use: "), "{}", plan.stdout);
    assert!(removal.contains("processes ("), "{}", plan.stdout);
    assert!(removal.contains(" sleep"), "{}", plan.stdout);
    assert!(
        removal.contains("logged in now") || removal.contains("logged in now: unknown"),
        "{}",
        plan.stdout
    );
    assert!(!removal.contains("unused"), "{}", plan.stdout);

    // Converge refuses it, with the evidence; the user stays.
    let refused = project.run(&["converge", "--allow-removals"]).expect(1);
    assert!(
        refused
            .stdout
            .contains("user olddeploy was used within unused_for 7 d"),
        "{}",
        refused.stdout
    );
    assert!(refused.stdout.contains("processes ("), "{}", refused.stdout);
    assert_eq!(on_host("id -un olddeploy"), "olddeploy\n");
    drop(session);
    on_host("pkill -u olddeploy; true");
}

#[test]
fn a_file_held_open_blocks_its_removal_unless_a_saved_plan_showed_it() {
    let _turn = one_at_a_time();
    let root = "/srv/held";
    let project = project_on_shared("groups:\n  test: { recipes: [held] }\n");
    project.write(
        "recipes/held.yml",
        &format!(
            "resources:\n  - file: {root}/data\n    state: absent\n    reason: the data moved to /srv/new\n    unused_for: 7d\n"
        ),
    );
    // Old, but held open by a process.
    on_host("pkill -f 'sleep 30[1]'; true");
    on_host(&format!(
        "rm -rf {root}; mkdir -p {root} && echo x > {root}/data && touch -d '30 days ago' {root}/data && (nohup sleep 301 < {root}/data >/dev/null 2>&1 &)"
    ));
    wait_for("pgrep -f 'sleep 30[1]' >/dev/null");
    let there = || on_host(&format!("test -e {root}/data && echo there || echo gone"));

    let plan = project.run(&["plan"]).expect(0);
    assert!(
        plan.stdout
            .contains("open by a process, or running from it (1: "),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("modified 30 d ago"), "{}", plan.stdout);
    let refused = project.run(&["converge", "--allow-removals"]).expect(1);
    assert!(
        refused.stdout.contains(&format!(
            "file {root}/data was used within unused_for 7 d: open by a process"
        )),
        "{}",
        refused.stdout
    );
    assert_eq!(there(), "there\n");

    // A saved plan that showed it held open, reviewed and applied: removed.
    let plan_file = project.path().join("plan.json");
    let plan_path = plan_file.to_str().unwrap();
    project.run(&["plan", "--out", plan_path]).expect(0);
    project.run(&["converge", "--plan", plan_path]).expect(0);
    assert_eq!(there(), "gone\n");
    let record = on_host(&format!(
        "grep -F '{root}/data' /var/lib/redgreen/removed.jsonl | tail -n 1"
    ));
    assert!(record.contains("open by a process"), "{record}");
    on_host("pkill -f 'sleep 30[1]'; true");

    // Not held and long unmodified: removed without a saved plan.
    on_host(&format!(
        "echo x > {root}/data && touch -d '30 days ago' {root}/data"
    ));
    let plan = project.run(&["plan"]).expect(0);
    // No process holds it (or, where another user's processes are hidden from
    // the probe, the plan says it cannot tell).
    assert!(
        plan.stdout.contains("open by no process")
            || plan
                .stdout
                .contains("open by a process, or running from it: unknown"),
        "{}",
        plan.stdout
    );
    project.run(&["converge", "--allow-removals"]).expect(0);
    assert_eq!(there(), "gone\n");
}

/// Expand → verify → contract: the old page goes only once the features
/// that `after:` names pass on the host with the new one in place.
#[test]
fn after_removes_the_old_thing_only_once_its_features_pass() {
    let _turn = one_at_a_time();
    let root = "/srv/after";
    let project = project_on_shared("groups:\n  test: { recipes: [move] }\n");
    project.write(
        "features/site.feature",
        &format!(
            "Feature: the site\n  @new-site\n  Scenario: the new page is served\n    Then the file \"{root}/new.html\" should contain \"Welcome\"\n"
        ),
    );
    let recipe = |content: &str| {
        format!(
            "resources:\n  - file: {root}/new.html\n    content: \"{content}\\n\"\n  - file: {root}/old.html\n    state: absent\n    reason: the site moved to new.html (ticket 7)\n    after: \"@new-site\"\n"
        )
    };
    on_host(&format!(
        "rm -rf {root}; mkdir -p {root} && echo old > {root}/old.html"
    ));

    // The plan shows the gate beside the removal.
    project.write("recipes/move.yml", &recipe("Under construction"));
    let plan = project.run(&["plan"]).expect(0);
    assert!(
        plan.stdout
            .contains("after: @new-site must pass on the host first"),
        "{}",
        plan.stdout
    );

    // The new page does not pass: everything else is applied, the old page
    // stays, and the host fails.
    let failed = project
        .run(&["converge", "--allow-removals", "--format", "json"])
        .expect(1);
    let report = failed.json();
    let host = &report["hosts"][0];
    let old = host["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["title"] == format!("file {root}/old.html"))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(old["status"], "skipped", "{report:#}");
    assert!(
        old["message"]
            .as_str()
            .unwrap()
            .contains("its after: features failed on this host: the new page is served"),
        "{report:#}"
    );
    assert_eq!(
        on_host(&format!(
            "cat {root}/new.html; test -e {root}/old.html && echo kept"
        )),
        "Under construction\nkept\n"
    );
    // The host's ledger says so too.
    let ledger: serde_json::Value =
        serde_json::from_str(&on_host("cat /var/lib/redgreen/state.json")).unwrap();
    assert_eq!(ledger["result"], "failed", "{ledger:#}");
    assert_eq!(ledger["features"]["result"], "failed", "{ledger:#}");

    // Once the new page passes, the old one is removed in the same converge.
    project.write("recipes/move.yml", &recipe("Welcome"));
    let done = project
        .run(&["converge", "--allow-removals", "--format", "json"])
        .expect(0);
    let report = done.json();
    let old = report["hosts"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["title"] == format!("file {root}/old.html"))
        .cloned()
        .unwrap();
    assert_eq!(old["status"], "changed", "{report:#}");
    assert_eq!(
        on_host(&format!(
            "test -e {root}/old.html && echo kept; cat {root}/new.html"
        )),
        "Welcome\n"
    );
    on_host(&format!("rm -rf {root}"));
}

/// Named features that run on no scenario of the host do not let a removal
/// through: there is nothing to show the new thing works there.
#[test]
fn after_naming_features_that_skip_the_host_keeps_the_old_thing() {
    let _turn = one_at_a_time();
    let root = "/srv/after-elsewhere";
    let project =
        project_on_shared("groups:\n  test: { recipes: [move] }\n  elsewhere: { recipes: [] }\n");
    project.write(
        "features/site.feature",
        "Feature: the site\n  @group:elsewhere @new-site\n  Scenario: the new page is served elsewhere\n    Then the file \"/etc/hostname\" should exist\n",
    );
    project.write(
        "recipes/move.yml",
        &format!(
            "resources:\n  - file: {root}/old.html\n    state: absent\n    reason: moved (ticket 8)\n    after: \"@new-site\"\n"
        ),
    );
    on_host(&format!(
        "rm -rf {root}; mkdir -p {root} && echo old > {root}/old.html"
    ));
    let run = project.run(&["converge", "--allow-removals"]).expect(1);
    assert!(
        run.stdout
            .contains("no scenario they name runs on this host"),
        "{}",
        run.stdout
    );
    assert_eq!(
        on_host(&format!("test -e {root}/old.html && echo kept")),
        "kept\n"
    );
    on_host(&format!("rm -rf {root}"));
}
