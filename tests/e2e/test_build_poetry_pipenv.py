"""Poetry and Pipenv apps through real `git push`: made with the real tools, built with them.

Each app is written as a user writes it (pyproject.toml or Pipfile) and locked by the real
Poetry or Pipenv at test time (tests/support/lockers.py) against the tests' own index
(tests/support/simpleindex.py), which the app names as its only source: no network.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.gitutil import GitResult, check, commit, git, make_repo, write_files
from tests.support.lockers import (
    PIPENV_VERSION,
    POETRY_VERSION,
    LockTools,
    host_python,
    pipenv_app,
    poetry_app,
)
from tests.support.server import TOOL_WHEELS, Server, find_links, start_server
from tests.support.simpleindex import SimpleIndex
from tests.support.transcript import HEAD, launched, normalise
from tests.support.wheelhouse import build_wheel

pytestmark = pytest.mark.skipif(
    not (TOOL_WHEELS / ".fetched-pm").exists(), reason="run `make install` first"
)

USING_312 = [
    "-----> Using Python 3.12 specified in .python-version",
    "       Heroku would install Python 3.12.14; this host provides 3.12.<PATCH>.",
]
PIPFILE_USING_312 = [
    "-----> Using Python 3.12 specified in Pipfile.lock",
    "       Heroku would install Python 3.12.14; this host provides 3.12.<PATCH>.",
]
WEB = {"Procfile": "web: python -m http.server $PORT\n", "app.py": "print('v1')\n"}
IMPORT = (
    "import hello_world, greet, indexed_only;"
    " print(hello_world.VERSION, greet.VERSION, indexed_only.SOURCE)"
)


@pytest.fixture(scope="module")
def lock_tools(tmp_path_factory: pytest.TempPathFactory) -> LockTools:
    return LockTools.install(tmp_path_factory.mktemp("lock-tools"))


@pytest.fixture(scope="module")
def index(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleIndex]:
    """The test wheels, plus one package only the index has: the server's PIP_FIND_LINKS (the
    wheelhouse) can't provide it, so an app that gets it used the source it declares."""
    wheels = tmp_path_factory.mktemp("index-wheels")
    for wheel in wheelhouse.glob("*.whl"):
        shutil.copyfile(wheel, wheels / wheel.name)
    build_wheel(wheels, "indexed-only", "1.0", modules={"indexed_only": "SOURCE = 'index'\n"})
    with SimpleIndex(wheels) as served:
        yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Iterator[Server]:
    """The module's server; each test pushes apps of its own. Unlike other tests' servers it
    lets pip use indexes (PIP_NO_INDEX=0): Pipenv's pip then reaches the Pipfile's [[source]],
    the tests' own index (the server's pip settings apply to a build's pip, as for pip apps)."""
    srv = start_server(
        tmp_path_factory.mktemp("server"), PIP_FIND_LINKS=find_links(wheelhouse), PIP_NO_INDEX="0"
    )
    yield srv
    srv.stop()


def wait_for_spares(server: Server, app: str, entries: tuple[str, ...]) -> None:
    """Until the background copies of these cache entries (`.heroku`, Poetry's) are ready."""
    root = server.data_dir / "cache" / app
    digests = json.loads((root / "current" / "digests.json").read_text())
    wanted = {root / f"spare-{digests[name]}" for name in entries}
    deadline = time.monotonic() + 60
    while not all(p.is_dir() for p in wanted):
        assert time.monotonic() < deadline, f"no spares after 60s: {sorted(root.iterdir())}"
        time.sleep(0.05)


def push(repo: Path, server: Server, app: str) -> GitResult:
    return git(repo, server.env, "push", server.git_url(app), "main")


def transcript(result: GitResult) -> list[str]:
    return normalise(result.remote_lines())


def report(server: Server, app: str) -> dict[str, Any]:
    return json.loads(server.cli("builds:info", "-a", app).stdout)


def host_site_packages() -> list[str]:
    """What the host's own Python 3.12 has installed: no build may change it."""
    lib = host_python().parent.parent / "lib"
    return sorted(str(p.relative_to(lib)) for p in lib.glob("python3.12/site-packages/*"))


def one_off(server: Server, app: str, code: str) -> str:
    return server.cli("run", "-a", app, "python", "-c", code).stdout.strip()


def cache_state(server: Server, app: str) -> str:
    return (server.data_dir / "cache" / app / "current" / "metadata.json").read_text()


