"""The cedar-14 stack through real `git push`: the 2015 spec, statement by statement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.gitutil import GitResult, check, commit, git, make_repo, write_files
from tests.support.server import Server, ServerFactory
from tests.support.transcript import normalise

# pip 7.0.1 answers the tests' PIP_NO_INDEX=1 this way (Heroku's index was never used).
LINKS = "       Ignoring indexes: https://pypi.python.org/simple"


def push(repo: Path, server: Server, app: str) -> GitResult:
    return git(repo, server.env, "push", server.git_url(app), "main")


def transcript(result: GitResult) -> list[str]:
    return normalise(result.remote_lines())


def tail(app: str, version: int, types: str = "(none)") -> list[str]:
    return [
        "-----> Discovering process types",
        f"       Procfile declares types -> {types}",
        "",
        "-----> Compressing... done, <SIZE>",
        "-----> Launching... done, v" + str(version),
        f"       https://{app}.localhost:<PORT>/ deployed to cedarbox",
    ]


@pytest.fixture
def cedar(module_or_fresh_server: Server) -> Server:
    """Each test creates cedar-14 apps of its own on the module's server."""
    return module_or_fresh_server


def create(server: Server, app: str) -> None:
    server.cli("apps:create", app, "--stack", "cedar-14")


def test_requirements_only_app_builds_with_python_2_7_9_as_the_spec_says(
    cedar: Server, tmp_path: Path
) -> None:
    create(cedar, "spec")
    repo = make_repo(tmp_path / "src", cedar.env, {"requirements.txt": "alpha\n", "w.py": "1\n"})
    first = check(push(repo, cedar, "spec"))
    assert transcript(first) == [
        "-----> Python app detected",
        "-----> Installing runtime (python-2.7.9)",
        "       Heroku would install Python 2.7.9; this host provides 2.7.<PATCH>.",
        "-----> Installing dependencies with pip",
        LINKS,
        "       Collecting alpha (from -r requirements.txt (line 1))",
        "       Installing collected packages: alpha",
        "       Successfully installed alpha-1.0",
        "",
        *tail("spec", 1),
    ]
    report = json.loads(cedar.cli("builds:info", "-a", "spec").stdout)
    assert report["python"]["runtime_name"] == "python-2.7.9"
    assert report["python"]["source"] == "default"
    assert report["addons"] == []  # "No add-ons are automatically provisioned" for pure Python

    # "The .heroku directory is cached between pushes": unchanged runtime, no runtime line.
    write_files(repo, {"w.py": "2\n"})
    commit(repo, cedar.env, "code")
    assert transcript(check(push(repo, cedar, "spec"))) == [
        "-----> Python app detected",
        "-----> Installing dependencies with pip",
        LINKS,
        "",
        *tail("spec", 2),
    ]
    assert json.loads(cedar.cli("builds:info", "-a", "spec").stdout)["slug_members_reused"] == [
        ".heroku"
    ]


def test_empty_requirements_txt_is_valid(cedar: Server, tmp_path: Path) -> None:
    create(cedar, "empty")
    repo = make_repo(tmp_path / "src", cedar.env, {"requirements.txt": ""})
    lines = transcript(check(push(repo, cedar, "empty")))
    assert lines[0] == "-----> Python app detected"
    assert lines[-6:] == tail("empty", 1)


def test_without_requirements_txt_python_is_not_detected(cedar: Server, tmp_path: Path) -> None:
    create(cedar, "nope")
    repo = make_repo(tmp_path / "src", cedar.env, {"app.py": "x = 1\n", "Pipfile": ""})
    result = push(repo, cedar, "nope")
    assert result.returncode != 0
    assert transcript(result)[0] == " !     No default language could be detected for this app."


def test_setup_py_only_app_gets_a_generated_requirements_txt(cedar: Server, tmp_path: Path) -> None:
    create(cedar, "setuppy")
    setup = "from setuptools import setup\nsetup(name='mine', version='1.0', py_modules=['w'])\n"
    repo = make_repo(tmp_path / "src", cedar.env, {"setup.py": setup, "w.py": "x = 1\n"})
    lines = transcript(check(push(repo, cedar, "setuppy")))
    assert "-----> Python app detected" in lines
    assert any("mine" in line for line in lines), lines


