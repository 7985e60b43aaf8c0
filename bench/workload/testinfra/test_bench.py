"""40 checks per host: the same as ../redgreen/features/bench.feature."""

import re

import pytest

DIRS = ["/srv/bench", "/srv/bench/files", "/srv/bench/releases",
        "/srv/bench/releases/v1", "/srv/bench/logs", "/srv/bench/run"]
FILES = [f"/srv/bench/files/f{i:02}.conf" for i in range(1, 11)]


def test_group(host):
    assert host.group("app").exists


def test_user_exists(host):
    assert host.user("deploy").exists


def test_user_shell(host):
    assert host.user("deploy").shell == "/bin/bash"


def test_user_home(host):
    assert host.user("deploy").home == "/home/deploy"


def test_user_group(host):
    assert "app" in host.user("deploy").groups


@pytest.mark.parametrize("path", DIRS)
def test_directory_mode(host, path):
    d = host.file(path)
    assert d.is_directory and d.mode == 0o750


@pytest.mark.parametrize("path", DIRS)
def test_directory_owner(host, path):
    assert host.file(path).user == "deploy"


@pytest.mark.parametrize("i", range(1, 11))
def test_file_content(host, i):
    assert host.file(FILES[i - 1]).contains(f"setting {i:02}")


@pytest.mark.parametrize("path", FILES[:5])
def test_file_mode(host, path):
    assert host.file(path).mode == 0o640


def test_motd(host):
    assert re.match(r"^Welcome to h[0-9]+ \(bench\)$", host.file("/etc/motd").content_string.strip())


@pytest.mark.parametrize("line", ["alpha = 1", "beta = 2", "gamma = 3"])
def test_line(host, line):
    assert host.file("/etc/bench.conf").contains(line)


def test_symlink(host):
    link = host.file("/srv/bench/current")
    assert link.is_symlink and link.linked_to == "/srv/bench/releases/v1"


def test_initialized(host):
    assert host.file("/srv/bench/.initialized").exists


def test_package(host):
    assert host.package("procps").is_installed


def test_process(host):
    assert host.process.filter(comm="sshd")
