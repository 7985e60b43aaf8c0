#!/usr/bin/env python3
"""Turn the benchmark's results.json into the Markdown tables of
docs/benchmarks.md (printed to stdout)."""

import json
import sys

KEX_NAMES = {
    "default": "Debian 12's default sshd (sntrup761x25519)",
    "curve25519": "curve25519 only",
}
RUNS = ["first", "noop", "noop-warm", "verify", "verify-warm", "floor"]
# issue 16's targets: (what, ours, theirs, wanted ratio theirs/ours, at least?)
TARGETS = [
    ("cold no-op ≥ 4× faster than pyinfra", ("redgreen", "noop"), ("pyinfra", "noop"), 4, True),
    ("cold no-op within 1.3× of the plain-ssh floor", ("redgreen", "noop"), ("ssh", "floor"), 1 / 1.3, True),
    ("warm no-op ≥ 20× faster than pyinfra", ("redgreen", "noop-warm"), ("pyinfra", "noop"), 20, True),
    ("verify, cold, ≥ 10× faster than testinfra", ("redgreen", "verify"), ("testinfra", "verify"), 10, True),
    ("verify, warm, ≥ 10× faster than testinfra", ("redgreen", "verify-warm"), ("testinfra", "verify"), 10, True),
    ("first converge ≥ 3× faster than pyinfra", ("redgreen", "first"), ("pyinfra", "first"), 3, True),
    ("verify within 1.3× of a no-op converge", ("redgreen", "verify"), ("redgreen", "noop"), 1 / 1.3, True),
]
# What no tool that makes a handshake per host can beat, cold: the floor
# against the peers (the most a cold no-op or verify could gain on them).
LIMITS = [
    ("the floor (N × `ssh HOST true`) against pyinfra's no-op: the most a cold no-op can gain", ("ssh", "floor"), ("pyinfra", "noop")),
    ("the floor against testinfra: the most a cold verify can gain", ("ssh", "floor"), ("testinfra", "verify")),
]


def secs(x):
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def span(pair):
    lo, hi = pair
    return str(lo) if lo == hi else f"{lo}–{hi}"


def ratio(x):
    return f"{x:.0f}×" if x >= 10 else f"{x:.1f}×"


def get(r, tool, what):
    return r.get(tool, {}).get(what)


def wall(r, tool, what):
    s = get(r, tool, what)
    return secs(s["wall"]) if s else "–"


