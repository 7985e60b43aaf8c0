#!/usr/bin/env python3
"""Turn the benchmark's results.json into the Markdown tables of
docs/benchmarks.md (printed to stdout)."""

import json
import sys


def secs(x):
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def span(pair):
    lo, hi = pair
    return str(lo) if lo == hi else f"{lo}–{hi}"


def ratio(other, ours):
    return f"{other / ours:.0f}×" if other / ours >= 10 else f"{other / ours:.1f}×"


def main():
    results = json.load(open(sys.argv[1]))
    m = results["machine"]
    print(f"Run on {m['date']}: {m['cpu']}, {m['memory']}, {m['os']}, kernel {m['kernel']}.\n")
    print("| tool | version |\n|---|---|")
    for tool, v in m["tools"].items():
        print(f"| {tool} | {v} |")

    sizes = results["sizes"]
    print("\n### Converge: wall time (median), and redgreen's lead\n")
    print("| hosts | redgreen first / no-op | pyinfra first / no-op | Ansible first / no-op "
          "| lead over pyinfra first / no-op | lead over Ansible first / no-op |")
    print("|---|---|---|---|---|---|")
    for n, r in sizes.items():
        rg, py, an = r["redgreen"], r.get("pyinfra"), r.get("ansible")
        row = [n, f"{secs(rg['first']['wall'])} / {secs(rg['noop']['wall'])}"]
        for other in (py, an):
            row.append(f"{secs(other['first']['wall'])} / {secs(other['noop']['wall'])}" if other else "–")
        for other in (py, an):
            row.append(
                f"**{ratio(other['first']['wall'], rg['first']['wall'])}** / "
                f"**{ratio(other['noop']['wall'], rg['noop']['wall'])}**" if other else "–"
            )
        print("| " + " | ".join(row) + " |")

    print("\n### Verification: 40 checks per host, wall time (median)\n")
    print("| hosts | redgreen verify | testinfra | lead |\n|---|---|---|---|")
    for n, r in sizes.items():
        rg, ti = r["redgreen"]["verify"], r["testinfra"]["verify"]
        print(f"| {n} | {secs(rg['wall'])} | {secs(ti['wall'])} | **{ratio(ti['wall'], rg['wall'])}** |")

    print("\n### The controller: CPU time (median) and peak memory\n")
    print("Memory: the largest single process's peak RSS, and the peak of the whole "
          "process tree's summed PSS (the tool, its workers and its ssh processes).\n")
    print("| hosts | tool | run | CPU | largest process | whole tree |\n|---|---|---|---|---|---|")
    for n, r in sizes.items():
        for tool, runs in r.items():
            for what, s in runs.items():
                print(f"| {n} | {tool} | {what} | {secs(s['cpu'])} | {s['max_rss_mb']:.0f} MB "
                      f"| {s['tree_pss_mb']:.0f} MB |")

    print("\n### SSH per host, counted in the hosts' sshd logs\n")
    print("Connections (`Accepted publickey`) and session channels (`ctype session`) per host, "
          "min–max over the hosts, in one run; for redgreen also its round trips.\n")
    print("| hosts | tool | run | connections | sessions | round trips |\n|---|---|---|---|---|---|")
    for n, r in sizes.items():
        for tool, runs in r.items():
            for what, s in runs.items():
                trips = span(s["round_trips"]) if "round_trips" in s else ""
                print(f"| {n} | {tool} | {what} | {span(s['connections'])} | {span(s['sessions'])} | {trips} |")

    if results.get("scale"):
        print("\n### Scaling: redgreen alone\n")
        print("| hosts | run | wall (median) | per host | CPU | per host | largest process | whole tree "
              "| connections / sessions per host |")
        print("|---|---|---|---|---|---|---|---|---|")
        for n, r in results["scale"].items():
            for what, s in r["redgreen"].items():
                k = int(n)
                print(f"| {n} | {what} | {secs(s['wall'])} | {s['wall'] / k * 1000:.0f} ms "
                      f"| {secs(s['cpu'])} | {s['cpu'] / k * 1000:.0f} ms | {s['max_rss_mb']:.0f} MB "
                      f"| {s['tree_pss_mb']:.0f} MB | {span(s['connections'])} / {span(s['sessions'])} |")

    print("\n### Every run's wall time\n")
    print("| hosts | tool | run | seconds |\n|---|---|---|---|")
    for group in ("sizes", "scale"):
        for n, r in results.get(group, {}).items():
            for tool, runs in r.items():
                for what, s in runs.items():
                    print(f"| {n} | {tool} | {what} | {', '.join(f'{w:.2f}' for w in s['walls'])} |")


if __name__ == "__main__":
    main()
