"""The Platform API over HTTP beyond what the clients' happy paths cover: bad input, auth,
builds' output streams and one-time log sessions, against a real server on 127.0.0.1."""

from __future__ import annotations

import base64
import http.client
import json
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.apps import NOOP, slow_prebuild
from tests.support.gitutil import check, git, make_repo
from tests.support.server import Server, noop_build_env, run_cli, start_server

HEROKU_JSON = "application/vnd.heroku+json; version=3"


def request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Accept": HEROKU_JSON, **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def call(server: Server, method: str, path: str, body: object = None, **kw: Any) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else None
    status, _, data = request(server, method, path, raw, **kw)
    return status, json.loads(data) if data else None


@pytest.fixture(scope="module")
def shop(noop_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Server:
    """`shop`, pushed once (v1, one build)."""
    repo = make_repo(tmp_path_factory.mktemp("api-shop") / "src", noop_server.env, NOOP)
    check(git(repo, noop_server.env, "push", noop_server.git_url("shop"), "main"))
    return noop_server


def releases(server: Server) -> list[int]:
    return [r["version"] for r in call(server, "GET", "/apps/shop/releases")[1]]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error_id", "says"),
    [
        ("PATCH", "/apps/shop/config-vars", b'{"A": ', 400, "bad_request", "not valid JSON"),
        ("PATCH", "/apps/shop/config-vars", b'["A"]', 422, "invalid_params", "JSON object"),
        ("PATCH", "/apps/shop/config-vars", b'{"A": {"x": 1}}', 422, "invalid_params", "'A'"),
        ("PATCH", "/apps/shop/config-vars", b'{"A": "1", "1BAD": "2"}', 422, "invalid_params", ""),
        ("PATCH", "/apps/shop/formation", b'{"updates": 3}', 422, "invalid_params", "updates"),
        ("PATCH", "/apps/shop/formation", b'{"update": []}', 422, "invalid_params", "'update'"),
        ("POST", "/apps", b'{"name": 7}', 422, "invalid_params", "'name' must be a string"),
        ("POST", "/apps", b'{"name": "Bad_Name"}', 422, "invalid_params", "Bad_Name"),
        ("POST", "/apps", b'{"name": "x-app", "stack": "cedar-9"}', 422, "invalid_params", ""),
        ("POST", "/apps/shop/releases", b"{}", 422, "invalid_params", "'release'"),
        ("POST", "/apps/shop/releases", b'{"release": "v99"}', 404, "not_found", "v99"),
        ("POST", "/apps/shop/log-sessions", b'{"lines": -1}', 422, "invalid_params", "lines"),
        ("PUT", "/apps/shop", b"{}", 405, "method_not_allowed", "GET"),
        ("GET", "/apps/shop/nothing-here", None, 404, "not_found", "endpoint"),
        ("GET", "/apps/no-such-app/releases", None, 404, "not_found", "app"),
    ],
)
def test_bad_requests_get_a_heroku_error_and_change_nothing(
    shop: Server,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    error_id: str,
    says: str,
) -> None:
    before = (releases(shop), call(shop, "GET", "/apps/shop/config-vars")[1])
    got, headers, data = request(shop, method, path, body)
    assert got == status
    assert headers["Content-Type"].startswith("application/json")
    error = json.loads(data)
    assert error["id"] == error_id and says in error["message"]
    assert (releases(shop), call(shop, "GET", "/apps/shop/config-vars")[1]) == before
    assert "x-app" not in [a["name"] for a in call(shop, "GET", "/apps")[1]]


def test_an_oversize_body_is_refused_unread(shop: Server) -> None:
    status, _, data = request(
        shop, "PATCH", "/apps/shop/config-vars", b'{"A": "' + b"x" * (2 << 20) + b'"}'
    )
    assert status == 413
    assert json.loads(data)["id"] == "request_entity_too_large"


def test_config_patch_sets_and_unsets_in_one_release(shop: Server) -> None:
    before = releases(shop)
    assert call(shop, "PATCH", "/apps/shop/config-vars", {"K1": "a", "K2": "b"}) == (
        200,
        {"K1": "a", "K2": "b"},
    )
    assert call(shop, "PATCH", "/apps/shop/config-vars", {"K1": None, "K3": "c"}) == (
        200,
        {"K2": "b", "K3": "c"},
    )
    after = call(
        shop, "GET", "/apps/shop/releases", headers={"Range": "version ..; max=2, order=desc"}
    )[1]
    assert [r["version"] for r in after] == [before[-1] + 2, before[-1] + 1]
    assert after[0]["description"] == "Set K3 config vars; Remove K1 config vars"


def test_build_fields_and_output_stream(shop: Server) -> None:
    status, builds = call(shop, "GET", "/apps/shop/builds")
    assert status == 200 and len(builds) == 1
    build = builds[0]
    assert build["status"] == "succeeded"
    assert build["app"]["name"] == "shop"
    assert build["release"]["version"] == 1
    assert len(build["source_blob"]["version"]) == 40
    assert call(shop, "GET", f"/apps/shop/builds/{build['id']}") == (200, build)
    stream = urlsplit(build["output_stream_url"])
    status, headers, output = request(shop, "GET", stream.path, headers={"Accept": "*/*"})
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    transcript = shop.cli("builds:output", "-a", "shop").stdout
    assert output.decode() == transcript
    assert "Noop app detected" in output.decode()
    tampered = stream.path[:-4] + "0000"
    assert request(shop, "GET", tampered)[0] == 404


