"""The add-on provider chain and the pure parts of heroku-postgresql provisioning."""

from __future__ import annotations

import pwd
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitserver import addons, postgres
from gitserver.datadir import DataDir
from gitserver.errors import UsageError
from gitserver.platform import Platform
from gitserver.records import Addon, Release
from gitserver.settings import Settings
from gitserver.store import Store, open_store


def _platform(tmp_path: Path, **settings: str) -> Platform:
    return Platform.open(Settings(data_dir=tmp_path / "data").with_(**settings))


def test_chain_prefers_the_admin_url_then_the_cluster_then_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "cluster_available", lambda: True)
    url = "postgresql://admin:pw@db.example:5432/postgres"
    assert addons.postgres_provider(_platform(tmp_path, postgres_admin_url=url)) == addons.EXTERNAL
    assert addons.postgres_provider(_platform(tmp_path)) == addons.MANAGED
    assert addons.postgres_provider(_platform(tmp_path, postgres="off")) == addons.SQLITE
    monkeypatch.setattr(postgres, "cluster_available", lambda: False)
    assert addons.postgres_provider(_platform(tmp_path)) == addons.SQLITE


def test_sqlite_fallback_provisions_and_destroys(tmp_path: Path) -> None:
    platform = _platform(tmp_path, postgres="off")
    platform.create_app("fallback")
    done = addons.provision(platform, "fallback", addons.POSTGRES, "mini")
    assert done.notice == addons.SQLITE_NOTICE and done.release.version == 1
    path = addons.sqlite_path(platform, done.addon)
    assert platform.store.config("fallback") == {"DATABASE_URL": f"sqlite:///{path}"}
    assert path.is_file()
    release = addons.destroy(platform, "fallback", "DATABASE")
    assert release.description == "Remove heroku-postgresql add-on" and release.config == {}
    assert not path.exists() and platform.store.list_addons("fallback") == []


@dataclass
class BareContext:
    """The add-ons' collaborators without a Platform."""

    store: Store
    data: DataDir
    settings: Settings
    logged: list[Release] = field(default_factory=list)

    def log_release(self, release: Release) -> Release:
        self.logged.append(release)
        return release


def test_add_ons_sit_below_the_platform(tmp_path: Path) -> None:
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, gitserver.addons; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "gitserver.addons" in imported and "gitserver.platform" not in imported

    settings = Settings(data_dir=tmp_path / "data").with_(postgres="off")
    data = DataDir(settings.data_dir).ensure()
    context = BareContext(open_store(data.database), data, settings)
    context.store.create_app("bare", "heroku-24")
    done = addons.provision(context, "bare", addons.POSTGRES, "mini")
    assert addons.find_addon(context, "bare", "DATABASE") == done.addon
    release = addons.destroy(context, "bare", done.addon.name)
    assert context.logged == [release] and release.version == 2
    context.store.close()


def test_unknown_services_are_refused(tmp_path: Path) -> None:
    platform = _platform(tmp_path, postgres="off")
    platform.create_app("nosuch")
    with pytest.raises(UsageError, match="heroku-redis"):
        addons.provision(platform, "nosuch", "heroku-redis", "mini")


def test_config_vars_follow_database_url_only_while_it_is_the_same() -> None:
    addon = Addon("a", "postgresql-1", addons.POSTGRES, "mini", addons.MANAGED, "HEROKU_X_URL", 0)
    same = {"HEROKU_X_URL": "postgres://u", "DATABASE_URL": "postgres://u"}
    assert addons._config_vars(addon, same) == ["HEROKU_X_URL", "DATABASE_URL"]
    other = {"HEROKU_X_URL": "postgres://u", "DATABASE_URL": "postgres://v"}
    assert addons._config_vars(addon, other) == ["HEROKU_X_URL"]


def test_database_url_quotes_credentials() -> None:
    db = postgres.Database("cb_x", "cb_x", "p@ss/word", "127.0.0.1", 5433)
    assert db.url == "postgres://cb_x:p%40ss%2Fword@127.0.0.1:5433/cb_x"


def test_reachable_by_follows_directory_modes(tmp_path: Path) -> None:
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user")
    closed = tmp_path / "closed"
    (closed / "inside").mkdir(parents=True)
    closed.chmod(0o700)
    root_chain_open = postgres._reachable_by(user, tmp_path)
    assert not postgres._reachable_by(user, closed / "inside")
    closed.chmod(0o711)
    assert postgres._reachable_by(user, closed / "inside") == root_chain_open
