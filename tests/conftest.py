"""Shared fixtures: a real cedarbox server on 127.0.0.1:0, real git, isolated pip settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CEDARBOX = [sys.executable, "-m", "gitserver"]
TOOL_WHEELS = Path(os.environ.get("CEDARBOX_TOOL_WHEELS", ROOT / ".wheels" / "tools"))
# Real framework wheels fetched by `make test-deps` (Flask, gunicorn, Django, psycopg2).
APP_WHEELS = Path(os.environ.get("CEDARBOX_TEST_APP_WHEELS", ROOT / ".wheels" / "apps"))

# Tiny wheels the tests build themselves: what the sample apps' requirements name.
TEST_PACKAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("alpha", "1.0", ()),
    ("beta", "1.0", ()),
    ("gamma", "1.0", ()),
    ("delta", "1.0", ()),
    ("greet", "2.0", ()),
    ("hello-world", "1.0", ("greet>=2",)),
)


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.wheelhouse import build_wheel

    house = tmp_path_factory.mktemp("wheelhouse")
    for name, version, requires in TEST_PACKAGES:
        module = name.replace("-", "_")
        build_wheel(
            house,
            name,
            version,
            requires=requires,
            modules={
                module: f"VERSION = {version!r}\ndef main():\n    print('{name} {version}')\n"
            },
            console_scripts={name: f"{module}:main"},
        )
    return house


def isolated_env(tmp: Path, **extra: str) -> dict[str, str]:
    """An environment with no trace of the machine's git and pip configuration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "GIT_", "CEDARBOX_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    home = tmp / "home"
    home.mkdir(exist_ok=True)
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


@dataclass
class Server:
    """A running `cedarbox serve` and the environment its tests use."""

    url: str
    data_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def git_url(self, app: str) -> str:
        return f"{self.url}/{app}.git"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(self.data_dir, self.env, *args, check=check)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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


def start_server(tmp: Path, *serve_args: str, **env_extra: str) -> Server:
    env = isolated_env(tmp, **env_extra)
    data_dir = tmp / "data"
    proc = subprocess.Popen(
        [*CEDARBOX, "--data-dir", str(data_dir), "serve", "--port", "0", *serve_args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if "listening on" not in first:
        proc.kill()
        raise AssertionError(f"server did not start: {first!r}")
    url = first.strip().rsplit(" ", 1)[-1]
    return Server(url=url, data_dir=data_dir, env=env, proc=proc)


def find_links(wheelhouse: Path) -> str:
    return f"{wheelhouse} {APP_WHEELS}"


@pytest.fixture
def server(tmp_path: Path, wheelhouse: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, PIP_FIND_LINKS=find_links(wheelhouse))
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(tmp_path: Path, wheelhouse: Path) -> Iterator:
    started: list[Server] = []

    def factory(*serve_args: str, **env_extra: str) -> Server:
        sub = tmp_path / f"server{len(started)}"
        sub.mkdir()
        env_extra.setdefault("PIP_FIND_LINKS", find_links(wheelhouse))
        srv = start_server(sub, *serve_args, **env_extra)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()


def entries_once_deleted(root: Path, timeout: float = 30) -> list[str]:
    """The names in `root` once the trees set aside for background deletion are gone."""
    from gitserver import trash

    deadline = time.monotonic() + timeout
    while any(p.name.startswith(trash.PREFIX) for p in root.iterdir()):
        assert time.monotonic() < deadline, f"not deleted in {timeout}s: {sorted(root.iterdir())}"
        time.sleep(0.05)
    return sorted(p.name for p in root.iterdir())


def wait_for_spare(cache_root: Path, timeout: float = 60) -> Path:
    """The spare copy of a cache entry that a commit prepares in the background, once ready."""
    from gitserver.pipeline.cache import SPARE

    deadline = time.monotonic() + timeout
    while not (
        ready := [p for p in cache_root.glob(f"{SPARE}*") if not p.name.endswith(".partial")]
    ):
        assert time.monotonic() < deadline, (
            f"no spare after {timeout}s: {sorted(cache_root.iterdir())}"
        )
        time.sleep(0.05)
    [spare] = ready
    return spare
