"""The benchmark's workload: the same effect as ../redgreen/recipes/bench.yml."""

from io import StringIO

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server

DIRS = ["/srv/bench", "/srv/bench/files", "/srv/bench/releases",
        "/srv/bench/releases/v1", "/srv/bench/logs", "/srv/bench/run"]

server.group(group="app")
server.user(user="deploy", group="app", shell="/bin/bash", home="/home/deploy", create_home=True)
for path in DIRS:
    files.directory(path=path, user="deploy", group="app", mode="750")
for i in range(1, 11):
    files.put(src=StringIO(f"setting {i:02}\n"), dest=f"/srv/bench/files/f{i:02}.conf",
              user="deploy", group="app", mode="640")
files.template(src="motd.j2", dest="/etc/motd", env="bench")
for line in ["alpha = 1", "beta = 2", "gamma = 3"]:
    files.line(path="/etc/bench.conf", line=line)
files.link(path="/srv/bench/current", target="/srv/bench/releases/v1")
# pyinfra's idiom for a `creates` guard: a fact decides whether to run.
if not host.get_fact(File, path="/srv/bench/.initialized"):
    server.shell(commands=["touch /srv/bench/.initialized"])
apt.packages(packages=["procps"])
