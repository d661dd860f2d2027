"""Starting servers for tests and benchmarks: a real `cedarbox serve` on 127.0.0.1:0.

Every server writes its stdout and stderr to files beside its data directory, never to a pipe
that could fill up and stall it, so a failing test can show what the server said
(tests/conftest.py adds the log to the report of a failed test).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CEDARBOX = [sys.executable, "-m", "gitserver"]
TOOL_WHEELS = Path(os.environ.get("CEDARBOX_TOOL_WHEELS", ROOT / ".wheels" / "tools"))
# Real framework wheels fetched by `make test-deps` (Flask, gunicorn, Django, psycopg2).
APP_WHEELS = Path(os.environ.get("CEDARBOX_TEST_APP_WHEELS", ROOT / ".wheels" / "apps"))
# The buildpack for pushes whose build is not what a test checks (tests/support/noop_buildpack.py).
NOOP_BUILDPACK = "tests.support.noop_buildpack:NoopBuildpack"
# How much of a server's log a failed test's report shows.
LOG_TAIL_BYTES = 64 * 1024
# Every cedarbox server started in this process, in order: a failed test's report shows the
# logs of those it started (tests/conftest.py).
STARTED: list[Server] = []


class ListeningProcess:
    """A process that prints `... listening on http://HOST:PORT` as its first line of stdout.

    stdout and stderr are appended to `<name>.stdout` and `<name>.stderr` in `logdir`: a
    process restarted under the same name keeps one log.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        logdir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.name = name
        logdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = logdir / f"{name}.stdout"
        self.stderr_path = logdir / f"{name}.stderr"
        self.stdout_path.unlink(missing_ok=True)  # the first line read is this run's
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )
        self.url = self._wait_for_url(timeout)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            first = self.stdout_path.read_text(errors="replace").partition("\n")
            if first[1] and "listening on " in first[0]:
                return first[0].rpartition("listening on ")[2].strip()
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} did not start; stderr:\n{self.log_tail()}")

    def log_tail(self, stream: str = "stderr", limit: int = LOG_TAIL_BYTES) -> str:
        """The end of what the process wrote to `stream` (a traceback is at the end)."""
        path = self.stderr_path if stream == "stderr" else self.stdout_path
        try:
            with path.open("rb") as f:
                f.seek(max(f.seek(0, os.SEEK_END) - limit, 0))
                return f.read().decode(errors="replace")
        except OSError as exc:
            return f"<no log: {exc}>"

    def stop(self) -> None:
        stop_process(self.proc)

    def __enter__(self) -> ListeningProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def isolated_env(tmp: Path, **extra: str) -> dict[str, str]:
    """An environment with no trace of the machine's git and pip configuration.

    HOME is `tmp/home`; `extra` is added last (and may set HOME elsewhere).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "GIT_", "CEDARBOX_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "CEDARBOX_TOOL_WHEELS": str(TOOL_WHEELS),
            # heroku-postgresql falls back to SQLite unless a test asks for PostgreSQL
            # (tests/e2e/test_addons_postgres.py sets CEDARBOX_POSTGRES=auto).
            "CEDARBOX_POSTGRES": "off",
        }
    )
    env.update(extra)
    return env


def noop_build_env() -> dict[str, str]:
    """Server settings that build every push with the no-op buildpack.

    The pre-receive hook runs `python -m gitserver.receive.hook` in the bare repository, so
    the checkout goes on PYTHONPATH for it to import `tests.support`; builds and dynos never
    see PYTHONPATH (gitserver/pipeline/context.py, gitserver/runner/environment.py).
    """
    return {"CEDARBOX_BUILDPACKS": NOOP_BUILDPACK, "PYTHONPATH": str(ROOT)}


def run_cli(
    data_dir: Path, env: Mapping[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CEDARBOX, "--data-dir", str(data_dir), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"cedarbox {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


@dataclass
class Server:
    """A running `cedarbox serve` and the environment its tests use.

    A test that restarts the server on the same directory replaces `proc` and `url`; the
    log stays in the same files.
    """

    url: str
    data_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    process: ListeningProcess  # as started: where its log is

    def git_url(self, app: str) -> str:
        return f"{self.url}/{app}.git"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(self.data_dir, self.env, *args, check=check)

    def stop(self) -> None:
        stop_process(self.proc)


# `server_factory(*serve_args, **env_extra)`: a server with settings of the test's own.
ServerFactory = Callable[..., Server]


def start_server(tmp: Path, *serve_args: str, **env_extra: str) -> Server:
    """`cedarbox serve` on a free port with its data in `tmp/data` and its log in `tmp`."""
    env = isolated_env(tmp, **env_extra)
    data_dir = tmp / "data"
    argv = [*CEDARBOX, "--data-dir", str(data_dir), "serve", "--port", "0", *serve_args]
    process = ListeningProcess("server", argv, tmp, env=env, cwd=ROOT)
    srv = Server(url=process.url, data_dir=data_dir, env=env, proc=process.proc, process=process)
    STARTED.append(srv)
    return srv


def find_links(*wheelhouses: Path) -> str:
    """PIP_FIND_LINKS for the test wheels and the real framework wheels."""
    return " ".join(str(p) for p in (*wheelhouses, APP_WHEELS))
