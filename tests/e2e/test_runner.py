"""Running releases end to end: real pushes, real dynos, real HTTP through the router.

A Flask app on gunicorn and a Django app with a release phase, built from the real wheels in
`.wheels/apps`; small apps on `python -m http.server` for crashes, scaling and server restarts.
Every test ends by checking that no process runs from the data directory once the server
stopped.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gitserver import trash
from tests.support.apps import NOOP
from tests.support.gitutil import GitResult, check, commit, git, make_repo, write_files
from tests.support.server import (
    APP_WHEELS,
    CEDARBOX,
    Server,
    isolated_env,
    noop_build_env,
    run_cli,
    start_server,
)
from tests.support.waiting import wait_for

needs_app_wheels = pytest.mark.skipif(
    not (APP_WHEELS / ".fetched").exists(), reason="run `make test-deps` first"
)
# The apps built with the no-op buildpack have no Python of their own: dynos run the host's.
PYTHON = sys.executable
# Short waits so that crashes, restarts and shutdowns happen within a test's time.
FAST = {
    "CEDARBOX_STOP_GRACE": "3",
    "CEDARBOX_CRASH_BACKOFF": "0.5",
    "CEDARBOX_BOOT_TIMEOUT": "20",
}

FLASK_APP = {
    "requirements.txt": "flask\ngunicorn\n",
    ".python-version": "3.12\n",
    "Procfile": "web: gunicorn app:app\n",
    "app.py": """\
import os
from flask import Flask, jsonify, request

app = Flask(__name__)
CODE = "v1"


@app.route("/")
def index():
    return f"{CODE} {os.environ.get('GREETING', 'none')}"


@app.route("/env")
def env():
    keys = ("DYNO", "PORT", "HOME", "PYTHONUNBUFFERED", "WEB_CONCURRENCY")
    return jsonify({k: os.environ.get(k) for k in keys} | {"cwd": os.getcwd()})


@app.route("/headers")
def headers():
    return jsonify(dict(request.headers))


@app.route("/echo", methods=["POST", "PUT"])
def echo():
    return request.get_data(), 201, {"X-Method": request.method}
""",
}

DJANGO_SETTINGS = """\
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "test"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth",
                  "django.contrib.staticfiles"]
ROOT_URLCONF = "mysite.urls"
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The add-on's DATABASE_URL (sqlite:///PATH here); the build has none.
_url = os.environ.get("DATABASE_URL", "sqlite:///" + str(BASE_DIR / "build.sqlite3"))
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": _url.removeprefix("sqlite:///")}}
"""

DJANGO_APP = {
    "requirements.txt": "django\ngunicorn\npsycopg2-binary\n",
    ".python-version": "3.12\n",
    "Procfile": "release: python manage.py migrate --noinput\nweb: gunicorn mysite.wsgi\n",
    "manage.py": "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', "
    "'mysite.settings')\nfrom django.core.management import execute_from_command_line\n"
    "execute_from_command_line(sys.argv)\n",
    "mysite/__init__.py": "",
    "mysite/settings.py": DJANGO_SETTINGS,
    "mysite/wsgi.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', "
    "'mysite.settings')\nfrom django.core.wsgi import get_wsgi_application\n"
    "application = get_wsgi_application()\n",
    "mysite/urls.py": """\
from django.contrib.auth.models import Permission
from django.http import HttpResponse
from django.urls import path


def index(request):
    return HttpResponse(f"django v1, {Permission.objects.count()} permissions")