def remote_ref(server: Server, repo: Path, app: str) -> str:
    out = git(repo, server.env, "ls-remote", server.git_url(app), "refs/heads/main").stdout
    return out.split()[0] if out.strip() else ""


def assert_refused(server: Server, repo: Path, app: str, code: str, tail: list[str]) -> list[str]:
    """Push, expect a refusal with `tail` before the platform's lines; the app is unchanged."""
    ref, cache = remote_ref(server, repo, app), cache_state(server, app)
    failed = push(repo, server, app)
    assert failed.returncode != 0
    lines = transcript(failed)
    assert lines[-len(tail) - 5 :] == [
        *tail,
        "",
        " !     Push rejected, failed to compile Python app.",
        "",
        " !     Push failed",
        f" !     Error code: BUILD_FAILED ({code})",
    ]
    assert remote_ref(server, repo, app) == ref
    assert cache_state(server, app) == cache
    assert report(server, app)["failure_code"] == code
    return lines


# --- Poetry -----------------------------------------------------------------------------------


def test_poetry_app_builds_runs_and_rebuilds_from_cache(
    server: Server, tmp_path: Path, lock_tools: LockTools, index: SimpleIndex
) -> None:
    deps = ["hello-world>=1", "indexed-only"]
    files = poetry_app(tmp_path / "made", lock_tools, index, deps)
    repo = make_repo(tmp_path / "src", server.env, {**files, ".python-version": "3.12\n", **WEB})
    host_before = host_site_packages()

    first = transcript(check(push(repo, server, "poems")))
    start = len(HEAD)
    assert first[start : start + 13] == [
        *USING_312,
        "-----> Installing Python 3.12.14",
        f"-----> Installing Poetry {POETRY_VERSION}",
        "-----> Installing dependencies using 'poetry sync --only main'",
        "       Installing dependencies from lock file",
        "",
        "       Package operations: 3 installs, 0 updates, 0 removals",
        "",
        "         - Installing greet (2.0)",
        "         - Installing hello-world (1.0)",
        "         - Installing indexed-only (1.0)",
        "-----> Saving cache",
    ]
    assert first[-10:] == launched("poems", 1)
    built = report(server, "poems")
    assert built["packages"] == ["greet==2.0", "hello-world==1.0", "indexed-only==1.0"]
    assert built["package_manager"] == {
        "name": "poetry",
        "version": POETRY_VERSION,
        "lockfile": "poetry.lock",
        "lockfile_sha256": hashlib.sha256(files["poetry.lock"].encode()).hexdigest(),
        "replayed": False,  # only a no-op pip run is ever replayed
    }
    assert one_off(server, "poems", IMPORT) == "1.0 2.0 index"
    # Poetry is a build tool: kept in the cache, never in the slug or on a dyno's PATH.
    assert one_off(server, "poems", "import shutil; print(shutil.which('poetry'))") == "None"
    slug = server.data_dir / "run" / "poems"
    assert not list(slug.glob("v*/slug/.heroku/python-poetry"))
    assert (server.data_dir / "cache" / "poems" / "current").is_dir()

    write_files(repo, {"app.py": "print('v2')\n"})
    commit(repo, server.env, "code only")
    wait_for_spares(server, "poems", (".heroku", "python-poetry"))
    cached = transcript(check(push(repo, server, "poems")))
    assert cached[start : start + 9] == [
        *USING_312,
        "-----> Restoring cache",
        "-----> Using cached install of Python 3.12.14",
        f"-----> Using cached Poetry {POETRY_VERSION}",
        "-----> Installing dependencies using 'poetry sync --only main'",
        "       Installing dependencies from lock file",
        "",
        "       No dependencies to install or update",
    ]
    assert report(server, "poems")["cache"]["reused"] is True
    assert one_off(server, "poems", IMPORT) == "1.0 2.0 index"
    assert host_site_packages() == host_before


