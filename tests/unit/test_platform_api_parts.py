"""The Platform API's pure parts: Range headers, request bodies, the route table, the errors,
`cedarbox env`'s lines, and the platform views."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from gitserver.cli.env import env_lines
from gitserver.errors import AppExists, AppNotFound, InvalidFormation, ReleaseNotFound, UsageError
from gitserver.records import App, Release
from gitserver.views import platform_app_view, platform_release_view, record_id
from gitserver.web.api import ROUTES, is_api_request
from gitserver.web.api.params import FieldType, fields, parse_json, string_map
from gitserver.web.api.protocol import ApiError, api_error
from gitserver.web.api.ranges import ListRange, apply_range, parse_range

T = 1_700_000_000.0


# Range ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", ListRange("version")),
        ("version ..; max=15, order=desc", ListRange("version", max=15, descending=True)),
        ("id ..; order=desc,max=10;", ListRange("id", max=10, descending=True)),
        ("name ..", ListRange("name")),
        ("version 2..5", ListRange("version", "2", "5")),
        ("version ]2..; max=3", ListRange("version", "2", "", 3)),
        ("version ..; max=5000", ListRange("version", max=1000)),
    ],
)
def test_range_forms_the_clients_send(header: str, expected: ListRange) -> None:
    assert parse_range(header, "version") == expected


@pytest.mark.parametrize("header", ["..", "version ..; max=abc", "version ..; colour=red", "v 1"])
def test_bad_ranges_are_a_400_naming_the_header(header: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_range(header, "version")
    assert caught.value.http_status == 400 and header in caught.value.message


def test_apply_range_sorts_bounds_and_limits() -> None:
    keys = {"version": lambda n: n}
    items = [3, 1, 5, 2, 4]
    assert apply_range(items, parse_range("", "version"), keys) == [1, 2, 3, 4, 5]
    assert apply_range(items, parse_range("version ..; max=2, order=desc", "x"), keys) == [5, 4]
    assert apply_range(items, parse_range("version 2..4", "x"), keys) == [2, 3, 4]
    with pytest.raises(ApiError):
        apply_range(items, parse_range("name ..", "x"), keys)


# Bodies --------------------------------------------------------------------------------------


def test_fields_refuses_unknown_names_wrong_types_and_missing_ones() -> None:
    allowed: dict[str, FieldType] = {"name": (str, None), "count": int}
    assert fields({"name": None, "count": 2}, allowed) == {"name": None, "count": 2}
    assert fields(None, allowed) == {}
    for body, says in [
        ({"nme": "x"}, "Unknown field 'nme'"),
        ({"count": "2"}, "'count' must be an integer"),
        ({"count": True}, "'count' must be an integer"),
        ([1], "JSON object"),
    ]:
        with pytest.raises(ApiError, match=says) as caught:
            fields(body, allowed)
        assert caught.value.error_id == "invalid_params"
    with pytest.raises(ApiError, match="Missing required field 'count'"):
        fields({"name": "x"}, allowed, required=("count",))


def test_config_bodies() -> None:
    assert string_map({"A": "1", "B": None, "C": 2, "D": True}) == {
        "A": "1",
        "B": None,
        "C": "2",
        "D": "true",
    }
    bad_bodies: list[object] = [{}, [], {"A": [1]}, {"A": {"b": 1}}]
    for bad in bad_bodies:
        with pytest.raises(ApiError):
            string_map(bad)


def test_parse_json() -> None:
    assert parse_json(b"") is None
    assert parse_json(b'{"a": 1}') == {"a": 1}
    with pytest.raises(ApiError, match="not valid JSON") as caught:
        parse_json(b"{")
    assert caught.value.http_status == 400
    with pytest.raises(ApiError):
        parse_json(b"\xff")


# Routing and errors --------------------------------------------------------------------------


def test_requests_that_are_the_apis() -> None:
    heroku = "application/vnd.heroku+json; version=3.sdk"
    assert is_api_request("/anything", heroku)
    assert is_api_request("/apps/shop/releases", "*/*")
    assert is_api_request("/account", "")
    assert not is_api_request("/shop.git/info/refs", "*/*")
    assert not is_api_request("/api/apps", "*/*")
    assert not is_api_request("/", "text/html")


def test_route_table_matches_templates_methods_and_names() -> None:
    match = ROUTES.match("GET", "/apps/shop/releases/v3")
    assert match.params == {"app": "shop", "release": "v3"}
    assert ROUTES.match("DELETE", "/apps/shop/formations/web").params["type"] == "web"
    assert ROUTES.match("HEAD", "/apps/shop").route.method == "GET"
    assert ROUTES.match("GET", "/apps/").route.template == "/apps"
    with pytest.raises(ApiError) as caught:
        ROUTES.match("PUT", "/apps/shop")
    assert caught.value.error_id == "method_not_allowed" and "DELETE" in caught.value.message
    with pytest.raises(ApiError) as caught:
        ROUTES.match("GET", "/apps/shop/unknown")
    assert caught.value.error_id == "not_found" and caught.value.http_status == 404


def test_only_stream_urls_are_public() -> None:
    public = [route.template for route in ROUTES.routes if route.public]
    assert sorted(public) == [
        "/streams/builds/{app}/{build}/{signature}",
        "/streams/logs/{token}",
    ]


def test_platform_errors_become_heroku_ids() -> None:
    assert api_error(AppNotFound("x")).body() == {
        "id": "not_found",
        "message": "Couldn't find that app.",
        "resource": "app",
    }
    assert api_error(AppExists("x")).body() == {
        "id": "conflict",
        "message": "Name is already taken",
    }
    assert api_error(AppExists("x")).http_status == 409
    assert api_error(ReleaseNotFound("no v9")).body()["resource"] == "release"
    formation = api_error(InvalidFormation("no such type", hint="Use web."))
    assert (formation.http_status, formation.error_id) == (422, "invalid_params")
    assert formation.message == "no such type Use web."


# cedarbox env --------------------------------------------------------------------------------


def exports(lines: list[str]) -> dict[str, str]:
    return dict(shlex.split(line)[1].split("=", 1) for line in lines)


def test_env_lines_for_a_local_server() -> None:
    got = exports(env_lines("http://127.0.0.1:5000", "", {}))
    assert got == {
        "HEROKU_HOST": "http://127.0.0.1:5000",
        "HEROKU_API_KEY": "cedarbox",
        "HEROKU_PARTICLEBOARD_URL": "http://127.0.0.1:5000",
        "DISABLE_TELEMETRY": "true",
        "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
        "HEROKU_DISABLE_AUTOUPDATE": "1",
        "GIT_CONFIG_KEY_0": "url.http://127.0.0.1:5000/.pushInsteadOf",
        "GIT_CONFIG_VALUE_0": "https://127.0.0.1:5000/",
        "GIT_CONFIG_COUNT": "1",
    }


def test_env_lines_trust_the_ca_for_the_clis_https_remotes() -> None:
    ca = Path("/data/tls/ca.pem")
    got = exports(env_lines("http://127.0.0.1:5000", "key", {}, ca))
    assert got["NODE_EXTRA_CA_CERTS"] == str(ca)
    assert got["GIT_CONFIG_KEY_0"] == "http.https://127.0.0.1:5000/.sslCAInfo"
    assert got["GIT_CONFIG_VALUE_0"] == str(ca)
    assert got["GIT_CONFIG_KEY_1"] == "credential.https://127.0.0.1:5000.helper"
    assert got["GIT_CONFIG_COUNT"] == "2"


def test_env_lines_push_over_http_when_git_ignores_a_per_url_ca() -> None:
    lines = env_lines("http://127.0.0.1:5000", "", {"GIT_SSL_CAINFO": "/x"}, Path("/ca.pem"))
    assert lines[0].startswith("# GIT_SSL_CAINFO is set")
    got = exports(lines[1:])
    assert got["GIT_CONFIG_KEY_0"] == "url.http://127.0.0.1:5000/.pushInsteadOf"
    assert got["GIT_CONFIG_COUNT"] == "1"


def test_env_lines_keep_the_shells_git_config_and_send_a_key() -> None:
    got = exports(env_lines("http://localhost:7000/", "k $ey", {"GIT_CONFIG_COUNT": "2"}))
    assert got["HEROKU_API_KEY"] == "k $ey"
    assert got["GIT_CONFIG_KEY_2"] == "url.http://localhost:7000/.pushInsteadOf"
    assert got["GIT_CONFIG_KEY_3"] == "credential.http://localhost:7000.helper"
    assert got["GIT_CONFIG_COUNT"] == "4"
    assert "GIT_CONFIG_KEY_0" not in got


def test_env_refuses_hosts_the_cli_would_ignore() -> None:
    with pytest.raises(UsageError, match=r"`localhost` or `127\.0\.0\.1`"):
        env_lines("http://10.0.0.5:5000", "", {})
    with pytest.raises(UsageError):
        env_lines("ftp://127.0.0.1", "", {})


# Views ---------------------------------------------------------------------------------------


def test_platform_views_have_stable_ids_and_the_fields_the_clients_read() -> None:
    app = App("shop", "heroku-24", T)
    release = Release("shop", 2, "Deploy abc", "b1", "/s.tgz", {}, {"web": "x"}, T, "me@localhost")
    view = platform_app_view(
        app,
        owner="me@localhost",
        release=release,
        git_url="g",
        web_url="w",
        slug_size=10,
        repo_size=20,
    )
    assert view["id"] == record_id("app", "shop", T)
    assert (
        view["stack"]
        == view["build_stack"]
        == {"id": record_id("stack", "heroku-24"), "name": "heroku-24"}
    )
    assert view["owner"] == {"id": record_id("user", "me@localhost"), "email": "me@localhost"}
    assert view["released_at"] == "2023-11-14T22:13:20+00:00"
    shown = platform_release_view(release, app, current=True, eligible_for_rollback=True)
    assert shown["version"] == 2 and shown["current"] is True and shown["status"] == "succeeded"
    assert shown["user"] == {"id": record_id("user", "me@localhost"), "email": "me@localhost"}
    assert shown["app"] == {"id": view["id"], "name": "shop"}
    again = App("shop", "heroku-24", T + 1)  # a new app of the same name: a new id
    other = platform_release_view(release, again, current=False, eligible_for_rollback=False)
    assert other["app"] != shown["app"]
