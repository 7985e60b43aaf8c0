//! System resources on a real test host of their own (package installs do not
//! disturb the other test binaries' hosts): packages from Debian's mirror and
//! from a signed local repository, users, groups, services and handlers, cron,
//! sysctl, commands, downloads, and `become: sudo` for non-root logins.
//!
//! Every check is made on the host over SSH.
//! The tests take turns on the host (users and packages are machine-wide).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use common::{Project, Run, project_on_shared, shared};

/// The host is shared: one test at a time changes it.
static HOST: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    HOST.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Run a shell command on the test host as root.
fn on_host(command: &str) -> String {
    let shared = shared();
    shared.project.ssh(&shared.host, command)
}

use redgreen::resource::file::sha256_hex;

fn host_report(run: &Run) -> serde_json::Value {
    run.json()["hosts"][0].clone()
}

/// (title, status) of each entry of `host[list]` ("resources" or "handlers").
fn titled(host: &serde_json::Value, list: &str) -> Vec<(String, String)> {
    host[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["title"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn statuses(host: &serde_json::Value) -> Vec<(String, String)> {
    titled(host, "resources")
}

fn handler_titles(host: &serde_json::Value) -> Vec<(String, String)> {
    titled(host, "handlers")
}

/// A signed flat apt repository with one package, `rg-hello`, built here with
/// dpkg-deb and gpg: files (name, bytes) and the armoured public key.
fn signed_repository(dir: &Path) -> (Vec<(String, Vec<u8>)>, String) {
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("runs (dpkg-deb and gpg are needed)");
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(pkg.join("usr/share/rg-hello")).unwrap();
    let fields = "Package: rg-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: redgreen tests <tests@example.invalid>\n";
    let description = "Description: a package for redgreen tests\n";
    std::fs::write(pkg.join("DEBIAN/control"), format!("{fields}{description}")).unwrap();
    std::fs::write(
        pkg.join("usr/share/rg-hello/hello"),
        "hello from a local repository\n",
    )
    .unwrap();
    let deb_path = dir.join("rg-hello_1.0_all.deb");
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&pkg)
        .arg(&deb_path));
    let deb = std::fs::read(&deb_path).unwrap();
    let packages = format!(
        "{fields}Filename: ./rg-hello_1.0_all.deb\nSize: {}\nSHA256: {}\n{description}\n",
        deb.len(),
        sha256_hex(&deb)
    )
    .into_bytes();
    let release = format!(
        "Origin: redgreen-test\nLabel: redgreen-test\nDate: {}\nSHA256:\n {} {} Packages\n",
        String::from_utf8(run(Command::new("date")
            .args(["-u", "-R"])
            .env("LC_ALL", "C")))
        .unwrap()
        .trim(),
        sha256_hex(&packages),
        packages.len()
    );
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    let gpg = |args: &[&str]| {
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", &home)
            .args([
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args);
        cmd
    };
    run(&mut gpg(&[
        "--quick-gen-key",
        "redgreen test <tests@example.invalid>",
        "ed25519",
        "sign",
        "never",
    ]));
    let key = String::from_utf8(run(&mut gpg(&["--armor", "--export"]))).unwrap();
    std::fs::write(dir.join("Release"), &release).unwrap();
    run(gpg(&["--clearsign", "-o"])
        .arg(dir.join("InRelease"))
        .arg(dir.join("Release")));
    let in_release = std::fs::read(dir.join("InRelease")).unwrap();
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "gpg-agent"])
        .output();
    (
        vec![
            ("rg-hello_1.0_all.deb".into(), deb),
            ("Packages".into(), packages),
            ("InRelease".into(), in_release),
        ],
        key,
    )
}

/// `GET /` to the host's port 80, made on the host (test hosts are reached
/// through loopback, where only their SSH port is published): (status line
/// and headers, body).
fn http_get() -> (String, String) {
    let response = on_host("curl -s -i -H 'Host: box' http://127.0.0.1/");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_string(), body.to_string())
}

