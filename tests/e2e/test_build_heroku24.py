"""The heroku-24 build through real `git push`: whole normalised transcripts and the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.gitutil import GitResult, check, commit, git, make_repo, write_files
from tests.support.server import APP_WHEELS, Server, ServerFactory
from tests.support.transcript import HEAD, launched, normalise
from tests.support.waiting import wait_for_spare

LINKS = "       Looking in links: <WHEELHOUSE>, <APP_WHEELS>"


@pytest.fixture
def server(module_or_fresh_server: Server) -> Server:
    """Each test pushes apps of its own to the module's server."""
    return module_or_fresh_server


def using(major: str, patch: str) -> list[str]:
    return [
        f"-----> Using Python {major} specified in .python-version",
        f"       Heroku would install Python {major}.{patch}; this host provides {major}.<PATCH>.",
    ]


def push(repo: Path, server: Server, app: str, *args: str) -> GitResult:
    return git(repo, server.env, "push", server.git_url(app), "main", *args)


def transcript(result: GitResult) -> list[str]:
    return normalise(result.remote_lines())


def report(server: Server, app: str) -> dict[str, Any]:
    return json.loads(server.cli("builds:info", "-a", app).stdout)


APP = {
    "requirements.txt": "alpha\nhello-world\n",
    ".python-version": "3.12\n",
    "Procfile": "web: python -m http.server $PORT\n",
    "app.py": "print('v1')\n",
}


def test_first_build_cached_rebuild_requirements_and_runtime_change(
    server: Server, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "src", server.env, APP)
    first = check(push(repo, server, "cycle"))
    assert transcript(first) == [
        *HEAD,
        *using("3.12", "14"),
        "-----> Installing Python 3.12.14",
        "-----> Installing pip 26.2.1 and setuptools 70.3.0",
        "-----> Installing dependencies using 'pip install -r requirements.txt'",
        LINKS,
        "       Processing <WHEELHOUSE>/alpha-1.0-py2.py3-none-any.whl"
        " (from -r requirements.txt (line 1))",
        "       Processing <WHEELHOUSE>/hello_world-1.0-py2.py3-none-any.whl"
        " (from -r requirements.txt (line 2))",
        "       Processing <WHEELHOUSE>/greet-2.0-py2.py3-none-any.whl"
        " (from hello-world->-r requirements.txt (line 2))",
        "       Installing collected packages: greet, alpha, hello-world",
        "       Successfully installed alpha-1.0 greet-2.0 hello-world-1.0",
        "-----> Saving cache",
        *launched("cycle", 1),
    ]
    built = report(server, "cycle")
    assert built["python"]["requested"] == "3.12"
    assert built["python"]["source"] == ".python-version"
    assert built["python"]["resolved"] == "3.12.14"
    assert built["python"]["used"].startswith("3.12.")
    assert built["cache"] == {
        "reused": False,
        "from_spare": False,
        "discarded": False,
        "reasons": [],
    }
    assert built["packages"] == ["alpha==1.0", "greet==2.0", "hello-world==1.0"]
    assert built["process_types"] == {"web": "python -m http.server $PORT"}
    assert built["slug_size_bytes"] > 0 and built["failure_code"] is None
    assert built["slug_members_reused"] == []

    write_files(repo, {"app.py": "print('v2')\n"})
    commit(repo, server.env, "code only")
    wait_for_spare(server.data_dir / "cache" / "cycle")
    cached = check(push(repo, server, "cycle"))
    assert transcript(cached) == [
        *HEAD,
        *using("3.12", "14"),
        "-----> Restoring cache",
        "-----> Using cached install of Python 3.12.14",
        "-----> Installing pip 26.2.1 and setuptools 70.3.0",
        "-----> Installing dependencies using 'pip install -r requirements.txt'",
        LINKS,
        # As Heroku shows them: without " in <build>/.heroku/python/lib/python3.12/site-packages".
        "       Requirement already satisfied: alpha (from -r requirements.txt (line 1)) (1.0)",
        "       Requirement already satisfied: hello-world"
        " (from -r requirements.txt (line 2)) (1.0)",
        "       Requirement already satisfied: greet>=2"
        " (from hello-world->-r requirements.txt (line 2)) (2.0)",
        "-----> Saving cache",
        *launched("cycle", 2),
    ]
    rebuilt = report(server, "cycle")
    assert rebuilt["cache"]["reused"] is True
    assert rebuilt["cache"]["from_spare"] is True  # the copy prepared after the first build
    # The cached environment is unchanged: its compressed part of the slug is reused.
    assert rebuilt["slug_members_reused"] == [".heroku"]
    release = json.loads(server.cli("releases:info", "v2", "-a", "cycle", "--json").stdout)
    with tarfile.open(release["slug"]) as tar:
        assert tar.extractfile("./app.py").read() == b"print('v2')\n"  # type: ignore[union-attr]
        assert tar.getmember("./.heroku/python/bin/python").issym()

    write_files(repo, {"requirements.txt": "alpha\nbeta\n"})
    commit(repo, server.env, "requirements")
    changed = check(push(repo, server, "cycle"))
    assert transcript(changed)[len(HEAD) + 2 : len(HEAD) + 5] == [
        "-----> Discarding cache since:",
        "       - The contents of requirements.txt changed",
        "-----> Installing Python 3.12.14",
    ]
    assert report(server, "cycle")["packages"] == ["alpha==1.0", "beta==1.0"]
    assert report(server, "cycle")["slug_members_reused"] == []

    write_files(repo, {".python-version": "3.11\n"})
    commit(repo, server.env, "runtime")
    runtime = check(push(repo, server, "cycle"))
    assert transcript(runtime)[len(HEAD) : len(HEAD) + 5] == [
        *using("3.11", "16"),
        "-----> Discarding cache since:",
        "       - The Python version has changed from 3.12.14 to 3.11.16",
        "-----> Installing Python 3.11.16",
    ]
    assert report(server, "cycle")["cache"]["reasons"] == [
        "The Python version has changed from 3.12.14 to 3.11.16"
    ]


