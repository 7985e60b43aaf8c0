#!/usr/bin/env python3
"""The benchmark: redgreen against pyinfra and testinfra (and Ansible, when
asked for) on the same loopback sshd hosts (bench/hosts), in one run. Started
by bench/run, which prepares the tools; results go to $BENCH_DIR/results.json
and, as Markdown, to stdout.

For each key exchange the hosts offer (`--kex`: Debian 12's default sshd
settings first, the headline; then curve25519 only), per host count N, for
each run: fresh hosts; the plain-ssh floor (N parallel `ssh HOST true`, no
ControlMaster); then each converging tool's first converge and a no-op
converge, cold (no connection left from an earlier command) and, for the
tools that keep connections (redgreen's kept masters, Ansible's
ControlPersist), warm (the masters of the command before still open).
After every first converge, redgreen verify checks that the tool had the
workload's full effect (untimed). Verification: redgreen verify, cold and
warm, and testinfra, on converged hosts. Every figure is a median over the
runs. SSH connections and sessions are counted on the hosts, from sshd's
logs.

`--scale` runs redgreen alone on many hosts (default key exchange), cold and
warm, once per size unless `--scale-runs` says otherwise.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BENCH_DIR = Path(os.environ.get("BENCH_DIR", "/var/tmp/redgreen-bench"))
VENV_BIN = BENCH_DIR / "venv" / "bin"
REDGREEN = Path(os.environ.get("REDGREEN", REPO / "target" / "release" / "redgreen"))
SSH_CONFIG = BENCH_DIR / "ssh_config"


def name(i):
    return f"h{i:03}"


def address(i):
    return f"127.77.{i // 250}.{i % 250 + 1}"


KEX = "default"


def hosts(*args):
    subprocess.run([HERE / "hosts", *map(str, args)], check=True, env=dict(os.environ, BENCH_KEX=KEX))


def loadavg():
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


# ---------------------------------------------------------------- measuring


def measure(cmd, cwd, env=None, mux=None):
    """Run cmd under measure.py (see there for what is measured); mux is
    None, "kill" or "leave" (what happens to the ssh masters it leaves)."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
        log = Path(tmp) / "output"
        with open(log, "wb") as out:
            subprocess.run(
                [sys.executable, HERE / "measure.py", result_path, *([f"--{mux}-mux"] if mux else []), "--", *cmd],
                cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
            )
        result = json.loads(result_path.read_text())
        result["output"] = log.read_text(errors="replace")
    return result


def ssh_counts(n):
    """Connections and session channels per host since the logs were cleared."""
    conns, sessions = [], []
    for i in range(1, n + 1):
        text = (BENCH_DIR / "hosts" / name(i) / "merged/var/log/sshd.log").read_text(errors="replace")
        conns.append(text.count("Accepted publickey for"))
        sessions.append(text.count("server_input_channel_open: ctype session"))
    return {"connections": [min(conns), max(conns)], "sessions": [min(sessions), max(sessions)]}


# ---------------------------------------------------------------- the tools


def write_projects(n, work):
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(HERE / "workload", work)
    rg = work / "redgreen"
    lines = [
        "defaults:",
        f"  ssh_config: {SSH_CONFIG}",
        f"  concurrency: {n}",
        "hosts:",
    ]
    lines += [f"  {name(i)}: {{ address: {address(i)}, groups: [bench] }}" for i in range(1, n + 1)]
    lines += ["groups:", "  bench: { recipes: [bench] }"]
    (rg / "redgreen.yml").write_text("\n".join(lines) + "\n")

    an = work / "ansible"
    (an / "inventory.ini").write_text(
        "".join(f"{name(i)} ansible_host={address(i)} ansible_user=root\n" for i in range(1, n + 1))
    )
    (an / "ansible.cfg").write_text(
        "[defaults]\n"
        f"forks = {n}\n"
        "gathering = explicit\n"
        "host_key_checking = True\n"
        "interpreter_python = /usr/bin/python3\n"
        "[ssh_connection]\n"
        "pipelining = True\n"
        f"ssh_args = -F {SSH_CONFIG} -o ControlMaster=auto -o ControlPersist=60s\n"
    )

    py = work / "pyinfra"
    entries = ",\n".join(f'    ("{name(i)}", {{"ssh_hostname": "{address(i)}"}})' for i in range(1, n + 1))
    (py / "inventory.py").write_text(
        f"hosts = [\n{entries},\n]\n"
        "hosts = (hosts, {\n"
        '    "ssh_user": "root",\n'
        f'    "ssh_key": "{BENCH_DIR / "id_ed25519"}",\n'
        f'    "ssh_known_hosts_file": "{BENCH_DIR / "known_hosts"}",\n'
        '    "ssh_strict_host_key_checking": "yes",\n'
        "})\n"
    )