def main():
    results = json.load(open(sys.argv[1]))
    m = results["machine"]
    print(f"Run on {m['date']}: {m['cpu']}, {m['memory']}, {m['os']}, kernel {m['kernel']}. "
          f"Load average (1 min) before the run {m['load_before'][0]:.2f}, after it "
          f"{m.get('load_after', ['?'])[0]}; the highest at the end of any measured command is in "
          "the tables.\n")
    print("| tool | version |\n|---|---|")
    for tool, v in m["tools"].items():
        print(f"| {tool} | {v} |")

    kexes = results["kex"]
    for kex, sizes in kexes.items():
        print(f"\n### Targets, hosts with {KEX_NAMES.get(kex, kex)}\n")
        print("| target | " + " | ".join(f"{n} hosts" for n in sizes) + " |")
        print("|---|" + "---|" * len(sizes))
        for label, ours, theirs, wanted, _ in TARGETS:
            cells = []
            for n, r in sizes.items():
                a, b = get(r, *ours), get(r, *theirs)
                if not (a and b):
                    cells.append("–")
                    continue
                x = b["wall"] / a["wall"]
                if wanted >= 1:
                    cells.append(f"{ratio(x)} {'met' if x >= wanted else '**not met**'}")
                else:
                    cells.append(f"{a['wall'] / b['wall']:.2f}× {'met' if x >= wanted else '**not met**'}")
            print(f"| {label} | " + " | ".join(cells) + " |")
        cells = []
        for n, r in sizes.items():
            s = get(r, "redgreen", "noop")
            cells.append(f"{s['tree_pss_mb']:.0f} MB whole tree, {s['max_rss_mb']:.0f} MB redgreen" if s else "–")
        print("| controller memory < 100 MB (cold no-op) | " + " | ".join(cells) + " |")
        for label, floor, theirs in LIMITS:
            cells = []
            for n, r in sizes.items():
                a, b = get(r, *floor), get(r, *theirs)
                cells.append(ratio(b["wall"] / a["wall"]) if a and b else "–")
            print(f"| *limit*: {label} | " + " | ".join(cells) + " |")

    print("\n### Wall time (median), by key exchange\n")
    print("| hosts | run | " + " | ".join(KEX_NAMES.get(k, k) for k in kexes) + " |")
    print("|---|---|" + "---|" * len(kexes))
    rows = [("ssh", "floor", "plain ssh floor (N × `ssh HOST true`)"),
            ("redgreen", "first", "redgreen first converge"),
            ("redgreen", "noop", "redgreen no-op, cold"),
            ("redgreen", "noop-warm", "redgreen no-op, warm"),
            ("redgreen", "verify", "redgreen verify, cold"),
            ("redgreen", "verify-warm", "redgreen verify, warm"),
            ("pyinfra", "first", "pyinfra first converge"),
            ("pyinfra", "noop", "pyinfra no-op (no warm mode)"),
            ("ansible", "first", "Ansible first converge"),
            ("ansible", "noop", "Ansible no-op, cold"),
            ("ansible", "noop-warm", "Ansible no-op, warm (ControlPersist)"),
            ("testinfra", "verify", "testinfra (no warm mode)")]
    all_sizes = list(dict.fromkeys(n for sizes in kexes.values() for n in sizes))
    for n in all_sizes:
        for tool, what, label in rows:
            if not any(get(sizes.get(n, {}), tool, what) for sizes in kexes.values()):
                continue
            print(f"| {n} | {label} | " + " | ".join(wall(sizes.get(n, {}), tool, what)
                                                   for sizes in kexes.values()) + " |")

    print("\n### The controller: CPU time (median), peak memory, SSH per host\n")
    print("Memory: the largest single process's peak RSS, and the peak of the whole process "
          "tree's summed PSS (the tool, its workers and its ssh processes; a warm run's masters "
          "were started by the command before and are not in its tree). CPU includes the ssh "
          "masters a command leaves running, up to its end. Connections (`Accepted publickey`) and "
          "session channels (`ctype session`) per host, min–max over the hosts, counted in the "
          "hosts' sshd logs; for redgreen also its round trips.\n")
    print("| kex | hosts | tool | run | CPU | largest process | whole tree | connections | sessions "
          "| round trips |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kex, sizes in kexes.items():
        for n, r in sizes.items():
            for tool, runs in r.items():
                for what in [w for w in RUNS if w in runs]:
                    s = runs[what]
                    trips = span(s["round_trips"]) if "round_trips" in s else ""
                    print(f"| {kex} | {n} | {tool} | {what} | {secs(s['cpu'])} | {s['max_rss_mb']:.0f} MB "
                          f"| {s['tree_pss_mb']:.0f} MB | {span(s['connections'])} | {span(s['sessions'])} "
                          f"| {trips} |")

    if results.get("scale"):
        print("\n### Scaling: redgreen alone, default key exchange\n")
        print("| hosts | run | wall (median) | per host | CPU | per host | largest process | whole tree "
              "| connections / sessions per host | load |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for n, r in results["scale"].items():
            for what in [w for w in RUNS if w in r["redgreen"]]:
                s = r["redgreen"][what]
                k = int(n)
                label = "plain ssh floor" if what == "floor" else what
                print(f"| {n} | {label} | {secs(s['wall'])} | {s['wall'] / k * 1000:.1f} ms "
                      f"| {secs(s['cpu'])} | {s['cpu'] / k * 1000:.1f} ms | {s['max_rss_mb']:.0f} MB "
                      f"| {s['tree_pss_mb']:.0f} MB | {span(s['connections'])} / {span(s['sessions'])} "
                      f"| {s['load'][0]:.1f} |")

    print("\n### Every run's wall time\n")
    print("| kex | hosts | tool | run | seconds | load (1 min, highest) |\n|---|---|---|---|---|---|")
    for kex, sizes in kexes.items():
        for n, r in sizes.items():
            for tool, runs in r.items():
                for what in [w for w in RUNS if w in runs]:
                    s = runs[what]
                    print(f"| {kex} | {n} | {tool} | {what} | {', '.join(f'{w:.2f}' for w in s['walls'])} "
                          f"| {s['load'][0]:.1f} |")
    for n, r in results.get("scale", {}).items():
        for what in [w for w in RUNS if w in r["redgreen"]]:
            s = r["redgreen"][what]
            print(f"| default | {n} | {'ssh' if what == 'floor' else 'redgreen'} | {what} "
                  f"| {', '.join(f'{w:.2f}' for w in s['walls'])} | {s['load'][0]:.1f} |")


if __name__ == "__main__":
    main()
