//! The `package` resource on dnf, zypper and pacman, each on a real test host
//! whose manager does real transactions (redgreen's test images, built from
//! Debian's packaging of the managers with a local repository of small
//! packages at versions 1.0 and 2.0, see src/driver/package_image.rs):
//! install, pin (also a downgrade), `latest` (an upgrade), absent, one
//! transaction for the packages of consecutive package resources, no change
//! on a second converge,
//! and the `package` steps answering from the manager's own database.

mod common;

const FEATURE_V1: &str = "Feature: tools
  Scenario: tools are installed
    Then the package \"rg-hello\" should be installed
    And the package \"rg-extra\" should be installed
    And the package \"rg-tool\" should be installed at version \"1.0-1\"
";

const RECIPE_V1: &str = "resources:
  - package: [rg-hello, rg-extra]
  - package: rg-tool
    version: \"1.0\"
";

const FEATURE_V2: &str = "Feature: tools
  Scenario: tools are pinned, upgraded and removed
    Then the package \"rg-hello\" should be installed at version \"1.0-1\"
    And the package \"rg-tool\" should be installed at version \"2.0-1\"
    And the package \"rg-extra\" should not be installed
";

const RECIPE_V2: &str = "resources:
  - package: rg-hello
    version: \"1.0\"
  - package: rg-tool
    state: latest
  - package: rg-extra
    state: absent
    reason: the tools no longer need it
";

/// The red-green cycle, then a second recipe, on a test host of `image`;
/// `transactions` prints how many transactions the manager has made.
fn packages_on(platform: &str, image: &str, transactions: &str) {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            &format!(
                "groups:\n  tools: {{ recipes: [tools] }}\ntest_hosts:\n  driver: docker\n  platforms:\n    - {{ name: {platform}, image: \"{image}\" }}\n  hosts:\n    box: {{ groups: [tools] }}\n"
            ),
        ),
        ("recipes/tools.yml", RECIPE_V1),
        ("features/tools.feature", FEATURE_V1),
    ]);
    let _guard = common::HostsGuard::new(&project);
    let host = format!("box-{platform}");
    let count = || -> u32 {
        let out = project.ssh(&host, transactions);
        out.trim().parse().unwrap_or_else(|_| panic!("{out}"))
    };

    // Red, green and idempotent: three packages, two resources.
    let run = project
        .run(&["test", "--keep", "--no-cache", "--format", "json"])
        .expect(0);
    assert_eq!(
        run.json()["hosts"][0]["problems"],
        serde_json::json!([]),
        "{}",
        run.stdout
    );
    assert_eq!(
        count(),
        1,
        "one transaction for the packages of both resources"
    );

    // Pin an older version, upgrade to the newest, remove one.
    project.write("recipes/tools.yml", RECIPE_V2);
    project.write("features/tools.feature", FEATURE_V2);
    project.run(&["verify", &host]).expect(1);
    let run = project
        .run(&["converge", &host, "--allow-removals", "--format", "json"])
        .expect(0);
    assert_eq!(
        common::statuses(&run),
        ["changed", "changed", "changed"],
        "{}",
        run.stdout
    );
    assert_eq!(
        count(),
        3,
        "the pin and the upgrade in one, the removal in another"
    );
    project.run(&["verify", &host]).expect(0);

    // Nothing left to do: no transaction.
    let run = project
        .run(&["converge", &host, "--allow-removals", "--format", "json"])
        .expect(0);
    assert_eq!(common::statuses(&run), ["ok", "ok", "ok"], "{}", run.stdout);
    assert_eq!(count(), 3);
    assert_eq!(
        run.json()["hosts"][0]["facts"]["package_manager"],
        platform,
        "the manager comes from the family"
    );
}

#[test]
fn dnf_installs_pins_upgrades_and_removes_in_real_transactions() {
    packages_on(
        "dnf",
        "redgreen-dnf:bookworm",
        "dnf -q history list | grep -cE '^ +[0-9]+ +[|]'",
    );
}

#[test]
fn zypper_installs_pins_upgrades_and_removes_in_real_transactions() {
    packages_on(
        "zypper",
        "redgreen-zypper:bookworm",
        "grep -c '[|]command[|]' /var/log/zypp/history",
    );
}

#[test]
fn pacman_installs_pins_upgrades_and_removes_in_real_transactions() {
    packages_on(
        "pacman",
        "redgreen-pacman:bookworm",
        "grep -c 'transaction started' /var/log/pacman.log",
    );
}

