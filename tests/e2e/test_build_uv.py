"""uv apps through real `git push`: lockfiles made by the real uv, installed by `uv sync --locked`.

The wheels come from the session's test wheelhouse, declared as the app's `[[tool.uv.index]]`
(or served by the server's own UV_* settings); the servers run with UV_OFFLINE=1, so no test
touches the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_runner import text
from tests.support.gitutil import GitResult, check, commit, git, make_repo, remote_sha, write_files
from tests.support.server import Server, ServerFactory, find_links, start_server
from tests.support.transcript import HEAD, launched, normalise
from tests.support.uvproject import UV_VERSION, lock, uv_binary, uv_project

SYNC = "-----> Installing dependencies using 'uv sync --locked --no-default-groups'"
USING = [
    "-----> Using Python 3.12 specified in .python-version",
    "       Heroku would install Python 3.12.14; this host provides 3.12.<PATCH>.",
]
# Serves the version of the package it imports (the dyno runs from the slug's .heroku/python).
WEB = """\
import http.server, os
import hello_world

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello-world {hello_world.VERSION}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
# Prints what a hook sees (hooks_spec.rb's variables, a config var and uv's exports).
SHOW_ENV = """\
#!/bin/sh
for name in SOME_APP_CONFIG_VAR CACHE_DIR PYTHONUNBUFFERED LANG UV_PROJECT_ENVIRONMENT \\
    UV_PYTHON_DOWNLOADS UV_NO_MANAGED_PYTHON; do
  eval "value=\\${$name-unset}"
  echo "$name=$value"
done
command -v uv >/dev/null && echo "uv on PATH" || echo "uv not on PATH"
"""


