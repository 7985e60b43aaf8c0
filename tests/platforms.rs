//! examples/platforms: one recipe and feature set on Debian 11, 12 and 13
//! (systemd) and on Debian 12 with OpenRC and with sysvinit as PID 1 (images
//! redgreen bootstraps from Debian's packages). The `service` resource drives
//! each host's own init: a service stopped and disabled through that init is
//! started and enabled again by a converge.

mod common;

use std::path::Path;

fn example() -> common::Project {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/platforms");
    let project = common::Project::new();
    for dir in ["recipes", "features"] {
        common::copy_dir(&repository.join(dir), &project.path().join(dir));
    }
    std::fs::copy(
        repository.join("redgreen.yml"),
        project.path().join("redgreen.yml"),
    )
    .unwrap();
    project
}

#[test]
fn the_platforms_example_goes_red_green_idempotent_on_five_platforms() {
    let project = example();
    let _hosts = common::HostsGuard::new(&project);
    let run = project.run(&["test"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for host in ["debian11", "debian12", "debian13", "openrc", "sysvinit"] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.contains(&format!("box-{host}")) && l.contains("yes")),
            "box-{host} is not red → green → idempotent:\n{}",
            run.stdout
        );
    }
}

/// The service's state as its init tells it.
const STATE: &str = "if command -v openrc >/dev/null; then rc-service cron status >/dev/null 2>&1 && echo running || echo stopped; rc-update show default | grep -q '^ *cron |' && echo enabled || echo disabled; else service cron status >/dev/null 2>&1 && echo running || echo stopped; ls /etc/rc2.d/S??cron >/dev/null 2>&1 && echo enabled || echo disabled; fi";

#[test]
fn openrc_and_sysvinit_services_are_started_and_enabled_through_their_init() {
    let project = example();
    let config = std::fs::read_to_string(project.path().join("redgreen.yml")).unwrap();
    let config: String = config
        .lines()
        .filter(|l| !l.contains("name: debian1"))
        .map(|l| format!("{l}\n"))
        .collect();
    project.write("redgreen.yml", &config);
    let _hosts = project.create_hosts();
    project.run(&["converge"]).expect(0);
    for (host, stop) in [
        (
            "box-openrc",
            "rc-service cron stop && rc-update del cron default",
        ),
        (
            "box-sysvinit",
            "service cron stop && update-rc.d cron disable",
        ),
    ] {
        project.ssh(host, stop);
        assert_eq!(project.ssh(host, STATE), "stopped\ndisabled\n", "{host}");
    }
    let run = project.run(&["converge", "--format", "json"]).expect(0);
    for host in run.json()["hosts"].as_array().unwrap() {
        let service = host["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["title"].as_str() == Some("service cron"))
            .unwrap_or_else(|| panic!("no service cron in {host}"));
        assert_eq!(service["status"], "changed", "{service}");
    }
    for host in ["box-openrc", "box-sysvinit"] {
        assert_eq!(project.ssh(host, STATE), "running\nenabled\n", "{host}");
    }
    project.run(&["verify"]).expect(0);
    let again = project.run(&["converge", "--format", "json"]).expect(0);
    for host in again.json()["hosts"].as_array().unwrap() {
        for resource in host["resources"].as_array().unwrap() {
            assert_eq!(resource["status"], "ok", "{resource}");
        }
    }
}