const RECIPE: &str = r#"vars: { greeting: hello, site_root: /var/www/html }
resources:
  - directory: /srv/repo
  - file: /srv/repo/rg-hello_1.0_all.deb
    source: repo/rg-hello_1.0_all.deb
  - file: /srv/repo/Packages
    source: repo/Packages
  - file: /srv/repo/InRelease
    source: repo/InRelease
  - apt_repository: redgreen-test
    uri: "file:/srv/repo"
    suite: ./
    key: repo/redgreen-test.asc
  - package: [nginx-light, cron]
  - package: curl
    state: latest
  - package: rg-hello
    version: "1.0"
  - group: app
    gid: 1500
  - user: deploy
    group: app
    groups: [www-data]
    shell: /bin/bash
    authorized_keys: ["{{deploy_key}}"]
  - file: "{{site_root}}/index.html"
    content: "hello from {{host.name}}\n"
  - template: /etc/nginx/sites-enabled/default
    source: site.conf.hbs
    notify: [service nginx reload, record-reload]
  - service: nginx
    running: true
    enabled: true
  - cron: backup
    user: deploy
    schedule: "*/5 * * * *"
    run: /usr/local/bin/backup.sh
  - sysctl: net.ipv4.tcp_keepalive_time
    value: "600"
  - command: date > /srv/migrated
    creates: /srv/migrated
  - command: printf '%s %s %s\n' "$(id -un)" "$PWD" "$GREETING" > /tmp/as-deploy
    user: deploy
    cwd: /home/deploy
    env: { GREETING: "{{greeting}}" }
    creates: /tmp/as-deploy
  - command: echo guarded >> /srv/guarded.log
    unless: grep -q guarded /srv/guarded.log
    only_if: test -d /srv
  - download: /srv/downloaded.html
    url: http://127.0.0.1/index.html
    sha256: "{{index_sha}}"
    mode: "0600"
handlers:
  - command: record-reload
    run: date >> /srv/reloads.log
"#;

const SITE: &str = "# Written by redgreen.\nserver {\n    listen 80 default_server;\n    root {{site_root}};\n    index index.html;\n    add_header X-Greeting \"{{greeting}}\";\n}\n";

