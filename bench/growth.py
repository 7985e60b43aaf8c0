#!/usr/bin/env python3
"""Where a cold no-op converge's time goes at N hosts: wall time, the
controller's CPU (redgreen and its ssh processes), the hosts' CPU (their
processes in a cgroup v1 cpuacct group), redgreen's peak file descriptors,
peak processes. Needs root and cgroup v1's cpuacct.

    BENCH_KEX=curve25519 bench/hosts up 200
    (cd $BENCH_DIR/work/200/redgreen && redgreen converge)   # a project from bench.py
    bench/growth.py 200 3
"""
import os, sys, time, subprocess, threading, json, resource, statistics
from pathlib import Path
N, RUNS = int(sys.argv[1]), int(sys.argv[2])
B = os.environ.get("BENCH_DIR", "/var/tmp/redgreen-bench")
REDGREEN = os.environ.get("REDGREEN", str(Path(__file__).resolve().parent.parent / "target/release/redgreen"))
CG = "/sys/fs/cgroup/cpuacct/rgbench-hosts"
os.makedirs(CG, exist_ok=True)
def desc(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop(); out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                todo.extend(int(c) for c in open(f"/proc/{p}/task/{t}/children").read().split())
        except OSError: pass
    return out
for h in sorted(os.listdir(f"{B}/hosts")):
    pid = int(open(f"{B}/hosts/{h}/pid").read())
    for p in desc(pid):
        try: open(f"{CG}/cgroup.procs", "w").write(str(p))
        except OSError: pass
def usage(): return int(open(f"{CG}/cpuacct.usage").read()) / 1e9
import ctypes
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # child subreaper: the ssh masters' CPU counts
rows = []
for r in range(RUNS):
    env = dict(os.environ, REDGREEN_KEEP_CONNECTIONS="0")
    h0 = usage(); t0 = time.perf_counter(); ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen([REDGREEN, "converge", "--format", "json"],
                            cwd=f"{B}/work/{N}/redgreen", env=env, stdout=subprocess.DEVNULL)
    peak = {"fds": 0, "ctl_procs": 0, "host_procs": 0}
    done = threading.Event()
    def sample():
        while not done.is_set():
            try: peak["fds"] = max(peak["fds"], len(os.listdir(f"/proc/{proc.pid}/fd")))
            except OSError: pass
            peak["ctl_procs"] = max(peak["ctl_procs"], len(desc(proc.pid)))
            try: peak["host_procs"] = max(peak["host_procs"], len(open(f"{CG}/cgroup.procs").read().split()))
            except OSError: pass
            done.wait(0.1)
    th = threading.Thread(target=sample); th.start()
    _, status, own = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set(); th.join()
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0: time.sleep(0.05)
        except ChildProcessError: break
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    tree = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    rows.append(dict(wall=wall, redgreen_cpu=own.ru_utime + own.ru_stime, tree_cpu=tree,
                     hosts_cpu=usage() - h0, **peak, load=os.getloadavg()[0]))
    print(json.dumps({k: round(v, 3) for k, v in rows[-1].items()}), flush=True)
med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
print("MEDIAN", N, json.dumps({k: round(v, 3) for k, v in med.items()}))
