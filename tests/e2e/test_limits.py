"""Limits hit on purpose (issue 16), with real builds and dynos over real git: a build step past
its process or memory limit fails naming the limit and its setting (the branch unchanged), as
does a release phase past its memory limit; a web dyno over its memory quota logs R14, then
R15 when the kernel kills it; a dyno at its process limit logs one line; every app's group has
the same CPU share; the groups go with their step or dyno; each server's firewall rule goes
when it stops.

Needs root, bubblewrap and writable cgroups (as on CI); skipped otherwise.
"""

from __future__ import annotations

import http.client
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gitserver import cgroups, sandbox
from tests.support.gitutil import check, git, make_repo, remote_sha
from tests.support.server import Server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0
    or bool(sandbox._probe())
    or bool(cgroups.unavailable(Path("/tmp/cedarbox-e2e-probe"))),
    reason="needs root, bubblewrap and writable cgroups",
)

BASE = {"requirements.txt": "", ".python-version": "3.12\n", "app.py": "print('hi')\n"}
FORK_BOMB = """\
#!/bin/sh
python -c '
import subprocess
children = []
try:
    while True:
        children.append(subprocess.Popen(["sleep", "30"]))
except OSError as exc:
    print("forked", len(children), exc.strerror)
    raise SystemExit(1)
'
"""
MEMORY_HOG = """\
#!/bin/sh
python -c 'data = b"x" * (400 << 20); print("allocated")'
"""
WEB = """\
import http.server, os, subprocess

hog = []


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/grow":  # over the quota, under twice it: R14
            hog.append(b"x" * (60 << 20))
        elif self.path == "/burst":  # past twice the quota: the kernel kills it (R15)
            hog.append(b"x" * (400 << 20))
        elif self.path == "/fork":
            try:
                while True:
                    hog.append(subprocess.Popen(["sleep", "300"]))
            except OSError:
                pass
        body = str(len(hog)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"""