def test_poetry_lock_out_of_date_rejects_the_push(
    server: Server, tmp_path: Path, lock_tools: LockTools, index: SimpleIndex
) -> None:
    files = poetry_app(tmp_path / "made", lock_tools, index, ["greet>=2"])
    repo = make_repo(tmp_path / "src", server.env, {**files, ".python-version": "3.12\n", **WEB})
    check(push(repo, server, "poem-stale"))
    pyproject = files["pyproject.toml"].replace('["greet>=2"]', '["greet>=2", "alpha"]')
    write_files(repo, {"pyproject.toml": pyproject})
    commit(repo, server.env, "a dependency without locking")
    lines = assert_refused(
        server,
        repo,
        "poem-stale",
        "POETRY_SYNC_FAILED",
        [
            "       pyproject.toml changed significantly since poetry.lock was last generated."
            " Run `poetry lock` to fix the lock file.",
            "",
            " !     Error: Unable to install dependencies using Poetry.",
            " !",
            " !     See the log output above for more information.",
        ],
    )
    assert "-----> Installing dependencies using 'poetry sync --only main'" in lines


def test_poetry_version_change_discards_the_cache(
    server: Server, tmp_path: Path, lock_tools: LockTools, index: SimpleIndex
) -> None:
    files = poetry_app(tmp_path / "made", lock_tools, index, ["greet>=2"])
    repo = make_repo(tmp_path / "src", server.env, {**files, ".python-version": "3.12\n", **WEB})
    check(push(repo, server, "poem-pin"))
    meta_path = server.data_dir / "cache" / "poem-pin" / "current" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    assert meta["poetry_version"] == POETRY_VERSION
    # As if the last build had run an older pin (the buildpack's own test uses an old release).
    meta["poetry_version"] = "2.2.1"
    meta_path.write_text(json.dumps(meta))
    write_files(repo, {"app.py": "print('v2')\n"})
    commit(repo, server.env, "code only")
    lines = transcript(check(push(repo, server, "poem-pin")))
    start = len(HEAD) + 2
    assert lines[start : start + 4] == [
        "-----> Discarding cache since:",
        f"       - The Poetry version has changed from 2.2.1 to {POETRY_VERSION}",
        "-----> Installing Python 3.12.14",
        f"-----> Installing Poetry {POETRY_VERSION}",
    ]


# --- Pipenv -----------------------------------------------------------------------------------


def test_pipenv_app_builds_runs_and_rebuilds_from_cache(
    server: Server, tmp_path: Path, lock_tools: LockTools, index: SimpleIndex
) -> None:
    packages = {"hello-world": "*", "indexed-only": "*"}
    files = pipenv_app(tmp_path / "made", lock_tools, index, packages)
    repo = make_repo(tmp_path / "src", server.env, {**files, **WEB})
    host_before = host_site_packages()

    first = transcript(check(push(repo, server, "pips")))
    start = len(HEAD)
    assert first[start : start + 6] == [
        *PIPFILE_USING_312,
        "-----> Installing Python 3.12.14",
        f"-----> Installing Pipenv {PIPENV_VERSION}",
        "-----> Installing dependencies using 'pipenv install --deploy'",
        "-----> Saving cache",  # Pipenv says nothing when all goes well, as on Heroku
    ]
    assert first[-10:] == launched("pips", 1)
    built = report(server, "pips")
    assert built["python"]["source"] == "Pipfile.lock"
    assert built["packages"] == ["greet==2.0", "hello-world==1.0", "indexed-only==1.0"]
    assert built["package_manager"]["name"] == "pipenv"
    assert built["package_manager"]["version"] == PIPENV_VERSION
    assert one_off(server, "pips", IMPORT) == "1.0 2.0 index"
    # Pipenv ships in the slug, and dynos have it on PATH, as on Heroku.
    version = server.cli("run", "-a", "pips", "pipenv", "--version").stdout.strip()
    assert version == f"pipenv, version {PIPENV_VERSION}"

    write_files(repo, {"app.py": "print('v2')\n"})
    commit(repo, server.env, "code only")
    wait_for_spares(server, "pips", (".heroku",))
    cached = transcript(check(push(repo, server, "pips")))
    assert cached[start : start + 6] == [
        *PIPFILE_USING_312,
        "-----> Restoring cache",
        "-----> Using cached install of Python 3.12.14",
        f"-----> Using cached Pipenv {PIPENV_VERSION}",
        "-----> Installing dependencies using 'pipenv install --deploy'",
    ]
    assert report(server, "pips")["cache"]["reused"] is True

    lock = json.loads(files["Pipfile.lock"])
    del lock["default"]["hello-world"]
    lock_text = json.dumps(lock, indent=4) + "\n"
    write_files(repo, {"Pipfile.lock": lock_text})
    commit(repo, server.env, "lock changed")
    changed = transcript(push(repo, server, "pips"))
    assert changed[start + 2 : start + 4] == [
        "-----> Discarding cache since:",
        "       - The contents of Pipfile.lock changed",
    ]
    assert host_site_packages() == host_before


