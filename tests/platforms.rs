//! examples/platforms: one recipe and feature set on Debian 11, 12 and 13
//! (systemd), on Debian 12 with OpenRC and with sysvinit as PID 1, and on a
//! dnf host (images redgreen builds from Debian's packages). The `package`
//! and `service` resources drive each host's own manager and init; what
//! differs per platform is chosen by facts (`when:`) and `@host:` tags. One
//! `redgreen test` goes red → green → idempotent on all six; then, on the
//! same hosts, a service stopped and disabled through the host's own init is
//! started and enabled again by a converge.

mod common;

use std::path::Path;

const PLATFORMS: [&str; 6] = [
    "debian11", "debian12", "debian13", "openrc", "sysvinit", "dnf",
];

fn example() -> common::Project {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/platforms");
    let project = common::Project::new();
    common::copy_dir(&repository, project.path());
    project
}

/// One test host's row of the cycle table `redgreen test` prints:
/// (scenarios failed before converge, scenarios, passed after converge,
/// scenarios, idempotent).
fn row(stdout: &str, host: &str) -> (u32, u32, u32, u32, String) {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("no row for {host} in:\n{stdout}"));
    // box-dnf  2/2 failed  2/2 passed  yes  1.0s / ...
    let words: Vec<&str> = line.split_whitespace().collect();
    let fraction = |word: &str| -> (u32, u32) {
        let (a, b) = word.split_once('/').unwrap_or_else(|| panic!("{line}"));
        (a.parse().unwrap(), b.parse().unwrap())
    };
    assert_eq!((words[2], words[4]), ("failed", "passed"), "{line}");
    let (failed, red_total) = fraction(words[1]);
    let (passed, green_total) = fraction(words[3]);
    (failed, red_total, passed, green_total, words[5].to_string())
}

/// The service's state as the host's init tells it.
const STATE: &str = "if command -v openrc >/dev/null; then rc-service $S status >/dev/null 2>&1 && echo running || echo stopped; rc-update show default | grep -q \"^ *$S |\" && echo enabled || echo disabled; elif [ -d /run/systemd/system ]; then systemctl -q is-active $S && echo running || echo stopped; systemctl -q is-enabled $S && echo enabled || echo disabled; else service $S status >/dev/null 2>&1 && echo running || echo stopped; ls /etc/rc2.d/S??$S >/dev/null 2>&1 && echo enabled || echo disabled; fi";

#[test]
fn the_platforms_example_goes_red_green_idempotent_on_six_platforms_and_each_init_restarts_its_service()
 {
    let project = example();
    let _hosts = common::HostsGuard::new(&project);
    let run = project.run(&["test", "--keep"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for platform in PLATFORMS {
        let host = format!("box-{platform}");
        let (failed, red, passed, green, idempotent) = row(&run.stdout, &host);
        // Two scenarios run on each host: its family's service, and the account.
        assert_eq!((red, green), (2, 2), "{host}:\n{}", run.stdout);
        assert_eq!(
            failed, 2,
            "{host} is not red before converge:\n{}",
            run.stdout
        );
        assert_eq!(
            passed, 2,
            "{host} is not green after converge:\n{}",
            run.stdout
        );
        assert_eq!(idempotent, "yes", "{host}:\n{}", run.stdout);
    }

    // On the same hosts: stop and disable the service through the init
    // itself; a converge starts and enables it through that init again.
    let services = [
        (
            "box-openrc",
            "cron",
            "rc-service cron stop && rc-update del cron default",
        ),
        (
            "box-sysvinit",
            "cron",
            "service cron stop && update-rc.d cron disable",
        ),
        (
            "box-dnf",
            "rg-daemon",
            "systemctl stop rg-daemon && systemctl disable rg-daemon",
        ),
    ];
    let state = |host: &str, service: &str| project.ssh(host, &format!("S={service}; {STATE}"));
    for (host, service, stop) in services {
        project.ssh(host, stop);
        assert_eq!(state(host, service), "stopped\ndisabled\n", "{host}");
    }
    let hosts = "box-openrc,box-sysvinit,box-dnf";
    let run = project
        .run(&["converge", "--hosts", hosts, "--format", "json"])
        .expect(0);
    let report = run.json();
    let converged = report["hosts"].as_array().unwrap();
    assert_eq!(converged.len(), 3, "{report}");
    for host in converged {
        let changed: Vec<&str> = host["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "changed")
            .map(|r| r["title"].as_str().unwrap())
            .collect();
        assert_eq!(changed.len(), 1, "only the service changes: {host}");
        assert!(changed[0].starts_with("service "), "{host}");
        assert!(
            host["resources"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "ok"
                    || r["status"] == "skipped"
                    || r["status"] == "changed"),
            "{host}"
        );
    }
    for (host, service, _) in services {
        assert_eq!(state(host, service), "running\nenabled\n", "{host}");
    }
    project.run(&["verify", "--hosts", hosts]).expect(0);
    let again = project
        .run(&["converge", "--hosts", hosts, "--format", "json"])
        .expect(0);
    for host in again.json()["hosts"].as_array().unwrap() {
        for resource in host["resources"].as_array().unwrap() {
            // ok, or skipped: `when:` picks the other family's resources.
            assert!(
                resource["status"] == "ok" || resource["status"] == "skipped",
                "{resource}"
            );
        }
    }
}