def commit(repo: Path, server: Server, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    check(git(repo, server.env, "add", "-A"))
    check(git(repo, server.env, "commit", "-q", "-m", message))


def app_groups(server: Server, app: str) -> list[Path]:
    """The step and dyno groups of `app` that exist now, in every hierarchy."""
    backend = cgroups.backend(server.data_dir)
    assert isinstance(backend, cgroups.Backend)
    found: list[Path] = []
    for _, root in backend.roots:
        if (root / app).is_dir():
            found += [p for p in (root / app).iterdir() if p.is_dir()]
    return found


def logs(server: Server, app: str) -> str:
    return server.cli("logs", "-a", app, "-n", "500").stdout


def get(server: Server, app: str, path: str) -> int:
    port = urlsplit(server.url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Host": f"{app}.localhost:{port}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_build_step_past_its_process_or_memory_limit_fails_naming_it(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory(
        CEDARBOX_BUILD_MAX_PROCESSES="48",
        CEDARBOX_BUILD_MAX_MEMORY_MB="200",
        CEDARBOX_DYNO_MEMORY_QUOTA_MB="48",
    )
    wait_for(lambda: "limits: " in server.process.log_tail("stdout"), 10, "the limits line")
    assert "limits: cgroup v" in server.process.log_tail("stdout")
    repo = make_repo(tmp_path / "app", server.env, BASE)
    url = server.git_url("limited")
    check(git(repo, server.env, "push", url, "main"))
    good = remote_sha(url, server.env)

    commit(repo, server, {"bin/post_compile": FORK_BOMB}, "fork past the limit")
    pushed = git(repo, server.env, "push", url, "main")
    assert pushed.returncode != 0
    assert "A build step hit the build's limit of 48 processes." in pushed.output
    assert "`post_compile` failed after the step was refused more processes" in pushed.output
    assert "CEDARBOX_BUILD_MAX_PROCESSES" in pushed.output
    assert remote_sha(url, server.env) == good

    commit(repo, server, {"bin/post_compile": MEMORY_HOG}, "allocate past the limit")
    pushed = git(repo, server.env, "push", url, "main")
    assert pushed.returncode != 0
    assert "allocated" not in pushed.output
    assert "A build step hit the build's memory limit of 200 MB." in pushed.output
    assert "The kernel stopped `post_compile`" in pushed.output
    assert "CEDARBOX_BUILD_MAX_MEMORY_MB" in pushed.output
    assert remote_sha(url, server.env) == good

    # The release phase runs as a one-off dyno: within twice the dyno quota.
    release = "release: python -c 'data = b\"x\" * (400 << 20)'\n"
    commit(repo, server, {"bin/post_compile": "#!/bin/sh\n", "Procfile": release}, "release")
    pushed = git(repo, server.env, "push", url, "main")
    assert pushed.returncode != 0
    assert "It ran out of memory: the limit is 96 MB" in pushed.output
    assert "CEDARBOX_DYNO_MEMORY_QUOTA_MB" in pushed.output
    assert remote_sha(url, server.env) == good

    assert app_groups(server, "limited") == []  # each step's group went with it


def test_a_dyno_over_its_quota_logs_r14_then_r15_and_its_groups_go(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory(
        CEDARBOX_DYNO_MEMORY_QUOTA_MB="48",
        CEDARBOX_DYNO_MAX_PROCESSES="24",
        CEDARBOX_STOP_GRACE="2",
    )
    files = {**BASE, "web.py": WEB, "Procfile": "web: python web.py\n"}
    repo = make_repo(tmp_path / "app", server.env, files)
    check(git(repo, server.env, "push", server.git_url("hungry"), "main"))
    wait_for(lambda: get(server, "hungry", "/") == 200, 60, "the web dyno")

    # While it runs: its group, in an app group with the same CPU share as any app's.
    groups = app_groups(server, "hungry")
    assert groups and all(p.name.startswith("web.1-") for p in groups)
    cpu = [p for p in groups if (p.parent / "cpu.shares").exists()]
    assert cpu and (cpu[0].parent / "cpu.shares").read_text().strip() == "1024"

    assert get(server, "hungry", "/fork") == 200
    wait_for(lambda: "process limit reached (24" in logs(server, "hungry"), 10, "the line")
    assert logs(server, "hungry").count("process limit reached") == 1

    assert get(server, "hungry", "/grow") == 200
    wait_for(lambda: "Error R14 (Memory quota exceeded)" in logs(server, "hungry"), 10, "R14")
    assert "heroku[web.1]: Process running mem=" in logs(server, "hungry")
    assert "Error R15" not in logs(server, "hungry")

    get(server, "hungry", "/burst")  # the dyno dies answering (the router says so)
    wait_for(
        lambda: "Error R15 (Memory quota vastly exceeded)" in logs(server, "hungry"), 15, "R15"
    )
    text = logs(server, "hungry")
    after = text[text.index("Error R15") :]
    assert "Stopping process with SIGKILL" in after
    assert "Process exited with status 137" in after
    assert text.index("Error R14") < text.index("Error R15")

    server.cli("ps:scale", "web=0", "-a", "hungry")
    wait_for(lambda: app_groups(server, "hungry") == [], 30, "the dyno's groups to go")
    backend = cgroups.backend(server.data_dir)
    assert isinstance(backend, cgroups.Backend)
    server.stop()
    assert not any(root.exists() for _, root in backend.roots)  # the app groups, too


def guard_owners() -> list[int]:
    listing = subprocess.run(["iptables", "-w", "-S", "OUTPUT"], capture_output=True, text=True)
    return sandbox.guard_owners(listing.stdout)


def test_each_servers_firewall_rule_and_groups_go_when_it_stops(
    server_factory: Callable[..., Server],
) -> None:
    first, second = server_factory(), server_factory(CEDARBOX_CGROUPS="off")
    for srv in (first, second):
        wait_for(lambda s=srv: "limits: " in s.process.log_tail("stdout"), 10, "the start")  # type: ignore[misc]
    assert "limits: cgroup v" in first.process.log_tail("stdout")
    assert (
        "limits: CEDARBOX_CGROUPS=off; processes are limited per app uid (prlimit), memory and "
        "CPU are not." in second.process.log_tail("stdout")
    )
    assert {first.proc.pid, second.proc.pid} <= set(guard_owners())
    assert guard_owners().count(first.proc.pid) == 1

    first.stop()
    assert first.proc.pid not in guard_owners()
    assert second.proc.pid in guard_owners()  # the other server still needs its rule
    second.stop()
    assert second.proc.pid not in guard_owners()
