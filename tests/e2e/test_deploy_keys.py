"""Authorisation per app (issue 16): deploy keys for one app, over real git and the real
Platform API (urllib, the heroku CLI) against a real server with an admin key; failed
authentications throttled (429 + Retry-After); app code refused keyless.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gitserver import sandbox
from tests.support.gitutil import GitResult, check, git, make_repo
from tests.support.server import ROOT, Server, noop_build_env, run_cli, start_server

ADMIN_KEY = "admin-key-for-deploy-key-tests-3f9a"
HEROKU = ROOT / ".npm" / "node_modules" / ".bin" / "heroku"
HEROKU_JSON = "application/vnd.heroku+json; version=3"
APP = {"app.py": "print('hello')\n", "Procfile": "web: true\n"}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with an admin key (from a file) and apps `keys-a`, `keys-b`."""
    tmp = tmp_path_factory.mktemp("keyed")
    key_file = tmp / "admin.key"
    key_file.write_text(ADMIN_KEY + "\n")
    key_file.chmod(0o600)
    srv = start_server(tmp, "--api-key-file", str(key_file), **noop_build_env())
    for app in ("keys-a", "keys-b"):
        srv.cli("apps:create", app)
    yield srv
    srv.stop()


def new_key(server: Server, app: str) -> str:
    out = server.cli("keys:create", "-a", app).stdout
    assert "HEROKU_API_KEY" in out and "password" in out and "Bearer" in out
    return out.strip().splitlines()[-1]


def with_key(url: str, key: str) -> str:
    return url.replace("://", f"://heroku:{key}@", 1)