def test_invalid_requirement_rejects_the_push_and_keeps_the_cache(
    server: Server, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "src", server.env, APP)
    check(push(repo, server, "pipfail"))
    cache_meta = server.data_dir / "cache" / "pipfail" / "current" / "metadata.json"
    before = cache_meta.read_text()
    write_files(repo, {"requirements.txt": "alpha\nnope-not-here==9\n"})
    commit(repo, server.env, "bad requirement")
    failed = push(repo, server, "pipfail")
    assert failed.returncode != 0
    lines = transcript(failed)
    assert lines[-11:] == [
        "       ERROR: Could not find a version that satisfies the requirement nope-not-here==9"
        " (from versions: none)",
        "       ERROR: No matching distribution found for nope-not-here==9",
        "",
        " !     Error: Unable to install dependencies using pip.",
        " !",
        " !     See the log output above for more information.",
        "",
        " !     Push rejected, failed to compile Python app.",
        "",
        " !     Push failed",
        " !     Error code: BUILD_FAILED (PIP_INSTALL_FAILED)",
    ]
    assert cache_meta.read_text() == before
    assert report(server, "pipfail")["failure_code"] == "PIP_INSTALL_FAILED"
    builds = json.loads(server.cli("builds", "-a", "pipfail", "--json").stdout)
    assert [b["status"] for b in builds] == ["failed", "succeeded"]


