"""The contract suite: the real heroku CLI (npm `heroku`, pinned) and heroku3 drive cedarbox.

`make test-deps` installs the CLI into the checkout's .npm/. Every command runs with the
environment `cedarbox env` prints, a private HOME (never the user's ~/.netrc or CLI config)
and a server on 127.0.0.1. The tests of one module share one app and run in order, as a
user's session would: create, push, config, releases, rollback, ps, logs, add-ons, destroy.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.gitutil import check, git, make_repo
from tests.support.server import ROOT, Server, run_cli

HEROKU = ROOT / ".npm" / "node_modules" / ".bin" / "heroku"
APP = "cli-shop"
# The no-op buildpack's build, with a web dyno that answers (so `ps` has one to show).
WEB_APP = {
    "app.py": "print('hello')\n",
    "Procfile": f"web: {sys.executable} -m http.server $PORT\n",
}
HEROKU_JSON = "application/vnd.heroku+json; version=3"


@dataclass
class HerokuCli:
    server: Server
    env: dict[str, str]
    repo: Path

    def run(
        self, *args: str, check: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(HEROKU), *args],
            cwd=cwd or self.repo,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"heroku {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(HEROKU), *args],
            cwd=self.repo,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def exported(lines: str) -> dict[str, str]:
    """`export NAME=value` lines (as `cedarbox env` prints them) as a mapping."""
    found = {}
    for line in lines.splitlines():
        words = shlex.split(line)
        assert words[0] == "export", line
        name, _, value = words[1].partition("=")
        found[name] = value
    return found


def api(
    server: Server,
    method: str,
    path: str,
    body: object = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One Platform API request as the CLI makes it; (status, parsed JSON)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={"Accept": HEROKU_JSON, "Authorization": "Bearer any", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_until(condition: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def heroku(noop_server: Server, tmp_path_factory: pytest.TempPathFactory) -> HerokuCli:
    if not HEROKU.exists():
        pytest.fail(f"{HEROKU} is missing: run `make test-deps` (it installs the heroku CLI).")
    tmp = tmp_path_factory.mktemp("heroku-cli")
    home = tmp / "home"
    home.mkdir()
    env = {**noop_server.env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    env.pop("HEROKU_API_KEY", None)
    env.pop("GIT_SSL_CAINFO", None)  # a fresh shell: git then trusts the CA for this URL alone
    env.pop("NODE_EXTRA_CA_CERTS", None)
    printed = run_cli(noop_server.data_dir, env, "env").stdout
    env.update(exported(printed))
    repo = make_repo(tmp / "src", env, WEB_APP)
    return HerokuCli(noop_server, env, repo)


def test_cedarbox_env_points_the_cli_at_the_server(heroku: HerokuCli) -> None:
    url = heroku.server.url
    assert heroku.env["HEROKU_HOST"] == url
    assert heroku.env["HEROKU_PARTICLEBOARD_URL"] == url
    assert heroku.env["HEROKU_API_KEY"]
    assert heroku.env["DISABLE_TELEMETRY"] == "true"
    count = int(heroku.env["GIT_CONFIG_COUNT"])
    key, value = (heroku.env[f"GIT_CONFIG_{k}_{count - 1}"] for k in ("KEY", "VALUE"))
    ca = str(heroku.server.data_dir / "tls" / "ca.pem")
    assert heroku.env["NODE_EXTRA_CA_CERTS"] == ca
    assert (key, value) == ("http.https://" + url.split("://")[1] + "/.sslCAInfo", ca)


def test_apps_create_adds_the_git_remote(heroku: HerokuCli) -> None:
    created = heroku.run("apps:create", APP)
    host = heroku.server.url.split("://")[1]
    remote = f"https://{host}/{APP}.git"
    assert f"https://{APP}.localhost:{host.split(':')[1]}/ | {remote}" in created.stdout
    remotes = check(git(heroku.repo, heroku.env, "remote", "-v")).stdout
    assert f"heroku\t{remote} (fetch)" in remotes
    assert f"heroku\t{remote} (push)" in remotes  # over TLS, trusting the server's CA


def test_apps_create_of_a_taken_name_is_a_conflict(heroku: HerokuCli) -> None:
    again = heroku.run("apps:create", APP, "--no-remote", check=False)
    assert again.returncode != 0
    assert "Name is already taken" in again.stderr
    status, body = api(heroku.server, "POST", "/apps", {"name": APP})
    assert (status, body) == (409, {"id": "conflict", "message": "Name is already taken"})


def test_apps_and_apps_info(heroku: HerokuCli) -> None:
    assert APP in heroku.run("apps").stdout.split()
    info = heroku.run("apps:info", "-a", APP).stdout
    assert f"=== {APP}" in info
    assert f"Git URL:        {heroku.server.url}/{APP}.git" in info
    assert "Stack:          heroku-24" in info
    assert "Region:         us" in info


def test_app_fields_the_clients_read(heroku: HerokuCli) -> None:
    status, app = api(heroku.server, "GET", f"/apps/{APP}")
    assert status == 200
    port = heroku.server.url.rsplit(":", 1)[1]
    assert app["name"] == APP
    assert app["git_url"] == f"{heroku.server.url}/{APP}.git"
    assert app["web_url"] == f"https://{APP}.localhost:{port}/"
    assert app["stack"]["name"] == app["build_stack"]["name"] == "heroku-24"
    assert app["region"]["name"] == "us"
    assert app["owner"]["email"].endswith("@localhost")
    assert app["create_status"] == "complete"
    assert app["generation"]["name"] == "cedar"
    assert app["repo_size"] > 0  # the bare repository and its hooks
    # by id too, and in both listings
    assert api(heroku.server, "GET", f"/apps/{app['id']}") == (200, app)
    for path in ("/apps", "/users/~/apps"):
        status, listed = api(heroku.server, "GET", path)
        assert status == 200 and app["id"] in [a["id"] for a in listed]


def test_push_through_the_remote_the_cli_added(heroku: HerokuCli) -> None:
    pushed = check(git(heroku.repo, heroku.env, "push", "heroku", "main"))
    assert "Released v1" in pushed.output
    assert "Verifying deploy... done." in pushed.output
    app = api(heroku.server, "GET", f"/apps/{APP}")[1]
    assert app["slug_size"] > 0 and app["released_at"] is not None
    assert app["buildpack_provided_description"] == "Python"


def test_config_set_get_unset(heroku: HerokuCli) -> None:
    heroku.run("config:set", "GREETING=hello world", "COLOR=blue", "-a", APP)
    assert heroku.run("config:get", "GREETING", "-a", APP).stdout == "hello world\n"
    heroku.run("config:unset", "COLOR", "-a", APP)
    assert "COLOR" not in heroku.run("config", "-a", APP).stdout
    status, config = api(heroku.server, "GET", f"/apps/{APP}/config-vars")
    assert (status, config) == (200, {"GREETING": "hello world"})


def test_releases_lists_each_change_newest_first(heroku: HerokuCli) -> None:
    listed = heroku.run("releases", "-a", APP).stdout
    assert f"=== {APP} Releases - Current: v3" in listed
    assert re.findall(r"^\s*(v\d+)\s", listed, re.M) == ["v3", "v2", "v1"]
    assert "Remove COLOR config vars" in listed


def test_release_fields_the_clients_read(heroku: HerokuCli) -> None:
    status, releases = api(
        heroku.server,
        "GET",
        f"/apps/{APP}/releases",
        headers={"Range": "version ..; max=2, order=desc"},
    )
    assert status == 200
    assert [r["version"] for r in releases] == [3, 2]
    newest = releases[0]
    assert newest["current"] is True and releases[1]["current"] is False
    assert newest["status"] == "succeeded"
    assert newest["eligible_for_rollback"] is True
    assert newest["description"] == "Remove COLOR config vars"
    assert newest["user"]["email"].endswith("@localhost")
    assert newest["app"]["name"] == APP
    # ascending by default; info by version and by id
    status, ascending = api(heroku.server, "GET", f"/apps/{APP}/releases")
    assert [r["version"] for r in ascending] == [1, 2, 3]
    assert api(heroku.server, "GET", f"/apps/{APP}/releases/3")[1] == newest
    assert api(heroku.server, "GET", f"/apps/{APP}/releases/{newest['id']}")[1] == newest
    missing = api(heroku.server, "GET", f"/apps/{APP}/releases/99")
    assert missing[0] == 404 and missing[1]["id"] == "not_found"
    assert missing[1]["resource"] == "release"


def test_releases_rollback(heroku: HerokuCli) -> None:
    rolled = heroku.run("releases:rollback", "-a", APP)
    assert "Rolling back" in rolled.stderr and "v2" in rolled.stderr
    status, current = api(heroku.server, "GET", f"/apps/{APP}/releases/4")
    assert status == 200
    assert current["description"] == "Rollback to v2"
    assert current["current"] is True
    # v2's config vars are back
    assert api(heroku.server, "GET", f"/apps/{APP}/config-vars")[1] == {
        "GREETING": "hello world",
        "COLOR": "blue",
    }


def web_dynos(heroku: HerokuCli) -> list[dict[str, Any]]:
    return [d for d in api(heroku.server, "GET", f"/apps/{APP}/dynos")[1] if d["type"] == "web"]


def test_ps_and_scaling(heroku: HerokuCli) -> None:
    wait_until(lambda: any(d["state"] == "up" for d in web_dynos(heroku)), "web.1 up")
    shown = heroku.run("ps", "-a", APP).stdout
    assert "=== web (Basic):" in shown and "web.1: up" in shown
    heroku.run("ps:scale", "web=0", "-a", APP)
    status, formation = api(heroku.server, "GET", f"/apps/{APP}/formation")
    assert status == 200 and [(f["type"], f["quantity"]) for f in formation] == [("web", 0)]
    wait_until(lambda: not web_dynos(heroku), "web dynos stopped")
    heroku.run("ps:scale", "web=1", "-a", APP)
    wait_until(lambda: any(d["state"] == "up" for d in web_dynos(heroku)), "web.1 up again")


def test_ps_restart(heroku: HerokuCli) -> None:
    before = wait_until(lambda: [d for d in web_dynos(heroku) if d["state"] == "up"], "web up")
    restarted = heroku.run("ps:restart", "-a", APP)
    assert "Restarting all dynos" in restarted.stderr

    def restarted_dyno() -> bool:
        now = [d for d in web_dynos(heroku) if d["state"] == "up"]
        return bool(now) and now[0]["updated_at"] != before[0]["updated_at"]

    wait_until(restarted_dyno, "web.1 restarted")
    status, body = api(heroku.server, "DELETE", f"/apps/{APP}/formations/nope")
    assert status == 422 and body["id"] == "invalid_params"


def test_logs_lines(heroku: HerokuCli) -> None:
    shown = heroku.run("logs", "-n", "200", "-a", APP).stdout
    assert "app[api]: Set GREETING, COLOR config vars by user" in shown
    assert "heroku[web.1]: State changed from starting to up" in shown
    only_api = heroku.run("logs", "-n", "200", "--source", "app", "--dyno", "api", "-a", APP)
    assert only_api.stdout.strip() and "heroku[web.1]" not in only_api.stdout


def test_logs_tail_follows_until_ended(heroku: HerokuCli) -> None:
    tail = heroku.popen("logs", "--tail", "-n", "1", "-a", APP)
    try:
        assert tail.stdout is not None
        first = tail.stdout.readline()  # the one old line: the stream is open
        assert first.strip(), tail.stderr.read() if tail.stderr else ""
        heroku.run("config:set", "TAILED=1", "-a", APP)
        for line in tail.stdout:
            if "Set TAILED config vars" in line:
                break
        else:
            raise AssertionError("the tail ended before the new line")
    finally:
        tail.terminate()
        tail.wait(timeout=30)


def test_run_detached_logs_the_one_offs_output(heroku: HerokuCli) -> None:
    started = heroku.run("run:detached", "-a", APP, "echo detached says $GREETING")
    name = re.search(r"run\.\d+", started.stdout + started.stderr)
    assert name, started.stderr

    def logged() -> str:
        shown = heroku.run("logs", "-n", "50", "--dyno", name[0], "-a", APP).stdout
        return shown if "State changed from up to complete" in shown else ""

    shown = wait_until(logged, "the one-off's end in the log")
    assert f"app[{name[0]}]: detached says hello world" in shown
    assert f"heroku[{name[0]}]: Process exited with status 0" in shown
    attached = api(heroku.server, "POST", f"/apps/{APP}/dynos", {"command": "true"})
    assert attached[0] == 422 and "run:detached" in attached[1]["message"]


def test_addons(heroku: HerokuCli) -> None:
    assert "No add-ons for app" in heroku.run("addons", "-a", APP).stdout
    heroku.run("addons:create", "heroku-postgresql", "-a", APP)
    listed = heroku.run("addons", "-a", APP).stdout
    assert "heroku-postgresql (postgresql-" in listed and "as DATABASE" in listed
    status, addons = api(heroku.server, "GET", f"/apps/{APP}/addons")
    assert status == 200 and len(addons) == 1
    addon = addons[0]
    assert addon["addon_service"]["name"] == "heroku-postgresql"
    assert addon["plan"]["name"] == "heroku-postgresql:essential-0"
    assert addon["app"]["name"] == APP and addon["config_vars"][0] == "DATABASE_URL"
    status, attachments = api(heroku.server, "GET", f"/apps/{APP}/addon-attachments")
    assert [(a["name"], a["addon"]["id"]) for a in attachments] == [("DATABASE", addon["id"])]


def test_unknown_app_is_the_clients_not_found(heroku: HerokuCli) -> None:
    missing = heroku.run("apps:info", "-a", "no-such-app", check=False)
    assert missing.returncode != 0
    assert "Couldn't find that app." in missing.stderr
    assert api(heroku.server, "GET", "/apps/no-such-app") == (
        404,
        {"id": "not_found", "message": "Couldn't find that app.", "resource": "app"},
    )


def test_apps_destroy(heroku: HerokuCli) -> None:
    heroku.run("apps:destroy", "-a", APP, "--confirm", APP)
    assert APP not in heroku.run("apps").stdout.split()
    assert api(heroku.server, "GET", f"/apps/{APP}")[0] == 404


# heroku3 -------------------------------------------------------------------------------------


@pytest.fixture
def heroku3_client(noop_server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """heroku3 pointed at the server: it reads its API URL from `heroku3.api.HEROKU_URL`."""
    import heroku3
    import heroku3.api

    monkeypatch.setattr(heroku3.api, "HEROKU_URL", noop_server.url)
    yield heroku3.from_key("any-token")


def test_heroku3_apps_config_and_releases(heroku3_client: Any) -> None:
    app = heroku3_client.create_app(name="py-client")
    assert app.name == "py-client"
    assert "py-client" in [a.name for a in heroku3_client.apps()]
    assert heroku3_client.app(app.id).name == "py-client"
    assert app.config().to_dict() == {}
    app.update_config({"A": "1", "B": "2"})
    app.update_config({"A": None})
    assert app.config().to_dict() == {"B": "2"}
    releases = app.releases(order_by="version", sort="desc")
    assert [(r.version, r.description) for r in releases] == [
        (2, "Remove A config vars"),
        (1, "Set A, B config vars"),
    ]
    app.delete()
    assert "py-client" not in [a.name for a in heroku3_client.apps()]
