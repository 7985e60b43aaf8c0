//! A VM test host through the project's own qemu driver, end to end through
//! the real binary: create (bootstrapped Debian image, KVM tried, else TCG),
//! converge a recipe, check over SSH what only a VM can do (its own kernel,
//! a sysctl that is not namespaced, a systemd unit), recover from a crashed
//! QEMU, destroy. One VM, one at a time: TCG is slow on small machines.
//!
//! Needs qemu-system-x86, qemu-utils, e2fsprogs and mmdebstrap (CI installs
//! them); the base image is built on first use and cached per machine.

mod common;

use std::path::PathBuf;
use std::time::Instant;

const PROJECT: &str = "\
groups:
  vm: { recipes: [vm] }
test_hosts:
  driver: qemu
  platforms:
    - { name: debian-12, bootstrap: \"debian:bookworm\", memory: 1024, cpus: 2 }
  hosts:
    box: { groups: [vm] }
";

const RECIPE: &str = "\
resources:
  - file: /etc/sysctl.d/90-redgreen.conf
    content: \"vm.swappiness = 13\\n\"
  - file: /etc/systemd/system/rg-hello.service
    content: |
      [Unit]
      Description=A unit written by redgreen
      [Service]
      Type=oneshot
      RemainAfterExit=yes
      ExecStart=/bin/sh -c 'echo hello from {{host.name}} > /run/rg-hello'
      [Install]
      WantedBy=multi-user.target
  - directory: /srv/rg
    mode: \"0750\"
  - link: /srv/rg/hostname
    to: /etc/hostname
";

const HOST: &str = "box-debian-12";

fn statuses(report: &serde_json::Value) -> Vec<String> {
    report["hosts"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["status"].as_str().expect("status").to_string())
        .collect()
}

fn pid_is_running(pid: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

#[test]
fn a_vm_is_created_converged_checked_over_ssh_and_destroyed() {
    for tool in ["qemu-system-x86_64", "qemu-img", "mkfs.ext4"] {
        assert!(
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is missing: apt-get install qemu-system-x86 qemu-utils e2fsprogs mmdebstrap"
        );
    }
    let project = common::Project::with(&[("redgreen.yml", PROJECT), ("recipes/vm.yml", RECIPE)]);
    let swappiness_here = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();

    // The base image (built here if this machine has none) is never written.
    let built = Instant::now();
    let image = project
        .run(&["image", "bootstrap", "--engine", "qemu", "debian:bookworm"])
        .expect(0);
    eprintln!(
        "base image: {} ({:.0}s)",
        image.stdout.trim(),
        built.elapsed().as_secs_f64()
    );
    let base_folder = PathBuf::from(image.stdout.trim().rsplit(": ").next().unwrap());
    let base = base_folder.join("rootfs.img");
    let base_modified = std::fs::metadata(&base).unwrap().modified().unwrap();

    let started = Instant::now();
    let guard = project.create_hosts();
    let create_seconds = started.elapsed().as_secs_f64();
    let record = project.record(HOST);
    assert_eq!(record["driver"], "qemu");
    assert_eq!(record["address"], "127.0.0.1", "SSH goes through loopback");
    assert_eq!(record["image"], "bootstrap debian:bookworm");
    let accel = record["accel"].as_str().unwrap().to_string();
    assert!(accel == "kvm" || accel == "tcg", "{record}");
    if accel == "tcg" {
        assert!(record["accel_note"].is_string(), "TCG says why: {record}");
    }
    let boot_seconds = record["boot_seconds"].as_f64().unwrap();
    assert!(boot_seconds > 0.0);
    eprintln!(
        "boot to SSH: {boot_seconds:.1}s on {accel} (create {create_seconds:.1}s); {}",
        record["accel_note"]
    );

    // Listed as running, with its port of 127.0.0.1.
    let port = project.port(HOST);
    let list = project.run(&["hosts", "list"]).expect(0);
    assert!(
        list.stdout.lines().any(|l| l.starts_with(HOST)
            && l.contains("running")
            && l.contains(&format!("127.0.0.1:{port}"))),
        "{}",
        list.stdout
    );

    // Its host key was recorded at creation: strict checking logs in.
    let known_hosts =
        std::fs::read_to_string(project.path().join(".redgreen/known_hosts")).unwrap();
    assert!(
        known_hosts
            .lines()
            .any(|l| l.starts_with(&format!("[127.0.0.1]:{port} ssh-ed25519 "))),
        "{known_hosts}"
    );
    assert_eq!(project.ssh(HOST, "hostname"), format!("{HOST}\n"));
    assert_eq!(
        project.ssh(HOST, "systemctl is-system-running --wait"),
        "running\n"
    );
    // A kernel of its own, and real block devices.
    let here = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let there = project.ssh(HOST, "uname -r");
    assert_ne!(there.trim(), here.trim());
    assert_eq!(project.ssh(HOST, "findmnt -no SOURCE /"), "/dev/vda\n");

    // Converge: everything changes; again: nothing does.
    let converge = Instant::now();
    let first = project.run(&["converge", "--format", "json"]).expect(0);
    let converge_seconds = converge.elapsed().as_secs_f64();
    assert!(
        statuses(&first.json()).iter().all(|s| s == "changed"),
        "{}",
        first.stdout
    );
    let again = Instant::now();
    let second = project.run(&["converge", "--format", "json"]).expect(0);
    let noop_seconds = again.elapsed().as_secs_f64();
    assert!(
        statuses(&second.json()).iter().all(|s| s == "ok"),
        "{}",
        second.stdout
    );
    eprintln!("converge: {converge_seconds:.1}s, no-op converge: {noop_seconds:.1}s");

    // What only a VM can do: a sysctl that is not network-namespaced changes
    // the VM's kernel and not this machine's, and systemd runs the unit.
    assert_eq!(
        project.ssh(
            HOST,
            "sysctl -q --system >/dev/null && sysctl -n vm.swappiness"
        ),
        "13\n"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap(),
        swappiness_here
    );
    assert_eq!(
        project.ssh(
            HOST,
            "systemctl daemon-reload && systemctl start rg-hello && systemctl is-active rg-hello && cat /run/rg-hello"
        ),
        format!("active\nhello from {HOST}\n")
    );
    assert_eq!(
        project.ssh(HOST, "stat -c %a /srv/rg; readlink /srv/rg/hostname"),
        "750\n/etc/hostname\n"
    );

    // A VM whose QEMU died is listed as stopped, and made anew by create.
    let vm = project
        .path()
        .join(".redgreen/qemu")
        .join(record["container"].as_str().unwrap());
    let pid = std::fs::read_to_string(vm.join("qemu.pid")).unwrap();
    let pid = pid.trim().to_string();
    assert!(pid_is_running(&pid));
    std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    for _ in 0..50 {
        if !pid_is_running(&pid) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let list = project.run(&["hosts", "list"]).expect(0);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with(HOST) && l.contains("stopped")),
        "{}",
        list.stdout
    );
    project.run(&["hosts", "create"]).expect(0);
    assert_eq!(project.ssh(HOST, "hostname"), format!("{HOST}\n"));
    assert_eq!(
        project.ssh(HOST, "test -e /srv/rg && echo kept || echo new"),
        "new\n",
        "a new VM starts from the base image"
    );
    let pid = std::fs::read_to_string(vm.join("qemu.pid")).unwrap();
    let pid = pid.trim().to_string();

    // Destroy: QEMU stops, the overlay and seed go, the key is forgotten,
    // the base image is untouched.
    drop(guard);
    assert!(!pid_is_running(&pid), "QEMU {pid} still runs");
    assert!(!vm.exists(), "{} is left", vm.display());
    assert_eq!(
        std::fs::read_to_string(project.path().join(".redgreen/known_hosts")).unwrap(),
        ""
    );
    assert_eq!(
        std::fs::metadata(&base).unwrap().modified().unwrap(),
        base_modified
    );
    let list = project.run(&["hosts", "list"]).expect(0);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with(HOST) && l.contains("not created")),
        "{}",
        list.stdout
    );
}
