//! The `user` and `group` resources on a host without the shadow tools,
//! where BusyBox's adduser, addgroup, deluser and delgroup manage accounts
//! (as on Alpine without the shadow package): redgreen's
//! `redgreen-busybox:bookworm` test image, Debian 12 with useradd and its
//! kin moved out of PATH and BusyBox built from Debian's source package with
//! those applets (see src/driver/images/busybox.sh).

mod common;

const CONFIG: &str = "groups:\n  accounts: { recipes: [accounts] }\ntest_hosts:\n  driver: docker\n  platforms:\n    - { name: busybox, image: \"redgreen-busybox:bookworm\" }\n  hosts:\n    box: { groups: [accounts] }\n";

const RECIPE: &str = "resources:
  - group: app
    gid: 1200
  - group: deployers
  - group: auditors
    system: true
  - user: deploy
    uid: 1100
    group: app
    groups: [deployers, auditors]
    shell: /bin/sh
    home: /srv/deploy
  - user: sysu
    system: true
";

const FEATURE: &str = "Feature: accounts
  Scenario: a user in its groups
    Then the user \"deploy\" should exist
    And the user \"deploy\" should have shell \"/bin/sh\"
    And the user \"deploy\" should have home \"/srv/deploy\"
    And the user \"deploy\" should be in group \"app\"
    And the user \"deploy\" should be in group \"deployers\"
    And the user \"deploy\" should be in group \"auditors\"
    And the user \"sysu\" should exist
";

#[test]
fn busybox_adduser_and_addgroup_manage_accounts_without_the_shadow_tools() {
    let project = common::Project::with(&[
        ("redgreen.yml", CONFIG),
        ("recipes/accounts.yml", RECIPE),
        ("features/accounts.feature", FEATURE),
    ]);
    let _guard = common::HostsGuard::new(&project);
    let host = "box-busybox";

    // Red, green, idempotent; the facts say which tools.
    let run = project
        .run(&["test", "--keep", "--no-cache", "--format", "json"])
        .expect(0);
    let report = run.json();
    assert_eq!(
        report["hosts"][0]["problems"],
        serde_json::json!([]),
        "{report}"
    );
    assert_eq!(
        project.ssh(host, "command -v useradd groupadd usermod || echo none"),
        "none\n",
        "the host has no shadow tools"
    );
    let facts = project
        .run(&["converge", host, "--format", "json"])
        .expect(0);
    assert_eq!(
        facts.json()["hosts"][0]["facts"]["account_tools"],
        "busybox"
    );
    // BusyBox's adduser -G also lists the user as a member of its primary group.
    assert_eq!(
        project.ssh(host, "getent passwd deploy; getent group app; id -Gn deploy | tr ' ' '\\n' | sort | paste -sd, -; test -d /srv/deploy && stat -c %U /srv/deploy"),
        "deploy:x:1100:1200:Linux User,,,:/srv/deploy:/bin/sh\napp:x:1200:deploy\napp,auditors,deployers\ndeploy\n"
    );

    // Supplementary groups change one addgroup/delgroup at a time.
    project.write(
        "recipes/accounts.yml",
        &RECIPE.replace(
            "groups: [deployers, auditors]",
            "groups: [deployers, users]",
        ),
    );
    let run = project
        .run(&["converge", host, "--format", "json"])
        .expect(0);
    assert_eq!(
        common::statuses(&run),
        ["ok", "ok", "ok", "changed", "ok"],
        "{}",
        run.stdout
    );
    assert_eq!(
        project.ssh(host, "id -Gn deploy | tr ' ' '\\n' | sort | paste -sd, -"),
        "app,deployers,users\n"
    );
    let run = project
        .run(&["converge", host, "--format", "json"])
        .expect(0);
    assert_eq!(common::statuses(&run), ["ok"; 5], "{}", run.stdout);

    // BusyBox has no usermod: another shell is refused at plan time, and
    // nothing on the host changes.
    project.write(
        "recipes/accounts.yml",
        &RECIPE
            .replace(
                "groups: [deployers, auditors]",
                "groups: [deployers, users]",
            )
            .replace("shell: /bin/sh", "shell: /bin/bash"),
    );
    let run = project.run(&["converge", host]);
    assert_ne!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("user 'deploy' exists with another shell")
            && said.contains("BusyBox")
            && said.contains("recipes/accounts.yml"),
        "{said}"
    );
    assert_eq!(
        project.ssh(host, "getent passwd deploy | cut -d: -f7"),
        "/bin/sh\n"
    );

    // Removals: deluser and delgroup.
    project.write(
        "recipes/accounts.yml",
        "resources:\n  - user: deploy\n    state: absent\n    reason: gone\n  - group: deployers\n    state: absent\n    reason: gone\n",
    );
    let run = project
        .run(&["converge", host, "--allow-removals", "--format", "json"])
        .expect(0);
    assert_eq!(
        common::statuses(&run),
        ["changed", "changed"],
        "{}",
        run.stdout
    );
    assert_eq!(
        project.ssh(
            host,
            "getent passwd deploy || echo no user; getent group deployers || echo no group"
        ),
        "no user\nno group\n"
    );
}