def api(server: Server, method: str, path: str, key: str, body: object = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Accept": HEROKU_JSON, "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def push(repo: Path, server: Server, app: str, key: str) -> GitResult:
    return git(repo, server.env, "push", with_key(server.git_url(app), key), "HEAD:main")


def refused_for(result: GitResult, app: str) -> None:
    assert result.returncode != 0
    assert "FORBIDDEN" in result.output, result.output
    assert f"cannot reach app '{app}'" in result.output
    assert f"keys:create -a {app}" in result.output


def test_a_deploy_key_pushes_and_fetches_its_app_and_nothing_else(
    keyed: Server, tmp_path: Path
) -> None:
    key = new_key(keyed, "keys-a")
    repo = make_repo(tmp_path / "src", keyed.env, APP)
    check(push(repo, keyed, "keys-a", key))
    clone = git(tmp_path, keyed.env, "clone", with_key(keyed.git_url("keys-a"), key), "a")
    check(clone)
    assert (tmp_path / "a" / "app.py").exists()
    check(git(tmp_path / "a", keyed.env, "fetch", "origin"))

    check(push(repo, keyed, "keys-b", ADMIN_KEY))  # B has a commit to fetch
    refused_for(push(repo, keyed, "keys-b", key), "keys-b")
    refused_for(git(tmp_path, keyed.env, "clone", with_key(keyed.git_url("keys-b"), key)), "keys-b")
    ls = git(tmp_path, keyed.env, "ls-remote", with_key(keyed.git_url("keys-b"), key))
    refused_for(ls, "keys-b")
    # A push to an app that does not exist does not create it with a deploy key.
    refused_for(push(repo, keyed, "keys-new", key), "keys-new")
    assert api(keyed, "GET", "/apps/keys-new", ADMIN_KEY)[0] == 404


def test_a_deploy_key_uses_its_apps_api_and_is_refused_the_rest(keyed: Server) -> None:
    key = new_key(keyed, "keys-a")
    status, app = api(keyed, "GET", "/apps/keys-a", key)
    assert status == 200 and app["name"] == "keys-a"
    assert api(keyed, "GET", f"/apps/{app['id']}", key)[0] == 200  # by id too
    status, apps = api(keyed, "GET", "/apps", key)
    assert status == 200 and [a["name"] for a in apps] == ["keys-a"]
    assert api(keyed, "GET", "/account", key)[0] == 200
    status, _ = api(keyed, "PATCH", "/apps/keys-a/config-vars", key, {"GREETING": "hi"})
    assert status == 200
    assert api(keyed, "GET", "/apps/keys-a/config-vars", key)[1] == {"GREETING": "hi"}

    b_id = api(keyed, "GET", "/apps/keys-b", ADMIN_KEY)[1]["id"]
    for method, path, body in (
        ("GET", "/apps/keys-b", None),
        ("GET", f"/apps/{b_id}", None),
        ("GET", "/apps/keys-b/config-vars", None),
        ("PATCH", "/apps/keys-b/config-vars", {"EVIL": "1"}),
        ("GET", "/apps/keys-b/releases", None),
        ("DELETE", "/apps/keys-b/dynos", None),
        ("GET", "/apps/no-such-app", None),
        ("POST", "/apps", {"name": "keys-c"}),
        ("DELETE", "/apps/keys-a", None),
        ("GET", "/addons", None),
    ):
        status, error = api(keyed, method, path, key, body)
        assert (status, error["id"]) == (403, "forbidden"), (method, path, error)
        assert "deploy key" in error["message"]
    assert api(keyed, "GET", "/apps/keys-b/config-vars", ADMIN_KEY)[1] == {}
    assert api(keyed, "GET", "/apps/keys-c", ADMIN_KEY)[0] == 404
    assert api(keyed, "GET", "/apps/keys-a", ADMIN_KEY)[0] == 200

    # The read-only /api/ shows its app only.
    request = urllib.request.Request(
        keyed.url + "/api/apps", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert [a["name"] for a in json.load(response)] == ["keys-a"]


def test_keys_lists_without_secrets_and_destroy_cuts_the_key_off_at_once(
    keyed: Server, tmp_path: Path
) -> None:
    key = new_key(keyed, "keys-b")
    assert api(keyed, "GET", "/apps/keys-b", key)[0] == 200
    listed = keyed.cli("keys", "-a", "keys-b", "--json").stdout
    assert key not in listed
    (entry,) = [k for k in json.loads(listed) if k["last_used_at"] is not None]
    assert set(entry) == {"id", "app", "created_at", "last_used_at"} and entry["app"] == "keys-b"
    table = keyed.cli("keys").stdout
    assert entry["id"] in table and key not in table

    assert "Destroyed deploy key" in keyed.cli("keys:destroy", entry["id"]).stdout
    status, error = api(keyed, "GET", "/apps/keys-b", key)
    assert (status, error["id"]) == (401, "unauthorized")
    ls = git(tmp_path, keyed.env, "ls-remote", with_key(keyed.git_url("keys-b"), key))
    assert ls.returncode != 0 and "Authentication failed" in ls.output


def test_bad_key_commands_say_what_is_wrong(keyed: Server) -> None:
    unknown_app = keyed.cli("keys:create", "-a", "keys-ghost", check=False)
    assert unknown_app.returncode == 1
    assert "Couldn't find that app: 'keys-ghost'" in unknown_app.stderr
    unknown_id = keyed.cli("keys:destroy", "no-such-id", check=False)
    assert unknown_id.returncode == 1
    assert "There is no deploy key 'no-such-id'" in unknown_id.stderr
    assert "cedarbox keys" in unknown_id.stderr
    missing = keyed.cli("keys:create", check=False)
    assert missing.returncode == 1 and "-a/--app" in missing.stderr


def test_destroying_an_app_destroys_its_keys(keyed: Server) -> None:
    keyed.cli("apps:create", "keys-doomed")
    key = new_key(keyed, "keys-doomed")
    assert api(keyed, "GET", "/account", key)[0] == 200
    assert [k["app"] for k in json.loads(keyed.cli("keys", "-a", "keys-doomed", "--json").stdout)]
    keyed.cli("apps:destroy", "keys-doomed", "--confirm", "keys-doomed")
    keys = json.loads(keyed.cli("keys", "--json").stdout)
    assert all(k["app"] != "keys-doomed" for k in keys)
    assert api(keyed, "GET", "/account", key)[0] == 401


def test_the_heroku_cli_with_a_deploy_key_works_on_its_app_and_is_refused_another(
    keyed: Server, tmp_path: Path
) -> None:
    if not HEROKU.exists():
        pytest.fail(f"{HEROKU} is missing: run `make test-deps` (it installs the heroku CLI).")
    key = new_key(keyed, "keys-a")
    home = tmp_path / "home"
    home.mkdir()
    env = {**keyed.env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    for name in ("GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS"):
        env.pop(name, None)
    for line in run_cli(keyed.data_dir, {**env, "CEDARBOX_API_KEY": ADMIN_KEY}, "env").stdout.split(
        "\n"
    ):
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value.strip("'\"")
    env["HEROKU_API_KEY"] = key

    def heroku(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HEROKU), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

    ok = heroku("config:set", "FROM_CLI=yes", "-a", "keys-a")
    assert ok.returncode == 0, ok.stderr
    shown = heroku("config", "-a", "keys-a", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["FROM_CLI"] == "yes"
    refused = heroku("config", "-a", "keys-b")
    assert refused.returncode != 0
    assert "deploy key is for app keys-a only" in refused.stderr, refused.stderr
    assert "FROM_CLI" not in refused.stdout


def raw_request(server: Server, head: str) -> tuple[int, dict[str, str], str]:
    """One request over a raw socket: (status, headers, body)."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_text, _, body = data.decode().partition("\r\n\r\n")
    lines = head_text.split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_failed_authentications_trip_a_429_with_retry_after_and_it_recovers(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "admin.key"
    key_file.write_text(ADMIN_KEY)
    key_file.chmod(0o600)
    srv = start_server(
        tmp_path,
        "--api-key-file",
        str(key_file),
        CEDARBOX_AUTH_FAILURE_LIMIT="3",
        CEDARBOX_AUTH_FAILURE_WINDOW="2",
    )
    try:

        def get(key: str, path: str = "/account") -> tuple[int, dict[str, str], str]:
            accept = "*/*" if ".git/" in path else HEROKU_JSON
            return raw_request(
                srv,
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n"
                f"Authorization: Bearer {key}\r\nConnection: close\r\n\r\n",
            )

        for _ in range(3):
            assert get("guess")[0] == 401
        status, headers, body = get(ADMIN_KEY)  # throttled before the key is looked at
        assert status == 429
        wait = int(headers["retry-after"])
        assert 1 <= wait <= 2
        error = json.loads(body)
        assert error["id"] == "rate_limit" and f"retry in {wait} seconds" in error["message"]
        # git's endpoints share the budget, with a plain message.
        status, headers, body = get(ADMIN_KEY, "/any.git/info/refs?service=git-upload-pack")
        assert status == 429 and "retry-after" in headers and "TOO_MANY_AUTH_FAILURES" in body
        time.sleep(wait + 0.2)
        assert get(ADMIN_KEY)[0] == 200
    finally:
        srv.stop()


# A web dyno that calls the platform on loopback keyless (and with a random token, and with its
# own deploy key), then serves what it got.
CALLER = r"""
import json, os, sys, urllib.request, urllib.error
from http.server import BaseHTTPRequestHandler, HTTPServer

base = os.environ["PLATFORM_URL"]

def call(path, token=None, host=None):
    headers = {} if ".git/" in path else {"Accept": "application/vnd.heroku+json; version=3"}
    if token:
        headers["Authorization"] = "Bearer " + token
    if host:
        headers["Host"] = host
    try:
        request = urllib.request.Request(base + path, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return str(e)

port = base.rsplit(":", 1)[1]
result = {
    "api_keyless": call("/apps"),
    "api_any_token": call("/apps", "anything"),
    "git_keyless": call("/caller.git/info/refs?service=git-upload-pack"),
    "git_other_app": call("/callee.git/info/refs?service=git-receive-pack"),
    "api_own_key": call("/apps/caller", os.environ["OWN_KEY"]),
    "router_to_callee": call("/", host="callee.localhost:" + port),
}
result["guesses"] = [call("/apps", "guess-%d" % i) for i in range(3)]

class Report(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(result).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Report).serve_forever()
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or bool(sandbox._probe()),
    reason="needs root (per-app uids) and bubblewrap",
)
def test_a_sandboxed_dyno_cannot_use_git_or_the_api_keyless(tmp_path: Path) -> None:
    srv = start_server(  # no admin key
        tmp_path, CEDARBOX_STOP_GRACE="2", CEDARBOX_AUTH_FAILURE_LIMIT="3", **noop_build_env()
    )
    try:
        callee = {"Procfile": f"web: {sys.executable} -m http.server $PORT\n"}
        check(git(make_repo(tmp_path / "callee", srv.env, callee), srv.env, "push",
                  srv.git_url("callee"), "HEAD:main"))  # fmt: skip
        srv.cli("apps:create", "caller")
        own = new_key(srv, "caller")
        srv.cli("config:set", f"PLATFORM_URL={srv.url}", f"OWN_KEY={own}", "-a", "caller")
        caller = {"caller.py": CALLER, "Procfile": f"web: {sys.executable} caller.py\n"}
        repo = make_repo(tmp_path / "caller", srv.env, caller)
        check(git(repo, srv.env, "push", srv.git_url("caller"), "HEAD:main"))
        report = wait_for_report(srv, "caller")
        assert report == {
            "api_keyless": 401,
            "api_any_token": 401,
            "git_keyless": 401,
            "git_other_app": 401,
            "api_own_key": 200,
            "router_to_callee": 200,
            "guesses": [401, 401, 429],  # any_token was the first failure
        }
        # The server's own user, on the same loopback, still needs no key, and the dyno's
        # guesses spent its own uid's budget, not this one's.
        assert api(srv, "GET", "/apps/caller", "anything")[0] == 200
    finally:
        srv.stop()


def wait_for_report(server: Server, app: str) -> dict[str, Any]:
    port = urlsplit(server.url).port
    deadline = time.monotonic() + 60
    while True:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/", headers={"Host": f"{app}.localhost:{port}"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                return dict(json.load(response))
        except (urllib.error.URLError, OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