urlpatterns = [path("", index)]
""",
}


# Helpers ----------------------------------------------------------------------------------


def push(repo: Path, server: Server, app: str) -> GitResult:
    return git(repo, server.env, "push", server.git_url(app), "main")


def lines_of(result: GitResult) -> list[str]:
    return [line.replace("\x1b[1;33m", "").replace("\x1b[0m", "") for line in result.remote_lines()]


def get(
    server: Server,
    app: str,
    path: str = "/",
    *,
    method: str = "GET",
    body: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, bytes, http.client.HTTPResponse]:
    """A request through the router: to the server, with the app's Host header."""
    port = urlsplit(server.url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Host": f"{app}.localhost:{port}", **(headers or {})}
        chunked = "Transfer-Encoding" in headers
        if chunked:
            del headers["Transfer-Encoding"]  # http.client adds it when it chunks the body
        conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, response.read(), response
    finally:
        conn.close()


def text(server: Server, app: str, path: str = "/") -> str:
    status, body, _ = get(server, app, path)
    assert status == 200, body[:500]
    return body.decode()


def ps(server: Server, app: str) -> list[dict[str, Any]]:
    return json.loads(server.cli("ps", "-a", app, "--json").stdout)


def processes_from(data_dir: Path) -> list[str]:
    """Live processes running from the data directory (its unpacked slugs), from /proc."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            if stat[stat.rfind(")") + 2] == "Z":
                continue
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ")
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except (OSError, ValueError):
            continue
        if str(data_dir) in cwd or str(data_dir).encode() in cmdline:
            if b" serve " in cmdline and b"gitserver" in cmdline:
                continue  # the cedarbox server itself (its --data-dir)
            if b"/" + trash.PREFIX.encode() in cmdline:
                continue  # deleting a retired tree in the background (gitserver.trash)
            found.append(f"{entry.name}: {cmdline.decode(errors='replace')[:200]}")
    return found


def prepared_trees(server: Server, app: str) -> list[str]:
    """Slugs a push unpacked for the runner that no release has taken (run/APP/prepared).

    The folder must exist: each push of an app with a web process prepares its tree there."""
    folder = server.data_dir / "run" / app / "prepared"
    assert folder.is_dir(), f"no push prepared a tree for {app}"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def stop_and_check_no_orphans(server: Server) -> None:
    server.stop()
    assert server.proc.returncode == 0
    wait_for(lambda: not processes_from(server.data_dir), 5, "dyno processes to end")
    assert not (server.data_dir / "server.json").exists()


@pytest.fixture
def fast_server(server_factory: Callable[..., Server]) -> Iterator[Server]:
    srv = server_factory(**FAST)
    yield srv
    stop_and_check_no_orphans(srv)


# Flask on gunicorn ---------------------------------------------------------------------------


@needs_app_wheels
def test_flask_push_config_rollback_scale_and_run(fast_server: Server, tmp_path: Path) -> None:
    server = fast_server
    repo = make_repo(tmp_path / "flask", server.env, FLASK_APP)
    pushed = check(push(repo, server, "flasky"))
    lines = lines_of(pushed)
    assert lines[-3:] == [
        f"       https://flasky.localhost:{urlsplit(server.url).port}/ deployed to cedarbox",
        "",
        "Verifying deploy... done.",
    ]
    # The URL answers through the router, from the unpacked slug, with Heroku's environment.
    assert text(server, "flasky") == "v1 none"
    env = json.loads(text(server, "flasky", "/env"))
    assert env["DYNO"] == "web.1"
    assert env["HOME"] == env["cwd"]
    assert env["cwd"].startswith(str(server.data_dir / "run" / "flasky" / "v1"))
    assert prepared_trees(server, "flasky") == []  # the push's unpacked slug, taken by v1
    assert env["PYTHONUNBUFFERED"] == "true" and env["WEB_CONCURRENCY"] == "2"
    assert int(env["PORT"]) != urlsplit(server.url).port
    headers = json.loads(text(server, "flasky", "/headers"))
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Port"] == str(urlsplit(server.url).port)
    assert int(headers["X-Request-Start"]) / 1000 == pytest.approx(time.time(), abs=60)
    assert headers["Host"] == f"flasky.localhost:{urlsplit(server.url).port}"
    # Bodies stream both ways: sized and chunked.
    payload = os.urandom(2 * 1024 * 1024)
    status, body, response = get(server, "flasky", "/echo", method="POST", body=payload)
    assert (status, body, response.getheader("X-Method")) == (201, payload, "POST")
    status, body, _ = get(
        server,
        "flasky",
        "/echo",
        method="PUT",
        body=iter([b"a" * 1000, b"b" * 10]),
        headers={"Transfer-Encoding": "chunked"},
    )
    assert (status, body) == (201, b"a" * 1000 + b"b" * 10)

    # A config change restarts the dyno with the new value, with no failed request meanwhile.
    failures: list[int] = []
    server.cli("config:set", "GREETING=hello", "-a", "flasky")

    def served_new_value() -> bool:
        status, body, _ = get(server, "flasky")
        if status != 200:
            failures.append(status)
        return body == b"v1 hello"

    wait_for(served_new_value, 30, "the new config value")
    assert failures == []
    wait_for(lambda: [d["release"] for d in ps(server, "flasky")] == ["v2"], 15, "v1 to stop")

    # A new push serves the new code; a rollback serves the old code again.
    write_files(repo, {"app.py": FLASK_APP["app.py"].replace('CODE = "v1"', 'CODE = "v2"')})
    commit(repo, server.env, "v2")
    assert lines_of(check(push(repo, server, "flasky")))[-1] == "Verifying deploy... done."
    assert text(server, "flasky") == "v2 hello"
    server.cli("releases:rollback", "v1", "-a", "flasky")
    wait_for(lambda: get(server, "flasky")[1] == b"v1 none", 30, "the rolled back code")

    # Scaling: two web dynos take turns; no web dyno is H14; unknown types are refused.
    server.cli("ps:scale", "web=2", "-a", "flasky")
    wait_for(lambda: [d["state"] for d in ps(server, "flasky")] == ["up", "up"], 30, "web.2")
    dynos = {json.loads(text(server, "flasky", "/env"))["DYNO"] for _ in range(6)}
    assert dynos == {"web.1", "web.2"}
    refused = server.cli("ps:scale", "worker=1", "-a", "flasky", check=False)
    assert refused.returncode == 1
    assert "No such process type 'worker'" in refused.stderr
    assert "The Procfile declares: web." in refused.stderr
    server.cli("ps:scale", "web=0", "-a", "flasky")
    wait_for(lambda: ps(server, "flasky") == [], 15, "the dynos to stop")
    status, body, _ = get(server, "flasky")
    assert status == 503 and b"No web processes running" in body

    # ps:restart replaces the process (new pid) without a gap; ps:stop gets it restarted.
    server.cli("ps:scale", "web=1", "-a", "flasky")
    wait_for(lambda: [d["state"] for d in ps(server, "flasky")] == ["up"], 30, "web.1")
    first = ps(server, "flasky")[0]["pid"]
    server.cli("ps:restart", "web", "-a", "flasky")
    wait_for(
        lambda: [(d["state"], d["pid"] != first) for d in ps(server, "flasky")] == [("up", True)],
        30,
        "the restart",
    )
    second = ps(server, "flasky")[0]["pid"]
    server.cli("ps:stop", "web.1", "-a", "flasky")
    wait_for(
        lambda: [(d["state"], d["pid"] != second) for d in ps(server, "flasky")] == [("up", True)],
        30,
        "the stopped dyno to come back",
    )
    assert text(server, "flasky") == "v1 none"

    # run: a one-off in the release's environment, its exit code passed through.
    done = server.cli(
        "run",
        "-a",
        "flasky",
        "python",
        "-c",
        "import os, sys; print(os.environ['DYNO'].split('.')[0], os.environ.get('GREETING'));"
        " sys.exit(3)",
        check=False,
    )
    assert done.returncode == 3 and done.stdout.strip() == "run None"
    server.cli("config:set", "GREETING=again", "-a", "flasky")
    shell = server.cli("run", "-a", "flasky", "echo $GREETING from $HOME", check=False)
    assert shell.returncode == 0 and shell.stdout.startswith("again from ")
    assert not Path(shell.stdout.split(" from ")[1].strip()).exists()  # a private, removed dir

    logs = server.cli("logs", "-a", "flasky", "-n", "1000").stdout
    assert "app[api]: Build succeeded" in logs
    assert "app[api]: Release v2 created by user" in logs
    assert "heroku[web.1]: Starting process with command `gunicorn app:app`" in logs
    assert "heroku[web.1]: State changed from starting to up" in logs
    assert 'heroku[router]: at=info method=GET path="/" host=flasky.localhost' in logs
    assert "at=error code=H14" in logs
    router = server.cli("logs", "-a", "flasky", "--ps", "router", "-n", "3").stdout.splitlines()
    assert len(router) == 3 and all("heroku[router]: " in line for line in router)


# Django with a release phase -----------------------------------------------------------------


@needs_app_wheels
def test_django_release_phase_gates_the_release(fast_server: Server, tmp_path: Path) -> None:
    server = fast_server
    repo = make_repo(tmp_path / "django", server.env, DJANGO_APP)
    lines = lines_of(check(push(repo, server, "djangoapp")))
    start = lines.index("Running release command...")
    end = lines.index("Waiting for release.... done.")
    assert any("Applying auth.0001_initial... OK" in line for line in lines[start:end])
    assert lines[end + 1 : end + 3] == ["-----> Launching...", "       Released v2"]
    assert lines[-1] == "Verifying deploy... done."
    served = text(server, "djangoapp")
    assert served.startswith("django v1, ") and not served.startswith("django v1, 0 ")
    assert prepared_trees(server, "djangoapp") == []  # the release phase's tree, taken by v2

    # A failing release command: no release, the push is refused, v2 keeps serving.
    write_files(
        repo,
        {
            "Procfile": "release: echo checking; exit 5\nweb: gunicorn mysite.wsgi\n",
            "mysite/urls.py": DJANGO_APP["mysite/urls.py"].replace("django v1", "django v2"),
        },
    )
    commit(repo, server.env, "bad release")
    refused = push(repo, server, "djangoapp")
    assert refused.returncode != 0
    assert "! [remote rejected] main -> main (pre-receive hook declined)" in refused.stderr
    lines = lines_of(refused)
    assert lines[lines.index("Running release command...") :] == [
        "Running release command...",
        "",
        "checking",
        "Waiting for release.... failed.",
        "",
        " !     Release command failed: `echo checking; exit 5` exited with status 5.",
        " !     No release was created; v2 keeps running. Fix the command (its output is above)"
        " and push again.",
        "",
        " !     Push failed",
        " !     Error code: RELEASE_FAILED",
    ]
    releases = json.loads(server.cli("releases", "-a", "djangoapp", "--json").stdout)
    assert [r["version"] for r in releases] == [2, 1]
    builds = json.loads(server.cli("builds", "-a", "djangoapp", "--json").stdout)
    assert builds[0]["status"] == "failed" and builds[0]["failure_code"] == "RELEASE_FAILED"
    report = json.loads(server.cli("builds:info", "-a", "djangoapp").stdout)
    assert report["release_phase"]["outcome"] == "failed"
    assert report["release_phase"]["command"] == "echo checking; exit 5"
    assert text(server, "djangoapp") == served
    assert [(d["release"], d["state"]) for d in ps(server, "djangoapp")] == [("v2", "up")]


# Crashes -------------------------------------------------------------------------------------


def test_crashes_and_boot_timeouts_are_reported_in_the_push_and_ps(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory(**{**FAST, "CEDARBOX_BOOT_TIMEOUT": "2", **noop_build_env()})
    crashing = {**NOOP, "Procfile": f"web: {PYTHON} -c \"print('boom: no config'); exit(4)\"\n"}
    repo = make_repo(tmp_path / "crash", server.env, crashing)
    result = check(push(repo, server, "crashy"))  # Heroku keeps the release: the push succeeds
    lines = lines_of(result)
    verify = lines.index("Verifying deploy... failed.")
    assert lines[verify + 2] == " !     Warning: web.1 crashed: it exited with status 4."
    assert " !       app[web.1]: boom: no config" in lines[verify:]
    dyno = ps(server, "crashy")[0]
    assert dyno["name"] == "web.1" and dyno["detail"] == "exited with status 4"
    wait_for(lambda: ps(server, "crashy")[0]["restarts"] >= 2, 20, "restarts with backoff")
    wait_for(lambda: ps(server, "crashy")[0]["state"] == "crashed", 20, "a crashed state")
    table = server.cli("ps", "-a", "crashy").stdout
    assert "\tcrashed (exited with status 4)\t" in table
    status, body, _ = get(server, "crashy")
    assert status == 503 and (b"App crashed" in body or b"Request timeout" in body)
    logs = server.cli("logs", "-a", "crashy", "--ps", "web.1").stdout
    assert "heroku[web.1]: Process exited with status 4" in logs
    assert "heroku[web.1]: State changed from starting to crashed" in logs
    assert "heroku[web.1]: State changed from crashed to starting" in logs

    # Bound but silent is not up: R10 after the boot timeout.
    write_files(repo, {"Procfile": "web: sleep 600\n"})
    commit(repo, server.env, "never binds")
    lines = lines_of(check(push(repo, server, "crashy")))
    assert (
        " !     Warning: web.1 crashed: it did not bind to $PORT within 2 seconds (R10)." in lines
    ), "\n".join(lines[-30:])
    logs = server.cli("logs", "-a", "crashy", "--ps", "web").stdout
    assert (
        "Error R10 (Boot timeout) -> Web process failed to bind to $PORT within 2 seconds of launch"
        in logs
    )
    stop_and_check_no_orphans(server)


# Server restarts, pushes without a server, apps:destroy -------------------------------------


def test_formation_resumes_when_the_server_starts_again_and_nothing_is_orphaned(
    tmp_path: Path, wheelhouse: Path
) -> None:
    env_extra = {**FAST, "PIP_FIND_LINKS": str(wheelhouse), **noop_build_env()}
    app = {**NOOP, "Procfile": f"web: {PYTHON} -m http.server $PORT\nworker: sleep 600\n"}
    # Without a server: a push by path builds and says when the release will start.
    env = isolated_env(tmp_path, **env_extra)
    data_dir = tmp_path / "data"
    run_cli(data_dir, env, "apps:create", "keeper")
    repo = make_repo(tmp_path / "src", env, app)
    bare = str(data_dir / "repos" / "keeper.git")
    lines = check(git(repo, env, "push", bare, "main")).remote_lines()
    assert lines[-2:] == [
        "Verifying deploy... skipped: no cedarbox server is running.",
        "       v1 starts when `cedarbox serve` runs on this data directory.",
    ]
    assert run_cli(data_dir, env, "ps", "-a", "keeper").stderr.startswith(
        " !    cedarbox serve is not running: web=1 worker=0 starts when it runs (v1)."
    )
    one_off = run_cli(data_dir, env, "run", "-a", "keeper", "exit 7", check=False)
    assert one_off.returncode == 7
    run_cli(data_dir, env, "ps:scale", "worker=1", "-a", "keeper")

    server = start_server(tmp_path, **env_extra)
    try:
        wait_for(
            lambda: (
                sorted((d["name"], d["state"]) for d in ps(server, "keeper"))
                == [("web.1", "up"), ("worker.1", "up")]
            ),
            30,
            "the formation to start",
        )
        assert get(server, "keeper")[0] == 200
        pids = [d["pid"] for d in ps(server, "keeper")]
        # A second server on the same data directory would run everything twice.
        second = subprocess.run(
            [*CEDARBOX, "--data-dir", str(data_dir), "serve", "--port", "0"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1 and "Another cedarbox server" in second.stderr
    finally:
        stop_and_check_no_orphans(server)
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)

    # A server killed outright leaves its dynos; the next one stops them, then resumes.
    server = start_server(tmp_path, **env_extra)
    wait_for(lambda: len([d for d in ps(server, "keeper") if d["state"] == "up"]) == 2, 30, "up")
    orphans = [d["pid"] for d in ps(server, "keeper")]
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    assert all(Path(f"/proc/{pid}").exists() for pid in orphans)
    server = start_server(tmp_path, **env_extra)
    try:
        wait_for(lambda: all(not _alive(pid) for pid in orphans), 10, "the orphans to be killed")
        wait_for(lambda: get(server, "keeper")[0] == 200, 30, "the app after the restart")
        # apps:destroy stops the app's dynos before removing it.
        server.cli("apps:destroy", "keeper", "--confirm", "keeper")
        assert not processes_from(server.data_dir)
        assert get(server, "keeper")[0] == 404
    finally:
        stop_and_check_no_orphans(server)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"
