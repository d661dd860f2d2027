"""The platform's app operations over the data directory: create, look up, destroy apps."""

from __future__ import annotations

import getpass
import shutil
from dataclasses import dataclass
from pathlib import Path

from gitserver import repos
from gitserver.appnames import generate_app_name, validate_app_name
from gitserver.build import cache
from gitserver.configvars import check_total_size, validate_key
from gitserver.datadir import DataDir
from gitserver.errors import AppExists, InvalidStack, ReleaseNotFound
from gitserver.settings import STACKS, Settings
from gitserver.store import App, Release, Store


@dataclass
class Platform:
    """Apps, their repositories and their state: what the CLI, server and hook share."""

    settings: Settings
    data: DataDir
    store: Store

    @classmethod
    def open(cls, settings: Settings) -> Platform:
        data = DataDir(settings.data_dir).ensure()
        return cls(settings=settings, data=data, store=Store(data.database))

    def close(self) -> None:
        self.store.close()

    def create_app(self, name: str | None = None, stack: str | None = None) -> App:
        stack = stack or self.settings.default_stack
        if stack not in STACKS:
            raise InvalidStack(
                f"Stack {stack!r} is not available.", hint=f"Choose one of: {', '.join(STACKS)}."
            )
        if name is None:
            name = _unused_name(self.store)
        validate_app_name(name)
        app = self.store.create_app(name, stack)
        try:
            repos.create_repo(self.data.repo(name), app=name, data_dir=self.data.root)
        except BaseException:
            self.store.delete_app(name)
            raise
        return app

    def get_app(self, name: str) -> App:
        return self.store.get_app(validate_app_name(name))

    def destroy_app(self, name: str) -> None:
        self.get_app(name)
        self.store.delete_app(name)
        for path in self.data.app_dirs(name):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    # Config vars, releases, cache and stack ------------------------------------------

    def set_config(self, name: str, pairs: dict[str, str]) -> Release:
        app = self.get_app(name)
        check_total_size({**self.store.config(app.name), **pairs})
        keys = ", ".join(pairs)
        return self.store.change_config(
            app.name,
            set_vars=pairs,
            unset=[],
            description=f"Set {keys} config vars",
            user=current_user(),
        )

    def unset_config(self, name: str, keys: list[str]) -> Release:
        app = self.get_app(name)
        for key in keys:
            validate_key(key)
        return self.store.change_config(
            app.name,
            set_vars={},
            unset=keys,
            description=f"Remove {', '.join(keys)} config vars",
            user=current_user(),
        )

    def release(self, name: str, version: int | None) -> Release:
        """Release vN, or the current one."""
        app = self.get_app(name)
        release = (
            self.store.current_release(app.name)
            if version is None
            else self.store.get_release(app.name, version)
        )
        if release is None:
            raise ReleaseNotFound(
                f"{app.name} has no release {'yet' if version is None else f'v{version}'}.",
                hint=f"List releases with `cedarbox releases -a {app.name}`.",
            )
        return release

    def rollback(self, name: str, version: int | None) -> Release:
        """A new release reusing vN's slug and config (default: the release before current)."""
        current = self.release(name, None)
        target = self.release(name, version if version is not None else current.version - 1)
        if not target.slug or target.slug_pruned or not Path(target.slug).is_file():
            raise ReleaseNotFound(
                f"Cannot roll back to v{target.version}: it has no slug to run"
                + (" (pruned by the slug retention setting)." if target.slug_pruned else "."),
                hint="Choose a release that came from a build; see `cedarbox releases`.",
                code="NO_SLUG",
            )
        return self.store.rollback(current.app, target, user=current_user())

    def prune_slugs(self, name: str) -> None:
        for slug in self.store.prune_slugs(name, self.settings.slug_retention):
            Path(slug).unlink(missing_ok=True)

    def purge_cache(self, name: str) -> bool:
        return cache.purge(self.data.cache(self.get_app(name).name))

    def cache_size(self, name: str) -> int:
        return cache.size_bytes(self.data.cache(name))

    def set_stack(self, name: str, stack: str) -> App:
        app = self.get_app(name)
        if stack not in STACKS:
            raise InvalidStack(
                f"Stack {stack!r} is not available.", hint=f"Choose one of: {', '.join(STACKS)}."
            )
        self.store.set_stack(app.name, stack)
        return self.store.get_app(app.name)

    def refresh_hooks(self) -> None:
        """Reinstall our hooks into every app repository (after an upgrade or a move)."""
        for app in self.store.list_apps():
            path = self.data.repo(app.name)
            if path.is_dir():
                repos.install_hooks(path)

    def git_url(self, name: str) -> str:
        return f"{self.base_url()}/{name}.git"

    def web_url(self, name: str) -> str:
        base = self.base_url()
        scheme, _, hostport = base.partition("://")
        return f"{scheme}://{name}.localhost:{hostport.rpartition(':')[2]}/"

    def base_url(self) -> str:
        return self.settings.public_url or f"http://{self.settings.host}:{self.settings.port}"


def current_user() -> str:
    """Who made a release, as `releases` shows it."""
    return f"{getpass.getuser()}@localhost"


def _unused_name(store: Store) -> str:
    for _ in range(100):
        name = generate_app_name()
        if store.find_app(name) is None:
            return name
    raise AppExists("Could not find an unused app name.", hint="Pass a name explicitly.")