def test_runtime_change_purges_the_cache_and_setuptools_warning(
    server_factory: ServerFactory,
    tmp_path: Path,
) -> None:
    srv = server_factory(CEDARBOX_NEAREST_MAJOR="1")
    create(srv, "switch")
    repo = make_repo(tmp_path / "src", srv.env, {"requirements.txt": "alpha\nsetuptools\n"})
    first = transcript(check(push(repo, srv, "switch")))
    warning = first.index(" !     The package setuptools/distribute is listed in requirements.txt.")
    assert first[warning + 1] == " !     Please remove to ensure expected behavior."
    assert first[warning + 2] == "-----> Installing dependencies with pip"
    write_files(repo, {"runtime.txt": "python-3.4.2\n", "requirements.txt": "beta\n"})
    commit(repo, srv.env, "python 3")
    lines = transcript(check(push(repo, srv, "switch")))
    assert lines[:3] == [
        "-----> Python app detected",
        "-----> Found runtime python-2.7.9, removing",
        "-----> Installing runtime (python-3.4.2)",
    ]
    report = json.loads(srv.cli("builds:info", "-a", "switch").stdout)
    assert report["python"]["runtime_name"] == "python-3.4.2"
    assert report["python"]["used"].startswith("3.6.")  # the nearest major on this host
    assert report["cache"]["discarded"] is True
    # "An existing app keeps the runtime of its last build": drop runtime.txt, stay on 3.4.2.
    (repo / "runtime.txt").unlink()
    commit(repo, srv.env, "sticky")
    sticky = transcript(check(push(repo, srv, "switch")))
    assert not any("Installing runtime" in line for line in sticky)
    assert (
        json.loads(srv.cli("builds:info", "-a", "switch").stdout)["python"]["runtime_name"]
        == "python-3.4.2"
    )


def test_stale_dependencies_are_uninstalled(cedar: Server, tmp_path: Path) -> None:
    create(cedar, "stale")
    repo = make_repo(tmp_path / "src", cedar.env, {"requirements.txt": "alpha\nbeta\n"})
    check(push(repo, cedar, "stale"))
    write_files(repo, {"requirements.txt": "beta\n"})
    commit(repo, cedar.env, "drop alpha")
    lines = transcript(check(push(repo, cedar, "stale")))
    assert lines[1:4] == [
        "-----> Uninstalling stale dependencies",
        "       Uninstalling alpha-1.0:",
        "         Successfully uninstalled alpha-1.0",
    ]
    report = json.loads(cedar.cli("builds:info", "-a", "stale").stdout)
    assert report["packages"] == ["beta==1.0"]


@pytest.mark.parametrize("runtime", ["python-3.9.0", "ruby-2.2.0", "python-2.7"])
def test_runtime_not_in_the_catalog_is_refused(cedar: Server, tmp_path: Path, runtime: str) -> None:
    create(cedar, "badrt")
    repo = make_repo(tmp_path / "src", cedar.env, {"requirements.txt": "", "runtime.txt": runtime})
    result = push(repo, cedar, "badrt")
    assert result.returncode != 0
    lines = transcript(result)
    assert lines[-7:] == [
        f" !     Requested runtime ({runtime}) is not available for this stack (cedar-14).",
        " !     Aborting.  More info: https://devcenter.heroku.com/articles/python-support",
        "",
        " !     Push rejected, failed to compile Python app.",
        "",
        " !     Push failed",
        " !     Error code: BUILD_FAILED (RUNTIME_NOT_AVAILABLE)",
    ]


def test_django_apps_get_a_dev_database(cedar: Server, tmp_path: Path) -> None:
    # "Django applications are detected by the presence of a manage.py file".
    create(cedar, "djold")
    files = {"requirements.txt": "", "site/manage.py": "print('no django here')\n"}
    repo = make_repo(tmp_path / "src", cedar.env, files)
    check(push(repo, cedar, "djold"))
    report = json.loads(cedar.cli("builds:info", "-a", "djold").stdout)
    assert report["addons"] == ["heroku-postgresql:hobby-dev"]
    config = json.loads(cedar.cli("config", "-a", "djold", "--json").stdout)
    assert "DATABASE_URL" in config
    info = json.loads(cedar.cli("apps:info", "-a", "djold", "--json").stdout)
    assert info["addons"][0].startswith("heroku-postgresql:hobby-dev")