@pytest.fixture(scope="module")
def uv_server(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("uv-server"),
        PIP_FIND_LINKS=find_links(wheelhouse),
        UV_OFFLINE="1",
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def uv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return uv_binary(tmp_path_factory.mktemp("uv-bin"))


def push(repo: Path, server: Server, app: str) -> GitResult:
    return git(repo, server.env, "push", server.git_url(app), "main")


def transcript(result: GitResult) -> list[str]:
    return normalise(result.remote_lines())


def report(server: Server, app: str) -> dict[str, Any]:
    return json.loads(server.cli("builds:info", "-a", app).stdout)


def uv_app(
    path: Path, server: Server, uv: Path, index: Path | None, **files: str
) -> tuple[Path, dict[str, str]]:
    """A committed uv app whose uv.lock the real uv made."""
    base = {
        "pyproject.toml": uv_project(index=index),
        ".python-version": "3.12\n",
        "Procfile": "web: python app.py\n",
        "app.py": WEB,
    }
    base.update(files)
    path.mkdir(parents=True)
    write_files(path, base)
    lock(uv, path)
    repo = make_repo(path, server.env, {})
    return repo, base


def host_site_packages() -> dict[str, list[str]]:
    """Every host interpreter's site-packages listing (name and mtime of each entry)."""
    listing = {}
    roots = [Path.home() / ".pyenv" / "versions", Path("/usr/local/lib"), Path("/usr/lib")]
    for root in roots:
        for site in sorted(root.glob("**/site-packages")) if root.is_dir() else []:
            if ".heroku" in site.parts or "cedarbox" in str(site):
                continue
            try:
                listing[str(site)] = sorted(
                    f"{e.name}:{e.stat(follow_symlinks=False).st_mtime_ns}"
                    for e in os.scandir(site)
                )
            except OSError:
                continue
    return listing


def test_uv_app_builds_runs_and_rebuilds_from_the_cache(
    uv_server: Server, uv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    before = host_site_packages()
    repo, _ = uv_app(tmp_path / "src", uv_server, uv, wheelhouse, **{"bin/post_compile": SHOW_ENV})
    uv_server.cli("apps:create", "shop")
    uv_server.cli("config:set", "SOME_APP_CONFIG_VAR=1", "-a", "shop")
    first = check(push(repo, uv_server, "shop"))
    cache_dir = "<TMP>"  # the build's own scratch copy of the tools' cache
    hook = [
        "-----> Running bin/post_compile hook",
        "       SOME_APP_CONFIG_VAR=1",
        f"       CACHE_DIR={cache_dir}",
        "       PYTHONUNBUFFERED=1",
        "       LANG=en_US.UTF-8",
        "       UV_PROJECT_ENVIRONMENT=<TMP>",
        "       UV_PYTHON_DOWNLOADS=never",
        "       UV_NO_MANAGED_PYTHON=1",
        "       uv on PATH",
    ]
    assert transcript(first) == [
        *HEAD,
        *USING,
        "-----> Installing Python 3.12.14",
        f"-----> Installing uv {UV_VERSION}",
        SYNC,
        "       Resolved 3 packages in <TIME>",
        "       Prepared 2 packages in <TIME>",
        "       Installed 2 packages in <TIME>",
        "       Bytecode compiled 2 files in <TIME>",
        "        + greet==2.0",
        "        + hello-world==1.0",
        *hook,
        "-----> Saving cache",
        *launched("shop", 2),
    ]
    built = report(uv_server, "shop")
    lock_digest = built["package_manager"]["lockfile_sha256"]
    assert built["package_manager"] == {
        "name": "uv",
        "version": UV_VERSION,
        "lockfile": "uv.lock",
        "lockfile_sha256": lock_digest,
        "replayed": False,  # only a no-op pip run is ever replayed
    }
    assert len(lock_digest) == 64
    assert built["packages"] == ["greet==2.0", "hello-world==1.0"]
    # The dyno imports the package from the slug; uv itself is not in the slug.
    assert text(uv_server, "shop") == "hello-world 1.0"
    release = json.loads(uv_server.cli("releases:info", "-a", "shop", "--json").stdout)
    names = subprocess.run(["tar", "-tzf", release["slug"]], capture_output=True, text=True)
    assert "./.heroku/python/bin/python" in names.stdout.splitlines()
    assert not any(n.rstrip("/").endswith(("/uv", "python-uv")) for n in names.stdout.split())

    write_files(repo, {"app.py": WEB + "# v2\n"})
    commit(repo, uv_server.env, "code only")
    wait_for_spares(uv_server.data_dir / "cache" / "shop", 2)  # `.heroku` and uv's entry
    cached = check(push(repo, uv_server, "shop"))
    assert transcript(cached) == [
        *HEAD,
        *USING,
        "-----> Restoring cache",
        "-----> Using cached install of Python 3.12.14",
        f"-----> Using cached uv {UV_VERSION}",
        SYNC,
        "       Resolved 3 packages in <TIME>",
        "       Bytecode compiled 2 files in <TIME>",
        *hook,
        "-----> Saving cache",
        *launched("shop", 3),
    ]
    assert report(uv_server, "shop")["cache"]["reused"] is True

    # A lock change: uv adds what the new lock has to the cached environment.
    write_files(
        repo,
        {"pyproject.toml": uv_project(dependencies=["hello-world", "alpha"], index=wheelhouse)},
    )
    lock(uv, repo)
    commit(repo, uv_server.env, "add alpha")
    changed = transcript(check(push(repo, uv_server, "shop")))
    assert "-----> Restoring cache" in changed
    assert "        + alpha==1.0" in changed
    assert report(uv_server, "shop")["package_manager"]["lockfile_sha256"] != lock_digest
    assert host_site_packages() == before  # no interpreter of the host was touched


def wait_for_spares(cache_root: Path, count: int, timeout: float = 60) -> None:
    """Wait until the background copies of `count` cache entries are ready."""
    from gitserver.pipeline.cache import SPARE

    deadline = time.monotonic() + timeout
    while len([p for p in cache_root.glob(f"{SPARE}*") if not p.name.endswith(".partial")]) < count:
        assert time.monotonic() < deadline, f"no spares after {timeout}s"
        time.sleep(0.05)


def rejected(result: GitResult, code: str) -> list[str]:
    assert result.returncode != 0
    lines = transcript(result)
    assert lines[-2:] == [" !     Push failed", f" !     Error code: BUILD_FAILED ({code})"]
    return lines


def test_out_of_sync_lock_rejects_the_push_and_keeps_branch_and_cache(
    uv_server: Server, uv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    repo, _ = uv_app(tmp_path / "src", uv_server, uv, wheelhouse)
    check(push(repo, uv_server, "stale"))
    sha = remote_sha(uv_server.git_url("stale"), uv_server.env)
    meta = uv_server.data_dir / "cache" / "stale" / "current" / "metadata.json"
    saved = meta.read_text()
    # pyproject.toml changes, uv.lock doesn't: `uv sync --locked` refuses to update it.
    pyproject = uv_project(dependencies=["hello-world", "alpha"], index=wheelhouse)
    write_files(repo, {"pyproject.toml": pyproject})
    commit(repo, uv_server.env, "forgot uv lock")
    lines = rejected(push(repo, uv_server, "stale"), "UV_SYNC_FAILED")
    assert lines[lines.index(SYNC) :][:13] == [
        SYNC,
        "       Resolved 4 packages in <TIME>",
        "       error: The lockfile at `uv.lock` needs to be updated, but `--locked` was provided.",
        "",
        "       hint: To update the lockfile, run `uv lock`.",
        "",
        " !     Error: Unable to install dependencies using uv.",
        " !",
        " !     See the log output above for more information.",
        "",
        " !     Push rejected, failed to compile Python app.",
        "",
        " !     Push failed",
    ]
    assert remote_sha(uv_server.git_url("stale"), uv_server.env) == sha
    assert meta.read_text() == saved


UV_NOTE = [
    " !     Note: We strongly recommend that you don't specify the Python",
    " !     patch version number in your .python-version file, since it will",
    " !     pin your app to an exact Python version and so stop your app from",
    " !     receiving security updates each time it builds.",
    "",
    " !     Push rejected, failed to compile Python app.",
]


def test_uv_needs_a_python_version_file_and_refuses_runtime_txt(
    uv_server: Server, uv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    repo, _ = uv_app(tmp_path / "src", uv_server, uv, wheelhouse)
    git(repo, uv_server.env, "rm", "-q", ".python-version")
    commit(repo, uv_server.env, "no version file")
    lines = rejected(push(repo, uv_server, "noversion"), "UV_PYTHON_VERSION_MISSING")
    start = lines.index(
        "-----> No Python version was specified. Using the buildpack default: Python 3.14"
    )
    assert lines[start + 1 : start + 5] == [
        "",
        " !     Error: No Python version was specified.",
        " !",
        " !     When using the package manager uv on Heroku, you must specify",
    ]
    assert " !     2. Run 'uv python pin 3.14'" in lines
    assert lines[-9:-3] == UV_NOTE

    write_files(repo, {"runtime.txt": "python-3.12\n"})
    commit(repo, uv_server.env, "runtime.txt")
    lines = rejected(push(repo, uv_server, "noversion"), "UV_RUNTIME_TXT")
    start = lines.index("-----> Using Python 3.12 specified in runtime.txt")
    assert lines[start + 1 : start + 3] == [
        "",
        " !     Error: The runtime.txt file isn't supported when using uv.",
    ]
    assert " !     2. Delete your runtime.txt file." in lines
    assert " !     3. Run 'uv python pin 3.12'" in lines
    assert remote_sha(uv_server.git_url("noversion"), uv_server.env) is None


def test_switching_from_pip_to_uv_discards_the_cache(
    uv_server: Server, uv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    files = {"requirements.txt": "hello-world\n", ".python-version": "3.12\n", "app.py": WEB}
    repo = make_repo(tmp_path / "src", uv_server.env, files)
    check(push(repo, uv_server, "switch"))
    git(repo, uv_server.env, "rm", "-q", "requirements.txt")
    write_files(repo, {"pyproject.toml": uv_project(index=wheelhouse)})
    lock(uv, repo)
    commit(repo, uv_server.env, "to uv")
    lines = transcript(check(push(repo, uv_server, "switch")))
    assert lines[len(HEAD) + 2 : len(HEAD) + 7] == [
        "-----> Discarding cache since:",
        "       - The package manager has changed from pip to uv",
        "-----> Installing Python 3.12.14",
        f"-----> Installing uv {UV_VERSION}",
        SYNC,
    ]
    built = report(uv_server, "switch")
    assert built["cache"]["reasons"] == ["The package manager has changed from pip to uv"]
    assert built["packages"] == ["greet==2.0", "hello-world==1.0"]  # pip is gone with the cache


def test_the_servers_uv_settings_reach_the_build(
    server_factory: ServerFactory, uv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    # No [[tool.uv.index]]: the server's UV_FIND_LINKS / UV_NO_INDEX serve the wheels.
    srv = server_factory(UV_OFFLINE="1", UV_NO_INDEX="1", UV_FIND_LINKS=str(wheelhouse))
    path = tmp_path / "src"
    path.mkdir()
    write_files(path, {"pyproject.toml": uv_project(), ".python-version": "3.12\n"})
    lock(uv, path, find_links=wheelhouse)
    repo = make_repo(path, srv.env, {})
    lines = transcript(check(push(repo, srv, "settings")))
    assert "        + hello-world==1.0" in lines