@pytest.mark.parametrize(
    ("files", "summary", "code"),
    [
        (
            {".python-version": "3.12.99\n"},
            "Error: The requested Python version isn't available.",
            "PYTHON_VERSION_UNAVAILABLE",
        ),
        (
            {".python-version": "2.7\n"},
            "Error: The requested Python version has reached end-of-life.",
            "PYTHON_VERSION_EOL",
        ),
        (
            {".python-version": "3.15\n"},
            "Error: The requested Python version isn't recognised.",
            "PYTHON_VERSION_UNKNOWN",
        ),
        (
            {".python-version": "python-3.12\n"},
            "Error: Invalid Python version in .python-version.",
            "PYTHON_VERSION_INVALID",
        ),
        (
            {".python-version": "3.12\n3.11\n"},
            "Error: Multiple Python versions found in .python-version.",
            "PYTHON_VERSION_MULTIPLE",
        ),
        (
            {".python-version": "# just a comment\n"},
            "Error: No Python version found in .python-version.",
            "PYTHON_VERSION_EMPTY",
        ),
        (
            {".python-version": "\ufeff3.12\n".encode("utf-16")},
            "Error: Unable to read .python-version.",
            "PYTHON_VERSION_UNREADABLE",
        ),
        (
            {".python_version": "3.12\n"},
            "Error: Your .python-version file is spelled incorrectly.",
            "PYTHON_VERSION_FILE_MISSPELLED",
        ),
        (
            {"runtime.txt": "python-3.12.x\n"},
            "Error: Invalid Python version in runtime.txt.",
            "PYTHON_VERSION_INVALID",
        ),
    ],
)
def test_version_file_errors_reject_the_push(
    server: Server,
    tmp_path: Path,
    files: dict[str, str],
    summary: str,
    code: str,
) -> None:
    app = {k: v for k, v in APP.items() if k != ".python-version"}
    repo = make_repo(tmp_path / "src", server.env, {**app, **files})
    result = push(repo, server, "badver")
    assert result.returncode != 0
    lines = transcript(result)
    assert f" !     {summary}" in lines
    assert lines[-4:] == [
        " !     Push rejected, failed to compile Python app.",
        "",
        " !     Push failed",
        f" !     Error code: BUILD_FAILED ({code})",
    ]


def test_runtime_txt_is_deprecated_but_builds(server: Server, tmp_path: Path) -> None:
    app = {k: v for k, v in APP.items() if k != ".python-version"}
    repo = make_repo(tmp_path / "src", server.env, {**app, "runtime.txt": "python-3.12.1\n"})
    lines = transcript(check(push(repo, server, "oldfile")))
    assert "-----> Using Python 3.12.1 specified in runtime.txt" in lines
    assert " !     Warning: The runtime.txt file is deprecated." in lines
    assert " !     Warning: A Python patch update is available!" in lines
    warnings = report(server, "oldfile")["warnings"]
    assert "The runtime.txt file is deprecated." in warnings


def test_empty_requirements_and_no_procfile(server: Server, tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "src", server.env, {"requirements.txt": "", ".python-version": "3.12\n"}
    )
    lines = transcript(check(push(repo, server, "bare")))
    assert lines[-8:] == launched("bare", 1, types="(none)")
    assert "Verifying deploy... done." not in lines
    assert report(server, "bare")["process_types"] == {}
    assert json.loads(server.cli("apps:info", "-a", "bare", "--json").stdout)["addons"] == []


def test_no_package_manager_file_is_an_error(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, {"app.py": "x = 1\n", ".python-version": "3.12"})
    result = push(repo, server, "nopm")
    assert result.returncode != 0
    assert " !     Error: Couldn't find any supported Python package manager files." in transcript(
        result
    )


