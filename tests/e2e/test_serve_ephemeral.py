"""`cedarbox serve --ephemeral`: one JSON line once ready, nothing left behind on exit.

Each server's TMPDIR is a directory of the test's own, so "nothing left" is checked by looking
at it: the data directory (and anything else the server made there) must be gone.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitserver.postgres import cluster_available
from tests.support import procs
from tests.support.server import CEDARBOX, ROOT, isolated_env, run_cli

START_TIMEOUT = 30


class Ephemeral:
    """One `cedarbox serve --ephemeral`, its TMPDIR and its JSON line."""

    def __init__(self, tmp: Path, *args: str, **env_extra: str) -> None:
        self.tmpdir = tmp / "tmpdir"
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.env = isolated_env(tmp, TMPDIR=str(self.tmpdir), **env_extra)
        self.stdout = tmp / "stdout"
        self.stderr = tmp / "stderr"
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [*CEDARBOX, "serve", "--ephemeral", *args],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=ROOT,
            )

    def info(self) -> dict[str, object]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line, newline, _ = self.stdout.read_text().partition("\n")
            if newline:
                data: dict[str, object] = json.loads(line)
                return data
            assert self.proc.poll() is None, self.stderr.read_text()
            time.sleep(0.02)
        raise AssertionError(f"no JSON line; stderr:\n{self.stderr.read_text()}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.proc.wait(timeout=60)


@pytest.fixture
def ephemeral(tmp_path: Path) -> Iterator[Ephemeral]:
    server = Ephemeral(tmp_path)
    yield server
    server.stop()


def alive(pid: int, within: float = 10) -> bool:
    """Whether `pid` still runs `within` seconds from now: a killed process is gone (or a zombie
    its new parent has not reaped yet) a moment after the signal, not at once."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        if state == "Z":
            return False
        time.sleep(0.05)
    return True


def _get(url: str, key: str | None) -> int:
    request = urllib.request.Request(url)
    if key is not None:
        token = base64.b64encode(f"ci:{key}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_prints_one_json_line_and_removes_everything_on_sigterm(ephemeral: Ephemeral) -> None:
    info = ephemeral.info()
    assert sorted(info) == ["api_key", "data_dir", "https_url", "pid", "url"]
    assert info["pid"] == ephemeral.proc.pid
    assert info["https_url"] == str(info["url"]).replace("http://", "https://")  # same port
    data_dir = Path(str(info["data_dir"]))
    assert data_dir.parent == ephemeral.tmpdir and (data_dir / "state.db").is_file()
    key = str(info["api_key"])
    assert len(key) >= 24
    # The random key guards the server: git and the API need it.
    assert _get(f"{info['url']}/api/apps", None) == 401
    assert _get(f"{info['url']}/api/apps", key) == 200
    # Apps made through the CLI on its data directory are served.
    run_cli(data_dir, ephemeral.env, "apps:create", "ci-app")
    assert _get(f"{info['url']}/api/apps/ci-app", key) == 200

    assert ephemeral.stop() == 0
    assert len(ephemeral.stdout.read_text().splitlines()) == 1  # stdout: the JSON line alone
    assert list(ephemeral.tmpdir.iterdir()) == []
    assert procs.using_data_dir(data_dir) == []


def test_two_ephemeral_servers_get_their_own_port_key_and_directory(tmp_path: Path) -> None:
    first, second = Ephemeral(tmp_path / "a"), Ephemeral(tmp_path / "b")
    try:
        a, b = first.info(), second.info()
        assert a["url"] != b["url"] and a["api_key"] != b["api_key"]
        assert a["data_dir"] != b["data_dir"]
    finally:
        first.stop()
        second.stop()


def test_sigint_stops_the_dynos_and_removes_the_directory(tmp_path: Path) -> None:
    from tests.support.apps import MINIMAL
    from tests.support.gitutil import check, git, make_repo
    from tests.support.server import noop_build_env

    server = Ephemeral(tmp_path, **noop_build_env())
    info = server.info()
    data_dir = Path(str(info["data_dir"]))
    repo = make_repo(tmp_path / "app", server.env, MINIMAL)
    url = str(info["url"]).replace("://", f"://ci:{info['api_key']}@") + "/ci-app.git"
    check(git(repo, server.env, "push", url, "main"))
    dynos = [p for p in procs.using_data_dir(data_dir) if "http.server" in p.cmdline]
    assert dynos, "the pushed app's web dyno runs"

    assert server.stop(signal.SIGINT) == 0  # Ctrl-C is the normal way to stop it
    assert list(server.tmpdir.iterdir()) == []
    assert procs.using_data_dir(data_dir) == []
    assert not any(alive(p.pid) for p in dynos)


def test_a_port_in_use_fails_with_a_message_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Ephemeral(tmp_path, "--port", str(port))
        assert server.proc.wait(timeout=60) == 1
    err = server.stderr.read_text()
    assert f"Cannot start the ephemeral server on 127.0.0.1:{port}" in err
    assert "Leave out --port" in err
    assert server.stdout.read_text() == ""  # no JSON line: a script's `read` sees EOF
    assert list(server.tmpdir.iterdir()) == []


def test_data_dir_and_ephemeral_conflict(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    result = subprocess.run(
        [*CEDARBOX, "--data-dir", str(tmp_path / "d"), "serve", "--ephemeral"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "--data-dir conflicts" in result.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.skipif(not cluster_available(), reason="PostgreSQL's initdb/pg_ctl are missing")
def test_the_managed_postgres_cluster_is_stopped_and_removed(tmp_path: Path) -> None:
    server = Ephemeral(tmp_path, CEDARBOX_POSTGRES="auto")
    try:
        info = server.info()
        data_dir = Path(str(info["data_dir"]))
        run_cli(data_dir, server.env, "apps:create", "db-app")
        run_cli(data_dir, server.env, "addons:create", "heroku-postgresql", "-a", "db-app")
        cluster = json.loads((data_dir / "postgres" / "cluster.json").read_text())
        pgdata = Path(cluster["pgdata"])
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    finally:
        assert server.stop() == 0
    assert not pgdata.exists()
    assert not alive(postmaster)
    assert list(server.tmpdir.iterdir()) == []
    if not pgdata.is_relative_to(data_dir):  # as root: in the postgres user's home
        assert not pgdata.parent.exists()
    assert os.path.exists(data_dir) is False
