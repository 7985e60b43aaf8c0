#!/usr/bin/env python3
"""Run one command and measure what it costs the controller.

    measure.py RESULT.json [--kill-mux | --leave-mux] -- COMMAND...

This process becomes a child subreaper, so the ssh processes a tool leaves
running in the background (an OpenSSH mux master detaches from its parent;
Ansible's ControlPersist masters outlive it) stay below it: they are counted
in the memory samples and, once they exit and are reaped, in the CPU time.

Written to RESULT.json: the wall time until COMMAND exits, the CPU time
(user + system) of COMMAND and everything below it, the largest single
process's peak RSS, the peak of the process tree's summed PSS (sampled every
50 ms, or less often on big trees), and the exit code. COMMAND's output goes
to this process's stdout.

--kill-mux stops the mux masters COMMAND leaves running; --leave-mux leaves
them running (kept connections, for the next command: a warm run) and adds
the CPU time they have used so far to the figure, with their pids in
"left_mux".
"""

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_master(command):
    """An OpenSSH master: one that ControlPersist sent to the background
    (`ssh: PATH [mux]`, Ansible's) or one started as `ssh ... -M -f -N`
    (redgreen's, through the openssh crate)."""
    words = command.split()
    return "[mux]" in command or (bool(words) and words[0].endswith("ssh") and "-M" in words)


def cpu_seconds(pid):
    """utime + stime of a running process, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def main():
    out_path = sys.argv[1]
    rest = sys.argv[2:]
    kill_mux = rest[0] == "--kill-mux"
    leave_mux = rest[0] == "--leave-mux"
    cmd = rest[rest.index("--") + 1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
    me = os.getpid()

    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak = [0]
    done = threading.Event()

    def sample():
        # Every 50 ms, or less often when a sample itself takes long (1,000
        # ssh masters): the sampler takes at most a tenth of one core from
        # what it measures.
        while not done.is_set():
            began = time.perf_counter()
            peak[0] = max(peak[0], sum(pss_kib(p) for p in descendants(me) if p != me))
            done.wait(max(0.05, 9 * (time.perf_counter() - began)))

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()

    left = [p for p in descendants(me) if p != me]
    muxes = [p for p in left if is_master(cmdline(p))]
    if kill_mux:
        for p in muxes:
            os.kill(p, signal.SIGTERM)
    kept = set(muxes) if leave_mux else set()
    kept_cpu = sum(cpu_seconds(p) for p in kept)
    # Reap what is left (mux masters closing); give them a moment.
    deadline = time.monotonic() + 5
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            others = [p for p in descendants(me) if p != me and p not in kept]
            if not others:
                break
            if time.monotonic() > deadline:
                for p in others:
                    os.kill(p, signal.SIGKILL)
            time.sleep(0.01)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out_path, "w") as f:
        json.dump({
            "wall": wall,
            "cpu": children.ru_utime + children.ru_stime + kept_cpu,
            "max_rss_mb": usage.ru_maxrss / 1024,
            "tree_pss_mb": peak[0] / 1024,
            "rc": os.waitstatus_to_exitcode(status),
            "left_running": len(left),
            "left_mux": sorted(kept),
        }, f)


if __name__ == "__main__":
    main()
