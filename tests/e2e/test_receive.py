"""The receiver end to end: real git pushing over HTTP to a real server on 127.0.0.1:0."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.apps import MINIMAL, NOOP, NOT_PYTHON, slow_prebuild
from tests.support.gitutil import (
    GitResult,
    check,
    commit,
    git,
    head,
    make_repo,
    push_timed,
    remote_sha,
    write_files,
)
from tests.support.server import (
    CEDARBOX,
    Server,
    ServerFactory,
    isolated_env,
    noop_build_env,
    run_cli,
    start_server,
)

REJECTED = "! [remote rejected] main -> main (pre-receive hook declined)"


@pytest.fixture
def server(shared_server: Server) -> Server:
    """The module's tests share a server; each pushes apps of its own."""
    return shared_server


@pytest.fixture(scope="module")
def untouched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server no test pushes to or creates apps on: its repository list stays empty."""
    srv = start_server(tmp_path_factory.mktemp("untouched"))
    yield srv
    srv.stop()


def push(repo: Path, server: Server, app: str, *args: str) -> GitResult:
    return git(repo, server.env, "push", server.git_url(app), *args)


def test_accepted_push_releases_v1_and_clone_gets_the_code(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, MINIMAL)
    result = push(repo, server, "hello-app", "main")
    assert result.returncode == 0, result.output
    lines = result.remote_lines()
    assert "-----> Python app detected" in lines
    assert "       Released v1" in lines
    assert remote_sha(server.git_url("hello-app"), server.env) == head(repo, server.env)

    clone = tmp_path / "clone"
    check(git(tmp_path, server.env, "clone", "-q", server.git_url("hello-app"), str(clone)))
    assert (clone / "app.py").read_text() == MINIMAL["app.py"]
    assert head(clone, server.env) == head(repo, server.env)


def test_rejected_push_keeps_the_old_ref_and_drops_the_objects(
    server: Server, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "src", server.env, MINIMAL)
    check(push(repo, server, "reject-me", "main"))
    good = head(repo, server.env)

    for name in MINIMAL:
        (repo / name).unlink()
    write_files(repo, NOT_PYTHON)
    bad = commit(repo, server.env, "not python any more")
    result = push(repo, server, "reject-me", "main")

    assert result.returncode != 0
    assert REJECTED in result.stderr
    lines = result.remote_lines()
    assert " !     No default language could be detected for this app." in lines
    assert " !     Push failed" in lines
    assert any("Error code: BUILD_FAILED (NO_BUILDPACK)" in line for line in lines)
    assert remote_sha(server.git_url("reject-me"), server.env) == good
    bare = server.data_dir / "repos" / "reject-me.git"
    kept = git(bare, server.env, "cat-file", "-e", bad)
    assert kept.returncode != 0, "a rejected commit must not stay in the repository"


def test_first_remote_line_arrives_before_a_slow_step_ends(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, slow_prebuild(3))
    result, timed = push_timed(repo, server.env, server.git_url("slow-app"), "main")
    assert result.returncode == 0, result.output
    arrived = {line.strip(): t for t, line in timed}
    started = next(t for t, line in timed if "pre_compile: starting" in line)
    finished = next(t for t, line in timed if "pre_compile: done" in line)
    first_remote = min(t for t, line in timed if line.startswith("remote:"))
    assert first_remote <= started
    assert finished - started >= 2.5, "the line before the sleep must arrive while it sleeps"
    assert arrived["<exit>"] > finished


@pytest.mark.noop_build
def test_large_push_of_50_mb(server: Server, tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {**NOOP, "data/blob.bin": os.urandom(50 * 1024 * 1024)}
    repo = make_repo(tmp_path / "src", server.env, files)
    result = push(repo, server, "big-app", "main")
    assert result.returncode == 0, result.output[-2000:]
    assert remote_sha(server.git_url("big-app"), server.env) == head(repo, server.env)


@pytest.mark.noop_build
def test_chunked_request_bodies_are_dechunked(server: Server, tmp_path: Path) -> None:
    # git sends any request body larger than http.postBuffer with chunked encoding.
    files: dict[str, str | bytes] = {**NOOP, "data.bin": os.urandom(300 * 1024)}
    repo = make_repo(tmp_path / "src", server.env, files)
    result = git(
        repo, server.env, "-c", "http.postBuffer=65536", "push", server.git_url("chunky"), "main"
    )
    assert result.returncode == 0, result.output
    assert remote_sha(server.git_url("chunky"), server.env) == head(repo, server.env)


def test_concurrent_pushes_to_one_app_never_build_twice(server: Server, tmp_path: Path) -> None:
    server.cli("apps:create", "busy-app")
    repos = []
    for i in range(2):
        repo = make_repo(tmp_path / f"src{i}", server.env, {**slow_prebuild(3), "n.txt": str(i)})
        repos.append(repo)
    results: list[GitResult] = [None, None]  # type: ignore[list-item]

    def run(i: int) -> None:
        results[i] = push(repos[i], server, "busy-app", "main", "--force")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.returncode for r in results)
    assert codes[0] == 0, [r.output for r in results]
    locked = [r for r in results if r.returncode != 0]
    if locked:  # the second push arrived while the first was building
        text = "\n".join(locked[0].remote_lines())
        assert "APP_LOCKED" in text
        assert "a build is already running for busy-app" in text
    builds = json.loads(server.cli("builds", "-a", "busy-app", "--json").stdout)
    assert sum(b["status"] == "succeeded" for b in builds) == 1 + (0 if locked else 1)


def test_pushes_to_several_apps_run_in_parallel(server: Server, tmp_path: Path) -> None:
    repos = [make_repo(tmp_path / f"src{i}", server.env, slow_prebuild(2)) for i in range(3)]
    results: list[GitResult] = [None] * 3  # type: ignore[list-item]
    timings: list[list[tuple[float, str]]] = [[]] * 3

    def run(i: int) -> None:
        results[i], timings[i] = push_timed(
            repos[i], server.env, server.git_url(f"par-{i}"), "main"
        )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results), [r.output for r in results]
    # Every build was sleeping in its pre_compile at the same time.
    starts = [next(t for t, line in tm if "pre_compile: starting" in line) for tm in timings]
    ends = [next(t for t, line in tm if "pre_compile: done" in line) for tm in timings]
    assert max(starts) < min(ends)


@pytest.mark.noop_build
def test_non_deploy_branch_is_stored_without_a_build(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, NOT_PYTHON)
    result = push(repo, server, "branchy", "main:feature")
    assert result.returncode == 0, result.output
    assert "Pushed to non-deploy branch, skipping build." in result.remote_lines()
    sha = remote_sha(server.git_url("branchy"), server.env, "refs/heads/feature")
    assert sha == head(repo, server.env)
    builds = json.loads(server.cli("builds", "-a", "branchy", "--json").stdout)
    assert builds == []


@pytest.mark.noop_build
def test_deleting_the_deploy_branch_is_refused(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, NOOP)
    check(push(repo, server, "keep-main", "main", "main:other"))
    result = push(repo, server, "keep-main", ":main")
    assert result.returncode != 0
    assert "BRANCH_DELETE" in result.stderr
    assert remote_sha(server.git_url("keep-main"), server.env) == head(repo, server.env)
    # Other branches may be deleted.
    check(push(repo, server, "keep-main", ":other"))
    assert remote_sha(server.git_url("keep-main"), server.env, "refs/heads/other") is None


@pytest.mark.noop_build
def test_push_from_a_shallow_clone_is_refused_with_advice(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, NOOP)
    for i in range(3):
        write_files(repo, {"n.txt": str(i)})
        commit(repo, server.env, f"change {i}")
    shallow = tmp_path / "shallow"
    check(git(tmp_path, server.env, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)))
    result = push(shallow, server, "shallow-app", "HEAD:main")
    assert result.returncode != 0
    text = "\n".join(result.remote_lines())
    assert "SHALLOW_CLONE" in text
    assert "git fetch --all --unshallow" in text
    assert remote_sha(server.git_url("shallow-app"), server.env) is None


@pytest.mark.noop_build
def test_force_push_builds_a_new_release(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, NOOP)
    check(push(repo, server, "forceful", "main"))
    write_files(repo, {"app.py": "print('rewritten')\n"})
    check(git(repo, server.env, "commit", "-q", "-a", "--amend", "-m", "rewritten"))
    plain = push(repo, server, "forceful", "main")
    assert plain.returncode != 0  # not a fast-forward
    forced = push(repo, server, "forceful", "main", "--force")
    assert forced.returncode == 0, forced.output
    assert "       Released v2" in forced.remote_lines()
    assert remote_sha(server.git_url("forceful"), server.env) == head(repo, server.env)


@pytest.mark.noop_build
def test_tags_are_stored_without_a_build(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, NOT_PYTHON)
    check(git(repo, server.env, "tag", "v1.0"))
    result = push(repo, server, "taggy", "v1.0")
    assert result.returncode == 0, result.output
    assert remote_sha(server.git_url("taggy"), server.env, "refs/tags/v1.0") == head(
        repo, server.env
    )


@pytest.mark.noop_build
def test_push_options_are_accepted_and_recorded(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, NOOP)
    result = git(
        repo, server.env, "push", "-o", "ci-run=42", "-o", "note", server.git_url("opty"), "main"
    )
    assert result.returncode == 0, result.output
    report = json.loads(server.cli("builds:info", "-a", "opty", "--json").stdout)
    assert report["push_options"] == ["ci-run=42", "note"]


@pytest.mark.parametrize(
    "path",
    [
        "/../x.git/info/refs?service=git-upload-pack",
        "/%2e%2e.git/info/refs?service=git-upload-pack",
        "/a/b.git/info/refs?service=git-upload-pack",
        "/Upper.git/info/refs?service=git-receive-pack",
        "/x" * 20 + ".git/info/refs?service=git-receive-pack",
        "/1abc.git/info/refs?service=git-receive-pack",
    ],
)
def test_bad_app_names_are_a_4xx_never_a_path(untouched: Server, path: str) -> None:
    status, body = http_get(untouched.url, path)
    assert 400 <= status < 500, (status, body)
    assert "app" in body.lower()
    assert not (untouched.data_dir / "x.git").exists()
    assert sorted(p.name for p in (untouched.data_dir / "repos").iterdir()) == []


@pytest.mark.noop_build
def test_bad_app_name_is_refused_by_git_with_a_clear_error(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, NOOP)
    result = push(repo, server, "Bad_Name", "main")
    assert result.returncode != 0
    assert "400" in result.stderr


def test_no_auto_create_refuses_unknown_apps(server_factory: ServerFactory, tmp_path: Path) -> None:
    srv = server_factory("--no-auto-create", **noop_build_env())
    repo = make_repo(tmp_path / "src", srv.env, NOOP)
    result = push(repo, srv, "ghost", "main")
    assert result.returncode != 0
    assert "remote error: NO_SUCH_APP" in result.stderr
    assert "cedarbox apps:create ghost" in result.stderr
    srv.cli("apps:create", "ghost")
    assert push(repo, srv, "ghost", "main").returncode == 0


def test_api_key_protects_git_and_api(server_factory: ServerFactory, tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("s3cret\n")
    key_file.chmod(0o600)
    srv = server_factory("--api-key-file", str(key_file), **noop_build_env())
    repo = make_repo(tmp_path / "src", srv.env, NOOP)
    denied = push(repo, srv, "locked-app", "main")
    assert denied.returncode != 0
    assert not (srv.data_dir / "repos" / "locked-app.git").exists()
    wrong = git(repo, srv.env, "push", authed(srv.git_url("locked-app"), "wrong"), "main")
    assert wrong.returncode != 0
    assert "Authentication failed" in wrong.stderr or "401" in wrong.stderr
    ok = git(repo, srv.env, "push", authed(srv.git_url("locked-app"), "s3cret"), "main")
    assert ok.returncode == 0, ok.output
    status, _ = http_get(srv.url, "/api/apps")
    assert status == 401
    status, body = http_get(srv.url, "/api/apps", password="s3cret")
    assert status == 200
    assert [a["name"] for a in json.loads(body)] == ["locked-app"]


@pytest.mark.noop_build
def test_without_api_key_the_api_is_open(server: Server, tmp_path: Path) -> None:
    server.cli("apps:create", "open-app")
    status, body = http_get(server.url, "/api/apps/open-app")
    assert status == 200
    assert json.loads(body)["git_url"] == server.git_url("open-app")


def test_non_loopback_host_requires_an_api_key(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    result = subprocess.run(
        [*CEDARBOX, "--data-dir", str(tmp_path / "d"), "serve", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "without an API key" in result.stderr


def test_hook_runs_for_a_push_by_path_without_the_server(tmp_path: Path) -> None:
    env = isolated_env(tmp_path, **noop_build_env())
    data = tmp_path / "data"
    run_cli(data, env, "apps:create", "local-app")
    bare = data / "repos" / "local-app.git"
    repo = make_repo(tmp_path / "src", env, NOOP)
    other = git(repo, env, "push", str(bare), "main:topic")
    assert other.returncode == 0, other.output
    assert "Pushed to non-deploy branch, skipping build." in other.remote_lines()
    deployed = git(repo, env, "push", str(bare), "main")
    assert deployed.returncode == 0, deployed.output
    assert "       Released v1" in deployed.remote_lines()


# Helpers ---------------------------------------------------------------------------------


def authed(url: str, password: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://user:{password}@{parts.netloc}{parts.path}"


def http_get(base: str, path: str, password: str | None = None) -> tuple[int, str]:
    parts = urlsplit(base)
    assert parts.hostname is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {}
    if password is not None:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(f"u:{password}".encode()).decode()
    conn.putrequest("GET", path, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    conn.close()
    return response.status, body
