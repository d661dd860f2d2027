"""One app cannot touch another (issue 16): app A's build (bin/post_compile and a setup.py pip
runs) and web dyno try every attack of tests/support/probe.py on app B and on the platform.

Real builds with the Python buildpack, real dynos, real git over HTTP. The data directory is
made world-readable first, so what stops the probe is the sandbox, not file modes. Needs root
(per-app uids and the loopback firewall); as any other user the test is skipped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitserver import sandbox
from tests.support.gitutil import GitResult, check, git, make_repo
from tests.support.probe import POST_COMPILE, SETUP_PY, probe_source
from tests.support.server import TOOL_WHEELS, Server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(sandbox._probe()) or bool(sandbox.network_guard()),
    reason="needs root, bubblewrap and iptables",
)

LIMIT = 64  # processes per build step and per dyno in this test
SECRET = "victim-secret-5f1c0e"
VICTIM = {
    "requirements.txt": "",
    ".python-version": "3.12\n",
    "Procfile": "web: python -m http.server $PORT\n",
    "marker.txt": "victim-source\n",
}


def push(repo: Path, server: Server, app: str) -> GitResult:
    return git(repo, server.env, "push", server.git_url(app), "main")


def ps(server: Server, app: str) -> list[dict[str, Any]]:
    return json.loads(server.cli("ps", "-a", app, "--json").stdout)


def web_dyno(server: Server, app: str) -> dict[str, Any]:
    wait_for(
        lambda: any(d["name"] == "web.1" and d["state"] == "up" for d in ps(server, app)),
        60,
        f"{app}'s web dyno",
    )
    return next(d for d in ps(server, app) if d["name"] == "web.1")


def get(server: Server, app: str) -> tuple[int, bytes]:
    import http.client
    from urllib.parse import urlsplit

    port = urlsplit(server.url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/", headers={"Host": f"{app}.localhost:{port}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def sleepers(seconds: str) -> list[int]:
    """Host pids of `sleep SECONDS` processes (the probe's setsid children)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes().split(b"\0")
                state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if cmdline[:2] == [b"sleep", seconds.encode()] and state != "Z":
                found.append(int(entry.name))
    return found


def probe_lines(result: GitResult) -> dict[str, dict[str, Any]]:
    found = {}
    for line in result.remote_lines():
        match = re.search(r"PROBE (\w+) (\{.*\})", line)
        if match:
            found[match.group(1)] = json.loads(match.group(2))
    return found


def expose(data_dir: Path) -> None:
    """The worst case for file modes: everything readable and writable by anyone."""
    cluster = data_dir / "postgres" / "cluster.json"
    if not cluster.exists():
        cluster.parent.mkdir(parents=True, exist_ok=True)
        cluster.write_text(json.dumps({"password": "superuser-secret", "port": 5432}))
    for root, dirs, files in os.walk(data_dir):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o666)
    data_dir.chmod(0o777)


def test_one_app_reaches_nothing_of_another_nor_the_platform(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory(
        CEDARBOX_STOP_GRACE="3",
        CEDARBOX_CRASH_BACKOFF="0.5",
        CEDARBOX_BUILD_MAX_PROCESSES=str(LIMIT),
        CEDARBOX_DYNO_MAX_PROCESSES=str(LIMIT),
    )
    wait_for(lambda: "sandbox: " in server.process.log_tail("stdout"), 10, "the sandbox line")
    assert "Dynos cannot connect to each other" in server.process.log_tail("stdout")

    # B: a legitimate app, which builds and serves.
    server.cli("apps:create", "victim")
    server.cli("config:set", f"SECRET={SECRET}", "-a", "victim")
    check(push(make_repo(tmp_path / "victim", server.env, VICTIM), server, "victim"))
    victim = web_dyno(server, "victim")
    assert get(server, "victim")[0] == 200
    expose(server.data_dir)

    # A: the attacker.
    attacker = {
        "requirements.txt": f"--find-links {TOOL_WHEELS}\n./probepkg\n",
        ".python-version": "3.12\n",
        "Procfile": "web: python probe.py web\n",
        "probe.py": probe_source(
            data_dir=str(server.data_dir),
            victim="victim",
            victim_pid=victim["pid"],
            victim_port=victim["port"],
            server_pid=server.proc.pid,
            secret=SECRET,
        ),
        "probepkg/setup.py": SETUP_PY,
        "bin/post_compile": POST_COMPILE,
    }
    result = check(push(make_repo(tmp_path / "attacker", server.env, attacker), server, "attacker"))
    reports = probe_lines(result)
    assert set(reports) == {"build", "setup"}, result.output
    assert reports["setup"]["reached"] == []
    assert reports["build"]["reached"] == []
    assert 0 < reports["build"]["forked"] < LIMIT
    web_dyno(server, "attacker")
    status, body = get(server, "attacker")
    assert status == 200
    web = json.loads(body)
    assert web["reached"] == []
    assert 0 < web["forked"] < LIMIT

    # Nothing of B changed; B and the server still run; the build left no process behind.
    victim_repo = server.data_dir / "repos" / "victim.git"
    assert not (victim_repo / "refs" / "heads" / "evil").exists()
    assert not (server.data_dir / "cache" / "victim" / "evil").exists()
    assert server.proc.poll() is None
    assert next(d for d in ps(server, "victim") if d["name"] == "web.1")["pid"] == victim["pid"]
    assert get(server, "victim")[0] == 200
    assert sleepers("307") == []

    # A restart ends everything the old dyno started, its setsid child included.
    wait_for(lambda: len(sleepers("308")) == 1, 10, "the dyno's setsid child")
    old = sleepers("308")
    before = web_dyno(server, "attacker")["pid"]
    server.cli("ps:restart", "web", "-a", "attacker")
    wait_for(lambda: web_dyno(server, "attacker")["pid"] != before, 60, "the restart")
    wait_for(lambda: not set(old) & set(sleepers("308")), 10, "the old setsid child to end")


# The interpreter in the cached `.heroku` is the app's to write: a post_compile swaps it for
# a script that records who ran it, into the data directory (the platform's, as root).
SWAPPED_PYTHON = """#!/bin/sh
python=.heroku/python/bin/python
rm -f "$python"
printf '#!/bin/sh\\nid -u > %s/python-was-run-by 2>/dev/null\\nexit 3\\n' "$MARKER_DIR" > "$python"
chmod +x "$python"
"""


def test_a_cached_interpreter_the_app_swapped_runs_only_in_its_sandbox(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory()
    server.cli("apps:create", "swapper")
    server.cli("config:set", f"MARKER_DIR={server.data_dir}", "-a", "swapper")
    files = {
        "requirements.txt": "",
        ".python-version": "3.12\n",
        "bin/post_compile": SWAPPED_PYTHON,
    }
    repo = make_repo(tmp_path / "swapper", server.env, files)
    check(push(repo, server, "swapper"))
    (repo / "change.txt").write_text("2\n")
    git(repo, server.env, "add", "-A")
    git(repo, server.env, "commit", "-q", "-m", "change")
    second = check(push(repo, server, "swapper"))
    # The next build asked the swapped file what it is, in the sandbox: it could not write
    # into the data directory, and its non-answer means a fresh environment.
    assert not (server.data_dir / "python-was-run-by").exists()
    assert "Installing Python 3.12" in second.output
    assert "Using cached install of Python" not in second.output