#[test]
fn a_web_server_from_packages_to_handlers_and_a_second_converge_changes_nothing() {
    let _turn = take_turn();
    let shared = shared();
    let deploy_key =
        std::fs::read_to_string(shared.project.path().join(".redgreen/id_ed25519.pub"))
            .unwrap()
            .trim()
            .to_string();
    let index_sha = sha256_hex(b"hello from box\n");
    let project = project_on_shared(&format!(
        "groups:\n  test: {{ recipes: [system], vars: {{ deploy_key: \"{deploy_key}\", index_sha: {index_sha} }} }}\n"
    ));
    project.write("recipes/system.yml", RECIPE);
    project.write("templates/site.conf.hbs", SITE);
    let build = tempfile::tempdir().unwrap();
    let (files, key) = signed_repository(build.path());
    for (name, bytes) in files {
        let path = project.path().join("files/repo").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    project.write("files/repo/redgreen-test.asc", &key);

    // The plan is one round trip and names what will happen.
    let plan = project.run(&["plan"]).expect(0);
    assert!(
        plan.stdout.contains("install nginx-light"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("handler: service nginx reload")
            && plan.stdout.contains("to change, then 2 handlers"),
        "{}",
        plan.stdout
    );
    let plan = project.run(&["plan", "--format", "json"]).expect(0);
    assert_eq!(host_report(&plan)["round_trips"], 1);

    // First converge: everything in two round trips; the package cache is
    // refreshed once, before the first install.
    let started = std::time::Instant::now();
    let first = project.run(&["converge", "--format", "json"]).expect(0);
    let seconds = started.elapsed().as_secs_f64();
    let host = host_report(&first);
    assert_eq!(host["round_trips"], 2, "{}", first.stdout);
    let changed: Vec<String> = statuses(&host)
        .into_iter()
        .filter(|(_, s)| s != "changed")
        .map(|(t, s)| format!("{t}: {s}"))
        .collect();
    // nginx was started by its package, so the service resource found it running.
    assert_eq!(changed, ["service nginx: ok"], "{}", first.stdout);
    assert_eq!(
        handler_titles(&host),
        [
            ("handler: service nginx reload".into(), "changed".into()),
            ("handler: command record-reload".into(), "changed".into())
        ]
    );
    eprintln!("first converge with packages: {seconds:.1}s");

    // Packages, from Debian's mirror and from the local repository.
    assert_eq!(
        on_host(
            "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' nginx-light curl cron rg-hello"
        ),
        "cron ii \ncurl ii \nnginx-light ii \nrg-hello ii \n"
    );
    assert_eq!(
        on_host("cat /usr/share/rg-hello/hello /etc/apt/sources.list.d/redgreen-test.list"),
        "hello from a local repository\n# Managed by redgreen.\ndeb [signed-by=/etc/apt/keyrings/redgreen-test.asc] file:/srv/repo ./\n"
    );
    // The user, its groups and its key: it can log in.
    assert_eq!(
        on_host(
            "id -gn deploy; id -Gn deploy; getent group app | cut -d: -f3; getent passwd deploy | cut -d: -f7; stat -c '%a %U' ~deploy/.ssh ~deploy/.ssh/authorized_keys"
        ),
        "app\napp www-data\n1500\n/bin/bash\n700 deploy\n600 deploy\n"
    );
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host).to_string();
    let ssh = Command::new("ssh")
        .arg("-F")
        .arg(project.path().join("ssh_config"))
        .args(["-p", &port, "-l", "deploy", &address, "id -un"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ssh.stdout),
        "deploy\n",
        "deploy logs in with its key: {}",
        String::from_utf8_lossy(&ssh.stderr)
    );
    // Cron, sysctl, commands, download.
    assert_eq!(
        on_host("crontab -u deploy -l"),
        "# redgreen: backup\n*/5 * * * * /usr/local/bin/backup.sh\n"
    );
    assert_eq!(
        on_host(
            "cat /proc/sys/net/ipv4/tcp_keepalive_time /etc/sysctl.d/90-redgreen-net.ipv4.tcp_keepalive_time.conf"
        ),
        "600\n# Managed by redgreen.\nnet.ipv4.tcp_keepalive_time = 600\n"
    );
    assert_eq!(
        on_host("test -s /srv/migrated && cat /srv/guarded.log"),
        "guarded\n"
    );
    assert_eq!(
        on_host("cat /tmp/as-deploy; stat -c %U /tmp/as-deploy"),
        "deploy /home/deploy hello\ndeploy\n"
    );
    assert_eq!(
        on_host("stat -c %a /srv/downloaded.html; cat /srv/downloaded.html"),
        "600\nhello from box\n"
    );
    // The service, and nginx answering on its port with the new site.
    assert_eq!(
        on_host("systemctl is-active nginx; systemctl is-enabled nginx"),
        "active\nenabled\n"
    );
    let (head, body) = http_get();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("X-Greeting: hello"), "{head}");
    assert_eq!(body, "hello from box\n");
    assert_eq!(on_host("wc -l < /srv/reloads.log"), "1\n");

    // Second converge: nothing changes, one round trip.
    let second = project.run(&["converge", "--format", "json"]).expect(0);
    let host = host_report(&second);
    assert_eq!(host["round_trips"], 1, "{}", second.stdout);
    assert!(
        statuses(&host).iter().all(|(_, s)| s == "ok"),
        "{}",
        second.stdout
    );
    assert_eq!(host["handlers"].as_array().unwrap().len(), 0);

    // A changed template triggers exactly one reload (counted by systemd).
    let reloads = || {
        on_host("journalctl -u nginx -o cat | grep -c '^Reloaded' || true")
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let before = reloads();
    let third = project
        .run(&["converge", "--format", "json", "--var", "greeting=bonjour"])
        .expect(0);
    let host = host_report(&third);
    assert_eq!(host["round_trips"], 2);
    let changed: Vec<String> = statuses(&host)
        .into_iter()
        .filter(|(_, s)| s != "ok")
        .map(|(t, _)| t)
        .collect();
    assert_eq!(changed, ["template /etc/nginx/sites-enabled/default"]);
    assert_eq!(reloads(), before + 1, "exactly one reload");
    assert_eq!(on_host("wc -l < /srv/reloads.log"), "2\n");
    let (head, _) = http_get();
    assert!(head.contains("X-Greeting: bonjour"), "reloaded: {head}");
    let fourth = project
        .run(&["converge", "--format", "json", "--var", "greeting=bonjour"])
        .expect(0);
    assert_eq!(host_report(&fourth)["round_trips"], 1);
    assert_eq!(reloads(), before + 1);

    // A download whose sha256 does not match never replaces the file.
    let bad = project_on_shared("groups:\n  test: { recipes: [bad] }\n");
    bad.write(
        "recipes/bad.yml",
        &format!(
            "resources:\n  - download: /srv/downloaded.html\n    url: http://127.0.0.1/index.html\n    sha256: {}\n",
            sha256_hex(b"something else")
        ),
    );
    let failed = bad.run(&["converge"]).expect(1);
    assert!(
        failed.stdout.contains("has sha256 ")
            && failed.stdout.contains("the file was not replaced"),
        "{}",
        failed.stdout
    );
    assert_eq!(
        on_host("cat /srv/downloaded.html; ls -a /srv | grep -c '^.rg-' || true"),
        "hello from box\n0\n"
    );
}

#[test]
fn restart_on_restarts_a_service_when_its_file_changes_and_unit_files_are_reloaded() {
    let _turn = take_turn();
    let project = project_on_shared("groups:\n  test: { recipes: [sleeper] }\n");
    let recipe = |version: u32, description: &str| {
        format!(
            "resources:\n  - file: /etc/systemd/system/rg-sleeper.service\n    content: \"[Unit]\\nDescription={description}\\n[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n\"\n  - file: /etc/rg-sleeper.conf\n    content: \"version {version}\\n\"\n  - service: rg-sleeper\n    running: true\n    enabled: true\n    restart_on: [/etc/rg-sleeper.conf]\n"
        )
    };
    let main_pid = || on_host("systemctl show -p MainPID --value rg-sleeper");
    project.write("recipes/sleeper.yml", &recipe(1, "sleeper"));

    // A unit written in the same converge is daemon-reloaded, enabled and
    // started, and its config file's creation restarts it once, at the end.
    let first = project.run(&["converge", "--format", "json"]).expect(0);
    let host = host_report(&first);
    assert_eq!(host["round_trips"], 2);
    assert_eq!(
        handler_titles(&host),
        [(
            "handler: service rg-sleeper restart".into(),
            "changed".into()
        )]
    );
    assert_eq!(
        on_host("systemctl is-active rg-sleeper; systemctl is-enabled rg-sleeper"),
        "active\nenabled\n"
    );
    let pid = main_pid();

    let second = project.run(&["converge", "--format", "json"]).expect(0);
    assert_eq!(host_report(&second)["round_trips"], 1);
    assert_eq!(main_pid(), pid, "nothing changed, no restart");

    project.write("recipes/sleeper.yml", &recipe(2, "sleeper"));
    let third = project.run(&["converge", "--format", "json"]).expect(0);
    assert_eq!(
        handler_titles(&host_report(&third)),
        [(
            "handler: service rg-sleeper restart".into(),
            "changed".into()
        )]
    );
    assert_ne!(main_pid(), pid, "restarted");

    // A changed unit file: the service re-checks and systemd re-reads it.
    project.write("recipes/sleeper.yml", &recipe(2, "sleeper, edited"));
    let fourth = project.run(&["converge"]).expect(0);
    assert!(
        fourth.stdout.contains("changed   service rg-sleeper"),
        "{}",
        fourth.stdout
    );
    assert_eq!(
        on_host(
            "systemctl show -p NeedDaemonReload --value rg-sleeper; systemctl show -p Description --value rg-sleeper"
        ),
        "no\nsleeper, edited\n"
    );
    let fifth = project.run(&["converge", "--format", "json"]).expect(0);
    assert_eq!(host_report(&fifth)["round_trips"], 1);
}

/// A project whose host is the shared test host, logged in to as `user`.
fn project_as(user: &str, recipe: &str) -> Project {
    let shared = shared();
    let project = project_on_shared("groups:\n  test: { recipes: [become] }\n");
    let text = std::fs::read_to_string(project.path().join("redgreen.yml")).unwrap();
    project.write(
        "redgreen.yml",
        &text.replace(
            ", groups: [test] }",
            &format!(", user: {user}, groups: [test] }}"),
        ),
    );
    project.write("recipes/become.yml", recipe);
    let _ = shared;
    project
}

#[test]
fn become_sudo_runs_each_batch_through_one_sudo_and_says_when_sudo_wants_a_password() {
    let _turn = take_turn();
    // alice has passwordless sudo (logged to a file, to count); bob's sudo
    // asks for a password.
    on_host(
        "set -e
         for u in alice bob; do
           id $u >/dev/null 2>&1 || useradd -m -s /bin/bash $u
           install -d -m 700 -o $u -g $u /home/$u/.ssh
           install -m 600 -o $u -g $u /root/.ssh/authorized_keys /home/$u/.ssh/authorized_keys
         done
         printf 'alice ALL=(ALL) NOPASSWD: ALL\\nDefaults:alice logfile=/var/log/sudo-alice.log, loglinelen=0\\n' > /etc/sudoers.d/alice
         printf 'bob ALL=(ALL) ALL\\n' > /etc/sudoers.d/bob
         chmod 440 /etc/sudoers.d/alice /etc/sudoers.d/bob
         rm -f /var/log/sudo-alice.log /root/become-proof /root/become-whoami",
    );
    let sudos = || {
        on_host("grep -c 'COMMAND=' /var/log/sudo-alice.log || true")
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let recipe = "resources:\n  - file: /root/become-proof\n    content: \"written through sudo\\n\"\n    mode: \"0600\"\n  - command: id -un > /root/become-whoami\n    creates: /root/become-whoami\n";
    let alice = project_as("alice", recipe);
    let first = alice.run(&["converge", "--format", "json"]).expect(0);
    let host = host_report(&first);
    assert_eq!(host["round_trips"], 2);
    assert_eq!(host["facts"]["user"], "root", "scripts ran as root");
    assert_eq!(
        on_host("stat -c '%U %a' /root/become-proof; cat /root/become-whoami"),
        "root 600\nroot\n"
    );
    assert_eq!(sudos(), 2, "one sudo for the probe, one for the apply");
    let second = alice.run(&["converge", "--format", "json"]).expect(0);
    assert_eq!(host_report(&second)["round_trips"], 1);
    assert_eq!(sudos(), 3, "a no-op converge is one sudo");

    let bob = project_as("bob", recipe);
    let refused = bob.run(&["converge"]).expect(1);
    assert!(
        refused
            .stdout
            .contains("sudo on this host asks for a password; give bob passwordless sudo (NOPASSWD) or log in as root"),
        "{}{}",
        refused.stdout,
        refused.stderr
    );
}

#[test]
fn a_non_namespaced_sysctl_is_refused_on_a_container_and_nothing_is_applied() {
    let _turn = take_turn();
    let project = project_on_shared("groups:\n  test: { recipes: [kernel] }\n");
    project.write(
        "recipes/kernel.yml",
        "resources:\n  - file: /srv/kernel-marker\n    content: x\n  - sysctl: vm.swappiness\n    value: \"10\"\n",
    );
    on_host("rm -f /srv/kernel-marker");
    let run = project.run(&["converge", "--format", "json"]).expect(1);
    let host = host_report(&run);
    assert_eq!(host["round_trips"], 1, "refused at plan time");
    let message = host["resources"][1]["message"].as_str().unwrap();
    assert!(
        message.contains("vm.swappiness is not namespaced: on this docker container it would change the machine the container runs on"),
        "{message}"
    );
    assert_eq!(
        on_host("test -e /srv/kernel-marker && echo there || echo absent"),
        "absent\n"
    );
}

#[test]
fn a_command_without_a_guard_runs_every_time_and_the_recap_says_so() {
    let _turn = take_turn();
    let project = project_on_shared("groups:\n  test: { recipes: [always] }\n");
    project.write(
        "recipes/always.yml",
        "resources:\n  - command: echo tick >> /srv/unguarded.log\n",
    );
    on_host("rm -f /srv/unguarded.log");
    for _ in 0..2 {
        let run = project.run(&["converge"]).expect(0);
        assert!(
            run.stdout.contains(
                "note: box: command echo tick >> /srv/unguarded.log has no guard (creates, unless, only_if): it runs on every converge"
            ),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("changed   command echo tick"),
            "{}",
            run.stdout
        );
    }
    assert_eq!(on_host("cat /srv/unguarded.log"), "tick\ntick\n");
    let plan = project.run(&["plan"]).expect(0);
    assert!(
        plan.stdout
            .contains("no creates, unless or only_if guard: it runs on every converge"),
        "{}",
        plan.stdout
    );
}
