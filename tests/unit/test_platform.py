"""Platform's reads for the CLI and the API: apps' views, add-ons of all apps, build files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitserver import addons
from gitserver.errors import AppNotFound, UsageError
from gitserver.platform import Platform
from gitserver.settings import Settings


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return Platform.open(Settings(data_dir=tmp_path / "data").with_(postgres="off"))


def test_the_app_view_follows_the_current_release(platform: Platform) -> None:
    app = platform.create_app("shop")
    assert platform.app_view(app)["release"] is None
    platform.set_config("shop", {"A": "1"})
    platform.set_config("shop", {"B": "2"})
    view = platform.app_view(app)
    assert view["release"] == 2 and view["git_url"] == "http://127.0.0.1:5000/shop.git"
    assert [r.version for r in platform.releases("shop")] == [2, 1]
    assert platform.config("shop") == {"A": "1", "B": "2"}


def test_addons_of_one_app_or_of_every_app(platform: Platform) -> None:
    for name in ("one", "two"):
        platform.create_app(name)
        addons.provision(platform, name, addons.POSTGRES, "mini")
    assert [a.app for a in platform.addons("two")] == ["two"]
    assert sorted(a.app for a in platform.addons(None)) == ["one", "two"]
    with pytest.raises(AppNotFound):
        platform.addons("three")


def test_build_files_are_found_by_id_prefix_default_latest(platform: Platform) -> None:
    platform.create_app("shop")
    with pytest.raises(UsageError, match="has no builds yet"):
        platform.build_file("shop", None, ".json")
    platform.store.start_build("aaa111", "shop", "c0ffee", "heroku-24")
    platform.store.start_build("aab222", "shop", "c0ffee", "heroku-24")
    folder = platform.data.builds("shop")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "aab222.json").write_text("{}")
    assert platform.build_file("shop", None, ".json") == folder / "aab222.json"
    assert platform.build_file("shop", "aab", ".json") == folder / "aab222.json"
    with pytest.raises(UsageError, match="No single build of shop matches 'aa'"):
        platform.build_file("shop", "aa", ".json")
    with pytest.raises(UsageError, match="Build aaa111 has no log file"):
        platform.build_file("shop", "aaa", ".log")