def test_slugignore_and_the_slug_runs_from_anywhere(server: Server, tmp_path: Path) -> None:
    files = {
        **APP,
        ".slugignore": "*.psd\n/docs\n",
        "art/logo.psd": "big",
        "docs/guide.md": "# guide",
        "keep/docs.txt": "kept",
    }
    repo = make_repo(tmp_path / "src", server.env, files)
    check(push(repo, server, "slugged"))
    release = json.loads(server.cli("releases:info", "-a", "slugged", "--json").stdout)
    with tarfile.open(release["slug"]) as tar:
        names = set(tar.getnames())
        assert "./keep/docs.txt" in names and "./app.py" in names
        assert not any(n.endswith(".psd") or n.startswith("./docs") for n in names)
        assert "./.profile.d/python.sh" in names
        moved = tmp_path / "elsewhere" / "app"
        tar.extractall(moved, filter="tar")
    # The console script pip installed runs from wherever the slug is unpacked.
    run = subprocess.run(
        [str(moved / ".heroku" / "python" / "bin" / "hello-world")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello-world 1.0"


def test_build_timeout_rejects_the_push(server_factory: ServerFactory, tmp_path: Path) -> None:
    srv = server_factory(CEDARBOX_BUILD_TIMEOUT="3")
    repo = make_repo(tmp_path / "src", srv.env, {**APP, "bin/pre_compile": "#!/bin/sh\nsleep 60\n"})
    started = time.monotonic()
    result = push(repo, srv, "slowpoke")
    assert time.monotonic() - started < 30
    assert result.returncode != 0
    lines = transcript(result)
    assert " !     Error: Build timed out." in lines
    assert lines[-1] == " !     Error code: BUILD_FAILED (BUILD_TIMEOUT)"


def test_slug_too_large_rejects_the_push(server_factory: ServerFactory, tmp_path: Path) -> None:
    srv = server_factory(CEDARBOX_SLUG_MAX_BYTES=str(1024 * 1024))
    repo = make_repo(tmp_path / "src", srv.env, APP)
    result = push(repo, srv, "hefty")
    assert result.returncode != 0
    lines = transcript(result)
    assert any(
        line.startswith(" !     Error: Compiled slug size: ")
        and line.endswith("M is too large (max is 1M).")
        for line in lines
    ), lines
    assert lines[-1] == " !     Error code: BUILD_FAILED (SLUG_TOO_LARGE)"
    assert list((srv.data_dir / "slugs" / "hefty").glob("*")) == []


def test_killed_build_keeps_the_last_good_cache(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, APP)
    check(push(repo, server, "killed"))
    meta = server.data_dir / "cache" / "killed" / "current" / "metadata.json"
    before = meta.read_text()
    # The hook is sandboxed: it can only write its own build directory, where the test looks.
    hook = "#!/bin/sh\ntouch post_compile.started\nsleep 61\n"
    write_files(repo, {"requirements.txt": "alpha\nbeta\n", "bin/post_compile": hook})
    commit(repo, server.env, "will be killed")
    proc = subprocess.Popen(
        ["git", "push", server.git_url("killed"), "main"],
        cwd=repo,
        env=server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    pattern = "work/*/source/post_compile.started"
    while not list(server.data_dir.glob(pattern)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(server.data_dir.glob(pattern)), "post_compile never ran"
    for pid in hook_pids(server.data_dir):
        os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    # The step died with the hook (bubblewrap's --die-with-parent and its pid namespace).
    deadline = time.monotonic() + 10
    while sleeping_61() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not sleeping_61()
    assert proc.returncode != 0
    assert meta.read_text() == before

    (repo / "bin" / "post_compile").unlink()
    commit(repo, server.env, "next")
    after = transcript(check(push(repo, server, "killed")))
    assert "       - The contents of requirements.txt changed" in after


def sleeping_61() -> bool:
    """Whether the killed build's `sleep 61` still runs anywhere."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == b"sleep\x0061\x00":
                    return True
            except OSError:
                continue
    return False


def hook_pids(data_dir: Path) -> list[int]:
    """Pre-receive hooks running in this server's repositories (and no one else's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                cwd = Path(os.readlink(entry / "cwd"))
            except OSError:
                continue
            if b"gitserver.receive.hook" in cmdline and cwd.is_relative_to(data_dir):
                pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not (APP_WHEELS / ".fetched").exists(), reason="run `make test-deps` first")
def test_flask_app_on_gunicorn_builds_and_releases(server: Server, tmp_path: Path) -> None:
    files = {
        "requirements.txt": "flask\ngunicorn\n",
        ".python-version": "3.12\n",
        "Procfile": "web: gunicorn app:app\n",
        "app.py": "from flask import Flask\napp = Flask(__name__)\n\n"
        "@app.route('/')\ndef index():\n    return 'hello from flask'\n",
    }
    repo = make_repo(tmp_path / "src", server.env, files)
    lines = transcript(check(push(repo, server, "flasky")))
    assert (
        "       Successfully installed blinker-1.9.0 click-8.5.1 flask-3.1.3 gunicorn-27.0.1 "
        "itsdangerous-2.2.0 jinja2-3.1.6 markupsafe-3.0.4 werkzeug-3.1.9"
    ) in lines
    assert lines[-10:] == launched("flasky", 1)
    assert "gunicorn==27.0.1" in report(server, "flasky")["packages"]


DJANGO_SETTINGS = """\
import os
SECRET_KEY = "test"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.staticfiles"]
ROOT_URLCONF = "mysite.urls"
STATIC_URL = "/static/"
STATIC_ROOT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "staticfiles")
STATICFILES_DIRS = [os.path.join(os.path.dirname(os.path.dirname(__file__)), "static")]
"""

DJANGO_APP = {
    "requirements.txt": "django\npsycopg2-binary\n",
    ".python-version": "3.12\n",
    "Procfile": "web: python manage.py runserver 0.0.0.0:$PORT\n",
    "manage.py": "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', "
    "'mysite.settings')\nfrom django.core.management import execute_from_command_line\n"
    "execute_from_command_line(sys.argv)\n",
    "mysite/__init__.py": "",
    "mysite/settings.py": DJANGO_SETTINGS,
    "mysite/urls.py": "urlpatterns = []\n",
    "static/site.css": "body { color: green }\n",
}


@pytest.mark.skipif(not (APP_WHEELS / ".fetched").exists(), reason="run `make test-deps` first")
def test_django_app_collects_static_and_gets_a_database(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, DJANGO_APP)
    result = check(push(repo, server, "djangoapp"))
    lines = transcript(result)
    step = lines.index("-----> $ python manage.py collectstatic --noinput")
    assert "1 static file copied" in lines[step + 1]
    text = "\n".join(lines)
    assert " !     Note: heroku-postgresql:essential-0 provisioned as postgresql-" in text
    assert "this is not PostgreSQL" in text
    assert lines[-5:] == launched("djangoapp", 2)[-5:]
    config = json.loads(server.cli("config", "-a", "djangoapp", "--json").stdout)
    assert config["DATABASE_URL"].startswith("sqlite:///")
    releases = json.loads(server.cli("releases", "-a", "djangoapp", "--json").stdout)
    assert [r["description"] for r in releases][::-1][0] == "Add heroku-postgresql add-on"
    assert report(server, "djangoapp")["addons"] == ["heroku-postgresql"]
    # The second deploy does not provision again.
    write_files(repo, {"static/site.css": "body { color: red }\n"})
    commit(repo, server.env, "css")
    again = transcript(check(push(repo, server, "djangoapp")))
    assert not any("provisioned" in line for line in again)
    assert again[-10:] == launched("djangoapp", 3)


def test_disable_collectstatic(server: Server, tmp_path: Path) -> None:
    if not (APP_WHEELS / ".fetched").exists():
        pytest.skip("run `make test-deps` first")
    server.cli("apps:create", "nostatic")
    server.cli("config:set", "DISABLE_COLLECTSTATIC=1", "-a", "nostatic")
    repo = make_repo(tmp_path / "src", server.env, DJANGO_APP)
    lines = transcript(check(push(repo, server, "nostatic")))
    assert "-----> $ python manage.py collectstatic --noinput" not in lines
    assert any("DISABLE_COLLECTSTATIC" in line for line in lines)


def test_local_build_prints_what_a_push_prints(server: Server, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", server.env, APP)
    pushed = transcript(check(push(repo, server, "twin")))
    report_path = tmp_path / "report.json"
    local = server.cli("build", str(repo), "--report", str(report_path))
    local_lines = normalise(local.stdout.splitlines())
    # Same build; the local one has no slug to compress and no release to launch.
    assert local_lines == pushed[: pushed.index("-----> Compressing...") - 1]
    assert json.loads(report_path.read_text())["outcome"] == "succeeded"
    failed = server.cli("build", str(tmp_path / "missing"), check=False)
    assert failed.returncode == 1 and "is not a directory" in failed.stderr


def test_builds_run_nicer_than_the_server(server: Server, tmp_path: Path) -> None:
    """Under load, git requests and apps come first: the build runs at CEDARBOX_BUILD_NICENESS."""
    hook = "#!/bin/sh\nnice > niceness.txt\n"  # nice(1) without a command prints the niceness
    files = {"requirements.txt": "", ".python-version": "3.12\n", "bin/pre_compile": hook}
    repo = make_repo(tmp_path / "src", server.env, files)
    check(push(repo, server, "nicely"))
    release = json.loads(server.cli("releases:info", "v1", "-a", "nicely", "--json").stdout)
    with tarfile.open(release["slug"]) as tar:
        niceness = tar.extractfile("./niceness.txt").read()  # type: ignore[union-attr]
    assert int(niceness) == os.nice(0) + 10