def test_pipfile_without_lock_rejects_the_push(
    server: Server, tmp_path: Path, index: SimpleIndex
) -> None:
    from tests.support.lockers import pipfile

    repo = make_repo(tmp_path / "src", server.env, {"Pipfile": pipfile(index, {"greet": "*"})})
    failed = push(repo, server, "pip-nolock")
    assert failed.returncode != 0
    lines = transcript(failed)
    assert lines[len(HEAD) : len(HEAD) + 3] == [
        "",
        " !     Error: No 'Pipfile.lock' found!",
        " !",
    ]
    assert lines[-1] == " !     Error code: BUILD_FAILED (PIPFILE_LOCK_MISSING)"
    assert remote_ref(server, repo, "pip-nolock") == ""


def test_pipfile_lock_errors_reject_the_push(
    server: Server, tmp_path: Path, lock_tools: LockTools, index: SimpleIndex
) -> None:
    files = pipenv_app(tmp_path / "made", lock_tools, index, {"greet": "*"})
    repo = make_repo(tmp_path / "src", server.env, {**files, **WEB})
    check(push(repo, server, "pip-bad"))

    write_files(repo, {"Pipfile.lock": '{"_meta": nope}\n'})
    commit(repo, server.env, "invalid JSON")
    lines = assert_refused(
        server,
        repo,
        "pip-bad",
        "PIPFILE_LOCK_INVALID",
        [
            " !     This is likely due to it not being valid JSON.",
            " !",
            " !     Run 'pipenv lock' to regenerate/fix the lockfile.",
        ],
    )
    assert " !     Error: Can't parse Pipfile.lock." in lines

    lock = json.loads(files["Pipfile.lock"])
    lock["_meta"]["requires"]["python_version"] = "^3.12"
    write_files(repo, {"Pipfile.lock": json.dumps(lock, indent=4) + "\n"})
    commit(repo, server.env, "invalid version")
    lines = assert_refused(
        server,
        repo,
        "pip-bad",
        "PYTHON_VERSION_INVALID",
        [
            " !     For more information, see:",
            " !     https://pipenv.pypa.io/en/stable/specifiers.html#specifying-versions-of-python",
        ],
    )
    assert " !     Error: Invalid Python version in Pipfile.lock." in lines
    assert " !     ^3.12" in lines

    write_files(repo, {"Pipfile.lock": files["Pipfile.lock"]})
    write_files(
        repo, {"Pipfile": files["Pipfile"].replace('greet = "*"', 'greet = "*"\nalpha = "*"')}
    )
    commit(repo, server.env, "out of date")
    lines = assert_refused(
        server,
        repo,
        "pip-bad",
        "PIPENV_INSTALL_FAILED",
        [
            " !     Error: Unable to install dependencies using Pipenv.",
            " !",
            " !     See the log output above for more information.",
        ],
    )
    # Pipenv's own words, wrapped at 80 columns as on Heroku.
    assert "       Your Pipfile.lock" in lines
    assert any(line.endswith(") is out of") for line in lines)
    assert "       date. Expected:" in lines
    assert "       ERROR:: Aborting deploy" in lines


def test_pipfile_lock_python_version_order(
    server: Server, tmp_path: Path, lock_tools: LockTools, index: SimpleIndex
) -> None:
    """.python-version wins over Pipfile.lock; python_full_version over python_version."""
    files = pipenv_app(tmp_path / "made", lock_tools, index, {"greet": "*"})
    lock = json.loads(files["Pipfile.lock"])
    lock["_meta"]["requires"]["python_full_version"] = "3.12.14"
    full = json.dumps(lock, indent=4) + "\n"
    repo = make_repo(tmp_path / "src", server.env, {**files, "Pipfile.lock": full, **WEB})
    lines = transcript(check(push(repo, server, "pip-order")))
    assert lines[len(HEAD)] == "-----> Using Python 3.12.14 specified in Pipfile.lock"
    write_files(repo, {".python-version": "3.11\n"})
    commit(repo, server.env, ".python-version")
    lines = transcript(push(repo, server, "pip-order"))
    assert lines[len(HEAD)] == "-----> Using Python 3.11 specified in .python-version"
