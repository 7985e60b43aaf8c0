#!/usr/bin/env python3
"""Benchmark of `redgreen lsp` (not a test: it measures, it does not judge).

1. Diagnostics after a change: a 1,000-line feature file is opened, then
   changed 30 times (one step misspelt, then fixed, in turn); each time
   from sending didChange to receiving its publishDiagnostics is measured.
2. Memory: a project of 100 feature files (40 steps each), every one opened
   in the server; its resident memory (VmRSS, peak VmHWM) afterwards.

Usage: bench/lsp.py [PATH/TO/redgreen]   (default: target/release/redgreen,
else target/debug/redgreen). Prints one JSON object.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

STEPS = [
    'Then the package "nginx-light" should be installed',
    'And the service "nginx" should be running',
    'And port 80 should be listening',
    'And the file "/etc/motd" should contain "Welcome"',
    'And the file "/etc/motd" should have mode "0644"',
    'And the directory "/srv/www" should be owned by "www-data"',
    'And the user "deploy" should have shell "/bin/bash"',
    'And "http://localhost/" should respond with status 200 within 5 seconds',
]


def feature(lines):
    """A feature of about `lines` lines: scenarios of 8 steps."""
    out = ["@group:web", "Feature: Web server", ""]
    n = 0
    while len(out) < lines:
        n += 1
        out.append(f"  Scenario: site {n}")
        out.extend("    " + s for s in STEPS)
        out.append("")
    return "\n".join(out[:lines]) + "\n"


class Server:
    def __init__(self, binary, root):
        self.proc = subprocess.Popen(
            [binary, "-C", root, "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.next_id = 1

    def send(self, message):
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self):
        length = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit("the server went away")
            line = line.strip()
            if not line:
                break
            if line.startswith(b"Content-Length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.proc.stdout.read(length))

    def request(self, method, params):
        id = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        while True:
            message = self.read()
            if message.get("id") == id and "method" not in message:
                return message.get("result")

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self, uri, version):
        while True:
            message = self.read()
            params = message.get("params") or {}
            if (
                message.get("method") == "textDocument/publishDiagnostics"
                and params.get("uri") == uri
                and params.get("version") == version
            ):
                return params["diagnostics"]

    def memory_kb(self):
        status = open(f"/proc/{self.proc.pid}/status").read()
        fields = dict(
            line.split(":", 1) for line in status.splitlines() if ":" in line
        )
        return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else None
    if binary is None:
        for candidate in ("target/release/redgreen", "target/debug/redgreen"):
            if os.path.exists(candidate):
                binary = candidate
                break
    binary = os.path.abspath(binary)
    root = tempfile.mkdtemp(prefix="rg-lsp-bench-")
    with open(os.path.join(root, "redgreen.yml"), "w") as f:
        f.write(
            "hosts:\n  web1: { address: 127.0.0.1, groups: [web] }\n"
            "groups:\n  web: { recipes: [site] }\n"
        )
    os.makedirs(os.path.join(root, "recipes"))
    os.makedirs(os.path.join(root, "features"))
    with open(os.path.join(root, "recipes", "site.yml"), "w") as f:
        f.write("resources:\n  - package: nginx-light\n  - service: nginx\n")
    for n in range(100):
        with open(os.path.join(root, "features", f"f{n:03}.feature"), "w") as f:
            f.write(feature(50))
    big = feature(1000)
    with open(os.path.join(root, "features", "big.feature"), "w") as f:
        f.write(big)

    server = Server(binary, root)
    server.request(
        "initialize",
        {"capabilities": {}, "workspaceFolders": [{"uri": "file://" + root, "name": "b"}]},
    )
    server.notify("initialized", {})
    uri = f"file://{root}/features/big.feature"
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "gherkin", "version": 1, "text": big}},
    )
    assert server.diagnostics(uri, 1) == []
    misspelt = big.replace("Then the package", "Then the pakage", 1)
    times = []
    for version in range(2, 32):
        text = misspelt if version % 2 == 0 else big
        started = time.perf_counter()
        server.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )
        found = server.diagnostics(uri, version)
        times.append((time.perf_counter() - started) * 1000)
        assert len(found) == (1 if version % 2 == 0 else 0), found

    before = server.memory_kb()
    for n in range(100):
        path = os.path.join(root, "features", f"f{n:03}.feature")
        furi = "file://" + path
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": furi, "languageId": "gherkin", "version": 1,
                              "text": open(path).read()}},
        )
        server.diagnostics(furi, 1)
    after = server.memory_kb()
    server.request("shutdown", None)
    server.notify("exit", None)
    server.proc.wait(timeout=10)

    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.release()}",
        "binary": os.path.relpath(binary),
        "feature_lines": big.count("\n"),
        "diagnostics_after_change_ms": {
            "median": round(statistics.median(times), 1),
            "p90": round(sorted(times)[int(len(times) * 0.9) - 1], 1),
            "max": round(max(times), 1),
        },
        "memory_kb_before_100_features": before,
        "memory_kb_with_100_features_open": after,
    }, indent=2))


if __name__ == "__main__":
    main()
