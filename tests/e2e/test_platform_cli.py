"""Config vars, releases, rollback, builds and the cache, through the CLI after real pushes."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.apps import MINIMAL, NOOP
from tests.support.gitutil import GitResult, check, commit, git, make_repo, write_files
from tests.support.server import CEDARBOX, ROOT, Server, ServerFactory, noop_build_env

ENV_DIR_PROBE = {
    "bin/pre_compile": '#!/bin/sh\necho "FOO from ENV_DIR: $(cat "$ENV_DIR/FOO" 2>/dev/null)"\n'
    'echo "FOO in the environment: ${FOO:-<unset>}"\n',
}


def push(repo: Path, server: Server, app: str, *args: str) -> GitResult:
    return git(repo, server.env, "push", server.git_url(app), "main", *args)


def cli_json(server: Server, *args: str) -> Any:
    return json.loads(server.cli(*args, "--json").stdout)


def noop(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("noop_build") is not None


@pytest.fixture
def server(request: pytest.FixtureRequest, server_factory: ServerFactory) -> Server:
    """A fresh server: these tests deploy and change `shop` each. Marked `noop_build`: its
    pushes build with the no-op buildpack."""
    return server_factory(**(noop_build_env() if noop(request) else {}))


@pytest.fixture
def deployed(request: pytest.FixtureRequest, server: Server, tmp_path: Path) -> Path:
    files = NOOP if noop(request) else {**MINIMAL, **ENV_DIR_PROBE}
    repo = make_repo(tmp_path / "src", server.env, files)
    check(push(repo, server, "shop"))
    return repo


@pytest.fixture(scope="module")
def shop(noop_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Server:
    """`shop` deployed once (v1), shared by the tests that must change nothing."""
    repo = make_repo(tmp_path_factory.mktemp("shop") / "src", noop_server.env, NOOP)
    check(push(repo, noop_server, "shop"))
    return noop_server


def test_config_vars_reach_the_build_in_env_dir_and_the_hooks_environment(
    server: Server, deployed: Path
) -> None:
    result = server.cli("config:set", "FOO=bar baz", "-a", "shop")
    assert result.stdout.strip() == "Setting FOO and restarting shop... done, v2"
    assert "bar baz" not in result.stdout + result.stderr
    assert cli_json(server, "config", "-a", "shop") == {"FOO": "bar baz"}
    assert server.cli("config:get", "FOO", "-a", "shop").stdout == "bar baz\n"
    assert "FOO='bar baz'" in server.cli("config", "-s", "-a", "shop").stdout

    write_files(deployed, {"app.py": "print('v3')\n"})
    commit(deployed, server.env, "change")
    lines = check(push(deployed, server, "shop")).remote_lines()
    assert "       FOO from ENV_DIR: bar baz" in lines
    assert "       FOO in the environment: bar baz" in lines  # hooks get them exported
    assert "       Released v3" in lines

    unset = server.cli("config:unset", "FOO", "-a", "shop")
    assert unset.stdout.strip() == "Unsetting FOO and restarting shop... done, v4"
    assert cli_json(server, "config", "-a", "shop") == {}


@pytest.mark.noop_build
def test_releases_and_rollback_reuse_the_old_slug_and_config(
    server: Server, deployed: Path
) -> None:
    server.cli("config:set", "A=1", "-a", "shop")  # v2
    write_files(deployed, {"app.py": "print('second')\n"})
    commit(deployed, server.env, "second")
    check(push(deployed, server, "shop"))  # v3
    releases = cli_json(server, "releases", "-a", "shop")
    assert [r["version"] for r in releases] == [3, 2, 1]
    assert releases[1]["description"] == "Set A config vars"
    assert releases[2]["description"].startswith("Deploy ")
    assert releases[0]["slug"] != releases[2]["slug"]
    assert releases[1]["slug"] == releases[2]["slug"]

    rolled = cli_json(server, "releases:rollback", "v1", "-a", "shop")
    assert rolled["version"] == 4
    assert rolled["description"] == "Rollback to v1"
    assert rolled["slug"] == releases[2]["slug"]
    assert rolled["config_keys"] == []
    assert cli_json(server, "config", "-a", "shop") == {}

    again = cli_json(server, "releases:rollback", "-a", "shop")  # one back: v3
    assert again["description"] == "Rollback to v3"
    assert again["config_keys"] == ["A"]
    info = cli_json(server, "releases:info", "v5", "-a", "shop")
    assert info["slug"] == releases[0]["slug"]
    text = server.cli("releases", "-a", "shop").stdout
    assert text.startswith("=== shop Releases - Current: v5")


def test_rollback_to_a_release_without_a_slug_is_refused(server: Server) -> None:
    server.cli("apps:create", "empty")
    server.cli("config:set", "X=1", "-a", "empty")
    server.cli("config:set", "Y=2", "-a", "empty")
    result = server.cli("releases:rollback", "v1", "-a", "empty", check=False)
    assert result.returncode == 1
    assert "Cannot roll back to v1: it has no slug to run" in result.stderr


def test_rollback_to_a_pruned_slug_is_refused(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = server_factory(CEDARBOX_SLUG_RETENTION="2", **noop_build_env())
    repo = make_repo(tmp_path / "src", srv.env, NOOP)
    for i in range(3):
        write_files(repo, {"n.txt": str(i)})
        commit(repo, srv.env, f"change {i}")
        check(push(repo, srv, "prune"))
    releases = cli_json(srv, "releases", "-a", "prune")
    assert [r["slug_pruned"] for r in releases] == [False, False, True]
    assert not Path(releases[2]["slug"]).exists()
    assert Path(releases[1]["slug"]).exists()
    result = srv.cli("releases:rollback", "v1", "-a", "prune", check=False)
    assert result.returncode == 1
    assert "pruned" in result.stderr
    assert cli_json(srv, "releases:rollback", "v2", "-a", "prune")["version"] == 4


def test_builds_report_and_output_replay(server: Server, deployed: Path) -> None:
    builds = cli_json(server, "builds", "-a", "shop")
    assert len(builds) == 1 and builds[0]["status"] == "succeeded"
    report = cli_json(server, "builds:info", "-a", "shop")
    assert report["outcome"] == "succeeded"
    assert [p["name"] for p in report["phases"]] == [
        "detect",
        "restore",
        "compile",
        "release",
        "export",
        "save-cache",
    ]
    output = server.cli("builds:output", builds[0]["id"][:8], "-a", "shop").stdout
    assert "-----> Python app detected" in output
    assert "Released v1" in output


def test_cache_purge_makes_the_next_build_cold(server: Server, deployed: Path) -> None:
    write_files(deployed, {"app.py": "print('warm')\n"})
    commit(deployed, server.env, "warm")
    warm = check(push(deployed, server, "shop")).remote_lines()
    assert "-----> Restoring cache" in warm
    result = server.cli("builds:cache:purge", "-a", "shop", "--confirm", "shop")
    assert result.stdout.strip() == "Purging build cache for shop... done"
    assert cli_json(server, "apps:info", "-a", "shop")["cache_size_bytes"] == 0
    write_files(deployed, {"app.py": "print('cold')\n"})
    commit(deployed, server.env, "cold")
    cold = check(push(deployed, server, "shop")).remote_lines()
    assert "-----> Restoring cache" not in cold
    assert any(line.startswith("-----> Installing Python") for line in cold)
    report = cli_json(server, "builds:info", "-a", "shop")
    assert report["cache"]["reused"] is False


def test_stack_set_discards_the_cache_on_the_next_build(server: Server, tmp_path: Path) -> None:
    server.cli("apps:create", "old-app", "--stack", "cedar-14")
    repo = make_repo(tmp_path / "src", server.env, {"requirements.txt": "", "app.py": "x = 1\n"})
    first = check(push(repo, server, "old-app")).remote_lines()
    assert "-----> Installing runtime (python-2.7.9)" in first
    assert server.cli("stack:set", "heroku-24", "-a", "old-app").stdout.startswith(
        "Setting stack to heroku-24... done"
    )
    write_files(repo, {".python-version": "3.12\n"})
    commit(repo, server.env, "py3")
    lines = check(push(repo, server, "old-app")).remote_lines()
    assert "-----> Discarding cache since:" in lines
    assert "       - The stack has changed from cedar-14 to heroku-24" in lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("config", "-a", "nope"), "Couldn't find that app"),
        (("config:set", "FOO", "-a", "shop"), "is not of the form KEY=value"),
        (("config:set", "1FOO=x", "-a", "shop"), "is not a valid config var name"),
        (("config:set", "MY-VAR=x", "-a", "shop"), "is not a valid config var name"),
        (("config:set", "PORT=1", "-a", "shop"), "set by the platform"),
        (("config:set", f"BIG={'x' * 40000}", "-a", "shop"), "the limit is 32768 bytes"),
        (("config:set", "-a", "shop"), "No config vars given"),
        (("releases:info", "v99", "-a", "shop"), "has no release v99"),
        (("releases:info", "latest", "-a", "shop"), "is not a release version"),
        (("builds:info", "deadbeef", "-a", "shop"), "No single build"),
        (("stack:set", "bamboo", "-a", "shop"), "is not available"),
    ],
)
def test_bad_input_is_one_clear_line(shop: Server, args: tuple[str, ...], message: str) -> None:
    result = shop.cli(*args, check=False)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert [r["version"] for r in cli_json(shop, "releases", "-a", "shop")] == [1]


def test_non_utf8_values_are_refused(shop: Server) -> None:
    argv: list[str | bytes] = [
        *CEDARBOX,
        "--data-dir",
        str(shop.data_dir),
        "config:set",
        b"BIN=\xff\xfe",
        "-a",
        "shop",
    ]
    result = subprocess.run(argv, env=shop.env, capture_output=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert b"is not valid UTF-8" in result.stderr


def test_config_changes_while_a_build_runs_and_two_clis_at_once(
    server: Server, tmp_path: Path
) -> None:
    slow = {**MINIMAL, "bin/pre_compile": "#!/bin/sh\nsleep 3\n"}
    repo = make_repo(tmp_path / "src", server.env, slow)
    pushed: list[GitResult] = []
    builder = threading.Thread(target=lambda: pushed.append(push(repo, server, "busy")))
    builder.start()
    for _ in range(100):
        if server.cli("apps", "--json").stdout.count('"busy"'):
            break
        threading.Event().wait(0.05)
    results: list[subprocess.CompletedProcess[str]] = []
    setters = [
        threading.Thread(
            target=lambda k=k: results.append(server.cli("config:set", f"{k}=1", "-a", "busy"))
        )
        for k in ("ONE", "TWO")
    ]
    for t in setters:
        t.start()
    for t in setters:
        t.join()
    builder.join()
    assert pushed[0].returncode == 0, pushed[0].output
    releases = cli_json(server, "releases", "-a", "busy")
    assert [r["version"] for r in releases] == [3, 2, 1]
    deploy = next(r for r in releases if r["description"].startswith("Deploy"))
    assert deploy["version"] == 3 and deploy["config_keys"] == ["ONE", "TWO"]