def test_build_cache_purge(shop: Server) -> None:
    assert call(shop, "DELETE", "/apps/shop/build-cache") == (202, {})


def test_log_session_is_one_time_and_plain_without_event_stream(shop: Server) -> None:
    status, session = call(shop, "POST", "/apps/shop/log-sessions", {"lines": 5, "source": "app"})
    assert status == 201
    path = urlsplit(session["logplex_url"]).path
    status, headers, body = request(shop, "GET", path, headers={"Accept": "*/*"})
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    lines = body.decode().splitlines()
    assert 0 < len(lines) <= 5 and all(" app[" in line for line in lines)
    assert request(shop, "GET", path)[0] == 404  # used


def test_log_session_as_server_sent_events(shop: Server) -> None:
    session = call(shop, "POST", "/apps/shop/log-sessions", {"lines": 2})[1]
    path = urlsplit(session["logplex_url"]).path
    status, headers, body = request(shop, "GET", path, headers={"Accept": "text/event-stream"})
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    events = body.decode().split("\n\n")
    assert events[-1] == "" and len(events) == 3
    assert all(event.startswith("data: ") for event in events[:-1])


def test_account_and_rate_limits(shop: Server) -> None:
    status, account = call(shop, "GET", "/account")
    assert status == 200
    assert account["email"].endswith("@localhost") and account["id"]
    assert account["two_factor_authentication"] is False
    assert call(shop, "GET", "/account/rate-limits") == (200, {"remaining": 4500})


def test_the_read_only_api_stays(shop: Server) -> None:
    status, _, body = request(shop, "GET", "/api/apps/shop", headers={"Accept": "*/*"})
    assert status == 200 and json.loads(body)["release"] >= 1


# Auth ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("keyed"), CEDARBOX_API_KEY="s3cret", **noop_build_env()
    )
    yield srv
    srv.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("Bearer s3cret", 200),
        (basic("", "s3cret"), 200),
        (basic("heroku", "s3cret"), 200),
        ("Bearer wrong", 401),
        (basic("heroku", "wrong"), 401),
        ("", 401),
    ],
)
def test_api_key_as_bearer_or_basic_password(
    keyed: Server, authorization: str, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    got, answer = call(keyed, "GET", "/account", headers=headers)
    assert got == status
    if status == 401:
        assert answer == {"id": "unauthorized", "message": "Invalid credentials provided."}


def test_no_key_means_any_token_from_loopback(shop: Server) -> None:
    assert call(shop, "GET", "/account", headers={"Authorization": "Bearer anything"})[0] == 200


def test_keyed_server_push_with_the_env_credential_helper(keyed: Server, tmp_path: Path) -> None:
    """`cedarbox env` with the key lets git push the CLI's remotes with it (user heroku)."""
    env = {**keyed.env, "HOME": str(tmp_path), "CEDARBOX_API_KEY": "s3cret"}
    env.pop("GIT_SSL_CAINFO", None)  # a fresh shell: the CA for this URL, over TLS
    printed = run_cli(keyed.data_dir, env, "env").stdout
    for line in printed.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = shlex.split(line)[1].partition("=")
        env[name] = value
    repo = make_repo(tmp_path / "src", env, NOOP)
    host = keyed.url.split("://")[1]
    check(git(repo, env, "remote", "add", "heroku", f"https://{host}/keyed-app.git"))
    pushed = check(git(repo, env, "push", "heroku", "main"))
    assert "Released v1" in pushed.output


def test_build_output_stream_follows_a_running_build(server: Server, tmp_path: Path) -> None:
    """Read while the build runs: the stream ends with the build, holding all its output."""
    repo = make_repo(tmp_path / "src", server.env, slow_prebuild(3))
    pushing = threading.Thread(
        target=git, args=(repo, server.env, "push", server.git_url("slow-app"), "main")
    )
    pushing.start()
    try:

        def running_build() -> dict[str, Any] | None:
            status, builds = call(server, "GET", "/apps/slow-app/builds")
            pending = [b for b in builds or [] if b["status"] == "pending"] if status == 200 else []
            return pending[0] if pending else None

        deadline = time.monotonic() + 120
        build = None
        while build is None and time.monotonic() < deadline:
            build = running_build()
            time.sleep(0.1)
        assert build is not None, "the build never showed as pending"
        path = urlsplit(build["output_stream_url"]).path
        status, _, output = request(server, "GET", path, headers={"Accept": "*/*"})
        assert status == 200
        text = output.decode()
        assert "pre_compile: starting" in text and "pre_compile: done" in text
        assert call(server, "GET", f"/apps/slow-app/builds/{build['id']}")[1]["status"] != "pending"
    finally:
        pushing.join(timeout=300)
