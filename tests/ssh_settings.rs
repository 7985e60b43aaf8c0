//! SSH settings on real test hosts: only what redgreen.yml says goes on the
//! ssh command line, the rest comes from the ssh_config as with plain ssh;
//! a login other than root reaches root with sudo; ad-hoc `ssh://` targets.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Project, shared};

const THROUGH_SUDO: &str = "Feature: Through sudo
  Scenario: root's file
    Then the file \"/etc/rg-deploy-made\" should be owned by \"root\"
    And the file \"/etc/rg-deploy-made\" should contain \"made through sudo\"

  Scenario: the login
    When I run \"id -un\" as \"deploy\"
    Then the output should contain \"deploy\"

  Scenario: checks run as root
    When I run \"id -un\"
    Then the output should contain \"root\"
";

/// A project whose host `web` is `address`, with a recipe that needs root.
fn sudo_project(address_line: &str, ssh_config: &str) -> Project {
    Project::with(&[
        (
            "redgreen.yml",
            &format!(
                "defaults:\n  ssh_config: ssh_config\nhosts:\n  web: {address_line}\ngroups:\n  web: {{ recipes: [root-only] }}\n"
            ),
        ),
        ("ssh_config", ssh_config),
        (
            "recipes/root-only.yml",
            "resources:\n  - file: /etc/rg-deploy-made\n    content: \"made through sudo\\n\"\n    mode: \"0600\"\n  - directory: /root/rg-deploy\n",
        ),
        ("features/sudo.feature", THROUGH_SUDO),
    ])
}

/// A test host where root cannot log in over SSH, and `deploy` (with the
/// test project's key and passwordless sudo) can; reached through an
/// ssh_config alias `myalias` whose `User`, `Port` and `IdentityFile` say so.
#[test]
fn a_host_reached_through_its_ssh_config_alias_as_a_sudo_user() {
    let hosts = Project::with(&[(
        "redgreen.yml",
        "test_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    locked: {}\n",
    )]);
    let _guard = hosts.create_hosts();
    let host = "locked-d12";
    let state = hosts.path().join(".redgreen");
    let public_key = std::fs::read_to_string(state.join("id_ed25519.pub")).unwrap();
    hosts.ssh(
        host,
        &format!(
            "set -e; useradd -m -s /bin/sh deploy; install -d -m 700 -o deploy -g deploy ~deploy/.ssh; \
             echo '{}' > ~deploy/.ssh/authorized_keys; chown deploy: ~deploy/.ssh/authorized_keys; \
             echo 'deploy ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/deploy; chmod 440 /etc/sudoers.d/deploy; \
             echo 'PermitRootLogin no' > /etc/ssh/sshd_config.d/no-root.conf; systemctl reload ssh",
            public_key.trim()
        ),
    );
    // Root is refused from now on.
    let refused = hosts.run(&["hosts", "ssh", host, "--", "true"]);
    assert_ne!(refused.code, 0, "root can still log in");

    let port = hosts.port(host);
    let alias = format!(
        "Host myalias\n  HostName 127.0.0.1\n  Port {port}\n  User deploy\n  IdentityFile \"{key}\"\n  IdentitiesOnly yes\n  UserKnownHostsFile \"{known}\"\n  StrictHostKeyChecking yes\n",
        key = state.join("id_ed25519").display(),
        known = state.join("known_hosts").display(),
    );
    let project = sudo_project("{ address: myalias, groups: [web] }", &alias);
    let first = project.run(&["converge", "--format", "json"]).expect(0);
    let report = first.json();
    let statuses: Vec<&str> = report["hosts"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["changed", "changed"], "{report}");
    project.run(&["converge", "--format", "json"]).expect(0);
    let run = project.run(&["verify"]).expect(0);
    assert!(
        run.stdout.contains("3 scenarios (3 passed)"),
        "{}",
        run.stdout
    );

    // What redgreen.yml says wins over the ssh_config: root, refused here.
    let as_root = sudo_project("{ address: myalias, user: root, groups: [web] }", &alias);
    let run = as_root.run(&["converge"]).expect(3);
    assert!(
        run.stdout.contains("root@127.0.0.1: Permission denied"),
        "{}",
        run.stdout
    );

    // `identity:` is relative to the project, whatever the current directory
    // (the tests run in the crate's); user and port from redgreen.yml.
    let plain = format!(
        "Host *\n  IdentitiesOnly yes\n  UserKnownHostsFile \"{}\"\n  StrictHostKeyChecking yes\n",
        state.join("known_hosts").display()
    );
    let explicit = sudo_project(
        &format!(
            "{{ address: 127.0.0.1, port: {port}, user: deploy, identity: keys/deploy, groups: [web] }}"
        ),
        &plain,
    );
    let key = explicit.path().join("keys/deploy");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::copy(state.join("id_ed25519"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_ne!(std::env::current_dir().unwrap(), explicit.path());
    explicit.run(&["converge"]).expect(0);
    explicit.run(&["verify"]).expect(0);
}

/// `ssh://USER@HOST:PORT --group G`: a server that is not in redgreen.yml,
/// with G's recipes and features. Its first contact names host and port.
#[test]
fn an_ad_hoc_target_takes_its_groups_recipes_and_features() {
    let shared = shared();
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host);
    let state = shared.project.path().join(".redgreen");
    let project = Project::with(&[
        (
            "redgreen.yml",
            "defaults:\n  ssh_config: ssh_config\ngroups:\n  adhoc: { recipes: [mark], vars: { mark: ad-hoc } }\n",
        ),
        (
            "recipes/mark.yml",
            "resources:\n  - file: /srv/rg-ad-hoc\n    content: \"{{mark}}\\n\"\n",
        ),
        (
            "features/mark.feature",
            "@group:adhoc\nFeature: Marked\n  Scenario: the mark\n    Then the file \"/srv/rg-ad-hoc\" should contain \"ad-hoc\"\n",
        ),
        ("known_hosts", ""),
    ]);
    project.write(
        "ssh_config",
        &format!(
            "Host *\n  IdentityFile \"{}\"\n  IdentitiesOnly yes\n  UserKnownHostsFile \"{}\"\n",
            state.join("id_ed25519").display(),
            project.path().join("known_hosts").display()
        ),
    );
    shared.project.ssh(&shared.host, "rm -f /srv/rg-ad-hoc");
    let target = format!("ssh://root@{address}:{port}");

    let run = project.run(&["plan", &target]).expect(2);
    assert!(run.stderr.contains("needs --group NAME"), "{}", run.stderr);

    let run = project
        .run(&["plan", &target, "--group", "adhoc"])
        .expect(3);
    assert!(
        run.stdout.contains(&format!(
            "no host key is known for {address} port {port} in {}",
            project.path().join("known_hosts").display()
        )),
        "{}",
        run.stdout
    );
    let run = project
        .run(&[
            "plan",
            &target,
            "--group",
            "adhoc",
            "--accept-new-host-keys",
        ])
        .expect(0);
    let name = format!("{address}:{port}");
    assert!(
        run.stdout.contains(&format!("{name}: 1 to change")),
        "{}",
        run.stdout
    );
    project
        .run(&["converge", &target, "--group", "adhoc"])
        .expect(0);
    assert_eq!(
        shared.project.ssh(&shared.host, "cat /srv/rg-ad-hoc"),
        "ad-hoc\n"
    );
    let run = project
        .run(&["verify", &target, "--group", "adhoc"])
        .expect(0);
    assert!(
        run.stdout.contains(&format!("the mark (on {name})")),
        "{}",
        run.stdout
    );
}
