//! Test hosts of one platform share a package cache (downloaded .debs and
//! package lists on volumes of the platform's): two hosts installing the
//! same package at once both succeed (apt-get takes turns), and a later
//! fresh host installs it without downloading it again.

mod common;

const FILES: &[(&str, &str)] = &[
    (
        "redgreen.yml",
        r#"
groups:
  tools: { recipes: [tools] }
test_hosts:
  driver: docker
  platforms:
    - { name: debian-12, image: "debian:bookworm" }
  hosts:
    one: { groups: [tools] }
    two: { groups: [tools] }
"#,
    ),
    ("recipes/tools.yml", "resources:\n  - package: hello\n"),
    (
        "features/tools.feature",
        "Feature: tools\n  Scenario: hello\n    Then the package \"hello\" should be installed\n",
    ),
];

/// The modification time of hello's .deb in the host's package cache.
fn downloaded(project: &common::Project, host: &str) -> String {
    project.ssh(
        host,
        "test -e /var/cache/apt/archives/.redgreen-shared && stat -c %Y /var/cache/apt/archives/hello_*.deb",
    )
}

#[test]
fn hosts_of_one_platform_share_downloaded_packages() {
    let project = common::Project::with(FILES);
    let _guard = common::HostsGuard::new(&project);
    let run = project
        .run(&["test", "--keep", "--no-cache", "--format", "json"])
        .expect(0);
    let report = run.json();
    for host in report["hosts"].as_array().expect("hosts") {
        assert_eq!(host["problems"], serde_json::json!([]), "{host}");
    }
    // Both see the one download.
    let first = downloaded(&project, "one-debian-12");
    assert_eq!(downloaded(&project, "two-debian-12"), first);

    // Fresh hosts again: installed from the cache, not downloaded again.
    std::thread::sleep(std::time::Duration::from_secs(1));
    project
        .run(&["test", "--keep", "--no-cache", "one"])
        .expect(0);
    assert_eq!(downloaded(&project, "one-debian-12"), first);
    assert_eq!(
        project.ssh("one-debian-12", "dpkg-query -W -f '${Status}' hello"),
        "install ok installed"
    );
}
