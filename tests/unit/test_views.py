"""The JSON views of records: one shape for the CLI's --json and the server's /api/apps."""

from __future__ import annotations

import json
from dataclasses import replace

from gitserver.records import (
    Addon,
    App,
    Build,
    BuildStatus,
    DynoOwner,
    DynoRecord,
    DynoState,
    Release,
)
from gitserver.views import (
    addon_view,
    app_view,
    build_view,
    dyno_view,
    iso_time,
    provider_text,
    release_view,
)

T = 1_700_000_000.0  # 2023-11-14T22:13:20+00:00
APP = App(name="shop", stack="heroku-24", created_at=T)
ADDON = Addon(
    app="shop",
    name="postgresql-cubic-12345",
    service="heroku-postgresql",
    plan="essential-0",
    provider="sqlite",
    config_var="DATABASE_URL",
    created_at=T,
)
RELEASE = Release(
    app="shop",
    version=3,
    description="Deploy abc1234",
    build_id="b-1",
    slug="/data/slugs/shop/v3.tgz",
    config={"ZED": "secret", "ALPHA": "also secret"},
    process_types={"web": "gunicorn app:app"},
    created_at=T,
    user="me@localhost",
)


def _app(release: Release | None) -> dict[str, object]:
    return app_view(
        APP,
        release=release,
        addons=[ADDON],
        git_url="http://127.0.0.1:5000/shop.git",
        web_url="http://shop.localhost:5000/",
        cache_size_bytes=42,
        repository="/data/repos/shop.git",
    )


def test_times_are_utc_iso_to_the_second() -> None:
    assert iso_time(T) == "2023-11-14T22:13:20+00:00"
    assert iso_time(T + 0.9) == "2023-11-14T22:13:20+00:00"


def test_an_apps_release_is_the_current_version_as_an_integer() -> None:
    assert _app(RELEASE)["release"] == 3
    assert _app(None)["release"] is None


def test_the_app_view_has_every_field_the_cli_and_the_api_show() -> None:
    assert _app(RELEASE) == {
        "name": "shop",
        "stack": "heroku-24",
        "created_at": "2023-11-14T22:13:20+00:00",
        "git_url": "http://127.0.0.1:5000/shop.git",
        "web_url": "http://shop.localhost:5000/",
        "release": 3,
        "addons": ["heroku-postgresql:essential-0 (postgresql-cubic-12345)"],
        "cache_size_bytes": 42,
        "repository": "/data/repos/shop.git",
    }


def test_a_release_shows_config_var_names_sorted_never_values() -> None:
    view = release_view(RELEASE)
    assert view["version"] == 3 and view["by"] == "me@localhost"
    assert view["config_keys"] == ["ALPHA", "ZED"]
    assert "secret" not in json.dumps(view)
    assert view["slug_pruned"] is False


def test_a_build_view_is_its_whole_record() -> None:
    build = Build(
        id="b-1",
        app="shop",
        status=BuildStatus.FAILED,
        source_version="abc1234def",
        stack="heroku-24",
        started_at=T,
        finished_at=None,
        failure_code="BUILD_FAILED",
        release_version=None,
        python_runtime=None,
    )
    view = build_view(build)
    assert view["status"] == "failed" and view["failure_code"] == "BUILD_FAILED"
    assert set(view) == set(Build.__dataclass_fields__)


def test_a_dyno_names_its_release_and_leaves_out_internal_fields() -> None:
    dyno = DynoRecord(
        id="d-1",
        app="shop",
        name="web.1",
        type="web",
        release_version=3,
        state=DynoState.CRASHED,
        since=T,
        command="gunicorn app:app",
        pid=4242,
        proc_start=99,
        port=5100,
        restarts=2,
        owner=DynoOwner.SUPERVISOR,
        detail="exited with status 1",
    )
    view = dyno_view(dyno)
    assert view["release"] == "v3"
    assert view["since"] == "2023-11-14T22:13:20+00:00"
    assert "owner" not in view and "proc_start" not in view
    assert dyno_view(replace(dyno, release_version=0))["release"] is None


def test_an_addon_names_its_plan_provider_and_config_vars() -> None:
    view = addon_view(ADDON, config_vars=["DATABASE_URL", "HEROKU_POSTGRESQL_RED_URL"])
    assert view["plan"] == "heroku-postgresql:essential-0"
    assert view["provider"] == "SQLite (not PostgreSQL)"
    assert view["config_vars"] == ["DATABASE_URL", "HEROKU_POSTGRESQL_RED_URL"]
    assert provider_text("postgres-managed") == "PostgreSQL (managed by cedarbox)"
    assert provider_text("something-new") == "something-new"
