"""Shared fixtures: real cedarbox servers on 127.0.0.1:0, real git, isolated pip settings.

Servers are shared by a module where a test does not need a fresh one (`module_server`,
`noop_server`, `shared_server`); `server` and `server_factory` start one per test. When a
test fails, the logs of the servers it used are added to its report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support.server import (
    STARTED,
    Server,
    ServerFactory,
    find_links,
    noop_build_env,
    start_server,
)

# Tiny wheels the tests build themselves: what the sample apps' requirements name.
TEST_PACKAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("alpha", "1.0", ()),
    ("beta", "1.0", ()),
    ("gamma", "1.0", ()),
    ("delta", "1.0", ()),
    ("greet", "2.0", ()),
    ("hello-world", "1.0", ("greet>=2",)),
)

_FIRST_OF_TEST = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.wheelhouse import build_wheel

    house = tmp_path_factory.mktemp("wheelhouse")
    house.chmod(0o755)  # sandboxed builds read it as their app's own uid
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


@pytest.fixture
def server(tmp_path: Path, wheelhouse: Path) -> Iterator[Server]:
    """A fresh server for this test alone (the Python buildpack)."""
    srv = start_server(tmp_path, PIP_FIND_LINKS=find_links(wheelhouse))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Iterator[Server]:
    """One server for the module's tests (the Python buildpack); each uses its own apps."""
    srv = start_server(tmp_path_factory.mktemp("server"), PIP_FIND_LINKS=find_links(wheelhouse))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def noop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module whose pushes build with the no-op buildpack."""
    srv = start_server(tmp_path_factory.mktemp("noop-server"), **noop_build_env())
    yield srv
    srv.stop()


@pytest.fixture
def shared_server(request: pytest.FixtureRequest) -> Server:
    """The module's server: `noop_server` for a test marked `noop_build`, else `module_server`.

    A module whose tests can share a server overrides `server` with this one.
    """
    noop = request.node.get_closest_marker("noop_build") is not None
    srv = request.getfixturevalue("noop_server" if noop else "module_server")
    assert isinstance(srv, Server)
    return srv


@pytest.fixture
def module_or_fresh_server(request: pytest.FixtureRequest) -> Server:
    """`module_server`, except for a test run once per parameter: each of its runs pushes the
    same app, so each gets a fresh server of its own."""
    if hasattr(request.node, "callspec"):
        factory = request.getfixturevalue("server_factory")
        srv = factory()
    else:
        srv = request.getfixturevalue("module_server")
    assert isinstance(srv, Server)
    return srv


@pytest.fixture
def server_factory(tmp_path: Path, wheelhouse: Path) -> Iterator[ServerFactory]:
    """Servers with settings of the test's own: `server_factory("--no-auto-create", VAR="x")`."""
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


def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_FIRST_OF_TEST] = len(STARTED)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for srv in _servers_used(item):
            for stream in ("stdout", "stderr"):
                if text := srv.process.log_tail(stream):
                    report.sections.append((f"server {stream} {srv.data_dir}", text))
    return report


def _servers_used(item: pytest.Item) -> list[Server]:
    """The servers a test's fixtures hold (directly or as `.server`) and those it started."""
    used: list[Server] = []
    funcargs = getattr(item, "funcargs", {})
    for value in funcargs.values():
        candidate = getattr(value, "server", value)
        if isinstance(candidate, Server):
            used.append(candidate)
    used.extend(STARTED[item.stash.get(_FIRST_OF_TEST, len(STARTED)) :])
    return list({id(srv): srv for srv in used}.values())