def converge_cmd(tool, n, work):
    if tool == "redgreen":
        return [str(REDGREEN), "converge", "--format", "json"], work / "redgreen", None
    if tool == "ansible":
        env = dict(os.environ, ANSIBLE_CONFIG=str(work / "ansible" / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        return [str(VENV_BIN / "ansible-playbook"), "-i", "inventory.ini", "playbook.yml"], work / "ansible", env
    if tool == "pyinfra":
        return [str(VENV_BIN / "pyinfra"), "-y", "--parallel", str(n), "inventory.py", "deploy.py"], work / "pyinfra", None
    raise ValueError(tool)


def verify_cmd(tool, n, work):
    if tool == "redgreen":
        return [str(REDGREEN), "verify", "--format", "json"], work / "redgreen", None
    if tool == "testinfra":
        pytest = [str(VENV_BIN / "pytest"), "-q", "-p", "no:cacheprovider", f"--ssh-config={SSH_CONFIG}"]
        if n == 1:
            return [*pytest, f"--hosts=paramiko://root@{address(1)}", "test_bench.py"], work / "testinfra", None
        # One pytest per host, all at once (as Ansible gets one fork per
        # host): one connection per host. pytest-xdist with one worker per
        # host was slower: every worker connected to every host.
        script = (
            'py=$0 cfg=$1; shift; pids=""; '
            'for h in "$@"; do "$py" -q -p no:cacheprovider --ssh-config="$cfg" --hosts="$h" test_bench.py '
            '>/dev/null 2>&1 & pids="$pids $!"; done; '
            'rc=0; for p in $pids; do wait "$p" || rc=1; done; exit $rc'
        )
        hosts_args = [f"paramiko://root@{address(i)}" for i in range(1, n + 1)]
        return ["bash", "-c", script, pytest[0], str(SSH_CONFIG), *hosts_args], work / "testinfra", None
    raise ValueError(tool)


def floor_cmd(n, work):
    """N parallel `ssh HOST true`: the same key, known_hosts and ssh_config
    as the tools, no ControlMaster: each a whole handshake and login."""
    script = (
        'cfg=$0; pids=""; '
        'for a in "$@"; do ssh -F "$cfg" -o ControlMaster=no -o ControlPath=none -o BatchMode=yes "$a" true '
        '</dev/null & pids="$pids $!"; done; '
        'rc=0; for p in $pids; do wait "$p" || rc=1; done; exit $rc'
    )
    return ["bash", "-c", script, str(SSH_CONFIG), *[address(i) for i in range(1, n + 1)]], work, None


def disconnect(work):
    """Close redgreen's kept connections: the next command is cold."""
    subprocess.run([str(REDGREEN), "disconnect"], cwd=work / "redgreen", check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_left(pids):
    """Stop mux masters a measured command left running (Ansible's)."""
    for p in pids:
        try:
            os.kill(p, 15)
        except OSError:
            pass


def check(result, what):
    if result["rc"] != 0:
        sys.exit(f"{what} failed (exit {result['rc']}):\n{result['output'][-4000:]}")


def run_timed(cmd_for, tool, n, work, what):
    cmd, cwd, env = cmd_for(tool, n, work)
    hosts("logs-clear")
    # redgreen's kept masters and Ansible's ControlPersist ones stay for
    # the next command (its warm run); the caller closes them for a cold one.
    result = measure(cmd, cwd, env, mux="leave" if tool in ("redgreen", "ansible") else None)
    check(result, f"{tool} {what} on {n} hosts")
    result.update(ssh_counts(n))
    result["load"] = loadavg()
    if tool == "redgreen" and not what.startswith("verify"):
        report = json.loads(result["output"])
        trips = [h["round_trips"] for h in report["hosts"]]
        result["round_trips"] = [min(trips), max(trips)]
    del result["output"]
    print(f"  {KEX:10} {tool:9} {what:12} N={n:<4} {result['wall']:7.2f} s  cpu {result['cpu']:6.2f} s  "
          f"tree {result['tree_pss_mb']:6.1f} MB  ssh {result['connections']}/{result['sessions']}  "
          f"load {result['load'][0]:.2f}", file=sys.stderr, flush=True)
    return result


def effect_checked(n, work, tool):
    """The workload's full effect is there after this tool's converge."""
    cmd, cwd, env = verify_cmd("redgreen", n, work)
    result = measure(cmd, cwd, dict(os.environ, REDGREEN_KEEP_CONNECTIONS="0"))
    check(result, f"verifying {tool}'s converge on {n} hosts")


def median(results, key):
    return statistics.median(r[key] for r in results)


def summarize(results):
    return {
        "runs": len(results),
        "wall": median(results, "wall"),
        "cpu": median(results, "cpu"),
        "max_rss_mb": max(r["max_rss_mb"] for r in results),
        "tree_pss_mb": max(r["tree_pss_mb"] for r in results),
        "load": [max(r["load"][0] for r in results)],
        "connections": results[-1]["connections"],
        "sessions": results[-1]["sessions"],
        **({"round_trips": results[-1]["round_trips"]} if "round_trips" in results[-1] else {}),
        "walls": [round(r["wall"], 3) for r in results],
    }


# ---------------------------------------------------------------- the run


def bench_size(n, runs, tools, slow_runs):
    work = BENCH_DIR / "work" / str(n)
    write_projects(n, work)
    out = {}
    runs_of = {}

    def add(tool, what, result):
        runs_of.setdefault(tool, {}).setdefault(what, []).append(result)

    for r in range(runs):
        hosts("up", n)
        add("ssh", "floor", run_timed(lambda t, n, w: floor_cmd(n, w), "ssh", n, work, "floor"))
        # redgreen: cold (no kept master) and warm (the masters of the
        # command before), converge and verify.
        if "redgreen" in tools:
            disconnect(work)
            add("redgreen", "first", run_timed(converge_cmd, "redgreen", n, work, "first"))
            effect_checked(n, work, "redgreen")
            disconnect(work)
            add("redgreen", "noop", run_timed(converge_cmd, "redgreen", n, work, "noop"))
            add("redgreen", "noop-warm", run_timed(converge_cmd, "redgreen", n, work, "noop-warm"))
            disconnect(work)
            add("redgreen", "verify", run_timed(verify_cmd, "redgreen", n, work, "verify"))
            add("redgreen", "verify-warm", run_timed(verify_cmd, "redgreen", n, work, "verify-warm"))
            disconnect(work)
        for tool in [t for t in tools if t in ("pyinfra", "ansible")]:
            if tool == "ansible" and n >= 50 and r >= slow_runs:
                continue
            hosts("up", n)
            first = run_timed(converge_cmd, tool, n, work, "first")
            stop_left(first.get("left_mux", []))
            add(tool, "first", first)
            effect_checked(n, work, tool)
            noop = run_timed(converge_cmd, tool, n, work, "noop")
            add(tool, "noop", noop)
            if tool == "ansible":
                # ControlPersist: the masters of the no-op before.
                warm = run_timed(converge_cmd, tool, n, work, "noop-warm")
                add(tool, "noop-warm", warm)
                stop_left(noop.get("left_mux", []) + warm.get("left_mux", []))
        if "testinfra" in tools:
            # The hosts are converged (by the last converging tool, checked).
            if not any(t in tools for t in ("pyinfra", "ansible")):
                hosts("up", n)
                cmd, cwd, env = converge_cmd("redgreen", n, work)
                check(measure(cmd, cwd, dict(os.environ, REDGREEN_KEEP_CONNECTIONS="0")),
                      f"converging {n} hosts for verification")
            add("testinfra", "verify", run_timed(verify_cmd, "testinfra", n, work, "verify"))
    for tool, whats in runs_of.items():
        out[tool] = {what: summarize(results) for what, results in whats.items()}
    return out


def bench_scale(n, runs):
    work = BENCH_DIR / "work" / str(n)
    write_projects(n, work)
    runs_of = {}
    for _ in range(runs):
        hosts("up", n)
        for what, cmd_for, cold in [
            ("floor", lambda t, n, w: floor_cmd(n, w), True),
            ("first", converge_cmd, True),
            ("noop", converge_cmd, True),
            ("noop-warm", converge_cmd, False),
            ("verify", verify_cmd, True),
            ("verify-warm", verify_cmd, False),
        ]:
            if cold:
                disconnect(work)
            tool = "ssh" if what == "floor" else "redgreen"
            runs_of.setdefault(what, []).append(run_timed(cmd_for, tool, n, work, what))
        disconnect(work)
    return {"redgreen": {what: summarize(results) for what, results in runs_of.items()}}


def version(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    return out.splitlines()[0] if out else "?"


def machine():
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return {
        "load_before": loadavg(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{os.cpu_count()} × {cpu}",
        "memory": f"{mem} GiB",
        "kernel": platform.release(),
        "os": version(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "tools": {
            "redgreen": version([str(REDGREEN), "--version"]),
            "openssh": subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip(),
            "ansible-core": version([str(VENV_BIN / "ansible"), "--version"]),
            "pyinfra": version([str(VENV_BIN / "pyinfra"), "--version"]),
            "pytest-testinfra": version([str(VENV_BIN / "python"), "-c",
                                         "import importlib.metadata as m; print(m.version('pytest-testinfra'))"]),
            "paramiko": version([str(VENV_BIN / "python"), "-c",
                                 "import importlib.metadata as m; print(m.version('paramiko'))"]),
            "python": version([str(VENV_BIN / "python"), "--version"]),
        },
    }


def main():
    global KEX
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,50", help="host counts to compare the tools at")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (the median is reported)")
    parser.add_argument("--slow-runs", type=int, default=3,
                        help="runs for Ansible at 50 hosts and more (each takes minutes)")
    parser.add_argument("--kex", default="default,curve25519",
                        help="key exchanges the hosts offer, one column each: default (Debian 12's "
                             "sshd settings; the headline) and/or curve25519 (curve25519 only)")
    parser.add_argument("--scale", default="1000",
                        help="host counts for redgreen alone, default key exchange ('' for none)")
    parser.add_argument("--scale-runs", type=int, default=1, help="runs per scale figure")
    parser.add_argument("--tools", default="redgreen,pyinfra,testinfra",
                        help="tools to compare (add ansible: about 5 minutes per run at 50 hosts)")
    args = parser.parse_args()

    results = {"machine": machine(), "kex": {}, "scale": {}}
    tools = args.tools.split(",")
    try:
        for kex in [k for k in args.kex.split(",") if k]:
            KEX = kex
            sizes = results["kex"].setdefault(kex, {})
            for n in [int(s) for s in args.sizes.split(",") if s]:
                sizes[str(n)] = bench_size(n, args.runs, tools, args.slow_runs)
                (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=1))
        KEX = "default"
        for n in [int(s) for s in args.scale.split(",") if s]:
            results["scale"][str(n)] = bench_scale(n, args.scale_runs)
            (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=1))
    finally:
        hosts("down")
        results["machine"]["load_after"] = loadavg()
        (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=1))
    subprocess.run([sys.executable, HERE / "report.py", BENCH_DIR / "results.json"], check=True)


if __name__ == "__main__":
    main()