/// pacman does not refresh its sync databases by itself: redgreen does,
/// before the first install (there were none), and not again while they are
/// fresh. Package resources with another change between them stay apart.
#[test]
fn pacman_refreshes_its_databases_only_when_needed() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  tools: { recipes: [tools] }\ntest_hosts:\n  driver: docker\n  platforms:\n    - { name: arch, image: \"redgreen-pacman:bookworm\" }\n  hosts:\n    sync: { groups: [tools] }\n",
        ),
        ("recipes/tools.yml", "resources:\n  - package: rg-hello\n"),
    ]);
    let _guard = project.create_hosts();
    let run = project.run(&["plan", "sync-arch"]).expect(0);
    assert!(
        run.stdout
            .contains("refresh the package cache first (the package cache was never fetched)"),
        "{}",
        run.stdout
    );
    project.run(&["converge", "sync-arch"]).expect(0);
    // A file between two package resources keeps them apart: the recipe's
    // order holds (rg-hello is installed already, rg-tool joins nothing).
    project.write(
        "recipes/tools.yml",
        "resources:\n  - package: rg-hello\n  - package: rg-tool\n  - file: /etc/rg-between\n    content: between\n  - package: rg-extra\n",
    );
    let run = project.run(&["plan", "sync-arch"]).expect(0);
    assert!(!run.stdout.contains("refresh"), "{}", run.stdout);
    project.run(&["converge", "sync-arch"]).expect(0);
    let log = |pattern: &str| {
        project
            .ssh(
                "sync-arch",
                &format!("grep -c '{pattern}' /var/log/pacman.log"),
            )
            .trim()
            .to_string()
    };
    assert_eq!(log("synchronizing package lists"), "1");
    assert_eq!(
        log("transaction started"),
        "3",
        "rg-hello; rg-tool; rg-extra"
    );
}

/// An `rpm_repository` adds a repository that dnf and zypper then install
/// from, in the same converge (the images hold a second local repository,
/// /srv/redgreen-extra, that no .repo file names).
#[test]
fn rpm_repository_adds_a_repository_dnf_and_zypper_install_from() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  tools: { recipes: [tools] }\ntest_hosts:\n  driver: docker\n  platforms:\n    - { name: dnf, image: \"redgreen-dnf:bookworm\" }\n    - { name: zypper, image: \"redgreen-zypper:bookworm\" }\n  hosts:\n    repo: { groups: [tools] }\n",
        ),
        (
            "recipes/tools.yml",
            "resources:\n  - rpm_repository: extra\n    description: redgreen extra test packages\n    baseurl: file:///srv/redgreen-extra\n    gpgcheck: false\n  - package: rg-more\n",
        ),
        (
            "features/tools.feature",
            "Feature: extra\n  Scenario: from the extra repository\n    Then the package \"rg-more\" should be installed at version \"2.0-1\"\n",
        ),
    ]);
    let _guard = common::HostsGuard::new(&project);
    let run = project
        .run(&["test", "--keep", "--no-cache", "--format", "json"])
        .expect(0);
    for host in run.json()["hosts"].as_array().expect("hosts") {
        assert_eq!(host["problems"], serde_json::json!([]), "{host}");
    }
    let repo = project.ssh("repo-dnf", "cat /etc/yum.repos.d/extra.repo");
    assert!(
        repo.contains("baseurl=file:///srv/redgreen-extra\n"),
        "{repo}"
    );
    assert!(repo.contains("gpgcheck=0\n"), "{repo}");
    let repo = project.ssh("repo-zypper", "cat /etc/zypp/repos.d/extra.repo");
    assert!(repo.contains("type=rpm-md\n"), "{repo}");
    assert_eq!(
        project
            .ssh(
                "repo-zypper",
                "zypper --non-interactive --quiet repos extra | sed -n 's/^Enabled *: //p'"
            )
            .trim(),
        "Yes"
    );
}

/// examples/packages: one recipe and feature on dnf, zypper and pacman at
/// once, per-family differences through facts and `when:`, red → green →
/// idempotent.
#[test]
fn the_packages_example_goes_red_green_and_idempotent_on_three_managers() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/packages");
    let project = common::Project::new();
    common::copy_dir(&example, project.path());
    let _guard = common::HostsGuard::new(&project);
    let run = project.run(&["test", "--no-cache", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let hosts = report["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 3, "{report}");
    for host in hosts {
        assert_eq!(host["problems"], serde_json::json!([]), "{host}");
    }
}

/// On apt too, consecutive package resources install in one `apt-get
/// install` (apt's history shows one transaction), and each resource
/// reports what it installed.
#[test]
fn apt_installs_consecutive_package_resources_in_one_transaction() {
    let project = common::project_on_shared("groups:\n  test: { recipes: [tools] }\n");
    project.write(
        "recipes/tools.yml",
        "resources:\n  - package: hello\n  - package: [tree]\n",
    );
    let shared = common::shared();
    let history = || {
        let out = shared.project.ssh(
            &shared.host,
            "grep -c '^Start-Date' /var/log/apt/history.log || true",
        );
        out.trim().parse::<u32>().unwrap_or(0)
    };
    let before = history();
    let run = project.run(&["converge", "--format", "json"]).expect(0);
    assert_eq!(
        common::statuses(&run),
        ["changed", "changed"],
        "{}",
        run.stdout
    );
    assert_eq!(history(), before + 1, "one apt-get install");
    let run = project.run(&["converge", "--format", "json"]).expect(0);
    assert_eq!(common::statuses(&run), ["ok", "ok"], "{}", run.stdout);
}
