"""The platform's app operations over the data directory: create, look up, destroy apps."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from gitserver import repos
from gitserver.appnames import generate_app_name, validate_app_name
from gitserver.datadir import DataDir
from gitserver.errors import AppExists, InvalidStack
from gitserver.settings import STACKS, Settings
from gitserver.store import App, Store


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


def _unused_name(store: Store) -> str:
    for _ in range(100):
        name = generate_app_name()
        if store.find_app(name) is None:
            return name
    raise AppExists("Could not find an unused app name.", hint="Pass a name explicitly.")
