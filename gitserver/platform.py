"""The platform's app operations over the data directory: apps, config, releases, formation.

Operations on running apps only write desired state (formation, restart and stop requests);
the supervisor of a running `cedarbox serve` acts on it (gitserver/runner/supervisor.py).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from gitserver import formation, repos
from gitserver.applog import AppLog
from gitserver.appnames import generate_app_name, validate_app_name
from gitserver.configvars import check_total_size, validate_key
from gitserver.datadir import DataDir
from gitserver.errors import AppExists, InvalidStack, ReleaseNotFound
from gitserver.pipeline import cache
from gitserver.records import App, DynoAction, DynoRecord, Release, current_user
from gitserver.serverinfo import ServerRecord, running_server
from gitserver.settings import STACKS, Settings
from gitserver.store import Store, open_store


@dataclass
class Platform:
    """Apps, their repositories and their state: what the CLI, server and hook share."""

    settings: Settings
    data: DataDir
    store: Store

    @classmethod
    def open(cls, settings: Settings) -> Platform:
        data = DataDir(settings.data_dir).ensure()
        return cls(settings=settings, data=data, store=open_store(data.database))

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
        """Delete the app; a running server stops its dynos, which this waits for."""
        self.get_app(name)
        self.store.delete_app(name)
        self.wait_for_dynos_gone(name)
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
        return self.log_release(
            self.store.change_config(
                app.name,
                set_vars=pairs,
                unset=[],
                description=f"Set {keys} config vars",
                user=current_user(),
            )
        )

    def unset_config(self, name: str, keys: list[str]) -> Release:
        app = self.get_app(name)
        for key in keys:
            validate_key(key)
        return self.log_release(
            self.store.change_config(
                app.name,
                set_vars={},
                unset=keys,
                description=f"Remove {', '.join(keys)} config vars",
                user=current_user(),
            )
        )

    def log_release(self, release: Release) -> Release:
        """`app[api]: Set FOO config vars by user …` and `Release v3 created by user …`."""
        log = AppLog(self.data.log(release.app))
        log.api(f"{release.description} by user {release.user}")
        log.api(f"Release v{release.version} created by user {release.user}")
        return release

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
        return self.log_release(self.store.rollback(current.app, target, user=current_user()))

    # Formation and dynos -------------------------------------------------------------------

    def formation(self, name: str) -> tuple[Release | None, dict[str, int]]:
        """The current release and the quantity of each of its process types."""
        app = self.get_app(name)
        release = self.store.current_release(app.name)
        types = release.process_types if release else {}
        return release, formation.quantities(types, self.store.formation(app.name))

    def scale(self, name: str, args: list[str]) -> dict[str, int]:
        """`ps:scale web=2 worker+1`: validated against the current release's process types."""
        release, _ = self.formation(name)
        types = release.process_types if release else {}
        changes = formation.apply_scale(
            formation.parse_scale(args), types, self.store.formation(name)
        )
        self.store.set_formation(name, changes)
        scaled = " ".join(f"{kind}@{n}" for kind, n in changes.items())
        AppLog(self.data.log(name)).api(f"Scaled to {scaled} by user {current_user()}")
        return self.formation(name)[1]

    def request_dynos(self, name: str, action: str, target: str) -> None:
        """`ps:restart`/`ps:stop` TARGET ("" for every dyno): checked, then left to the
        supervisor."""
        release, _ = self.formation(name)
        formation.check_target(target, release.process_types if release else {})
        self.store.request_dynos(name, DynoAction(action), target)

    def dynos(self, name: str) -> list[DynoRecord]:
        """What runs: supervised dynos while a server runs, and one-offs (`run`)."""
        app = self.get_app(name)
        serving = self.server() is not None
        return [d for d in self.store.dynos(app.name) if serving or d.owner != "supervisor"]

    def server(self) -> ServerRecord | None:
        return running_server(self.data.server_record)

    def wait_for_dynos_gone(self, name: str) -> None:
        """With a server running, wait until its supervisor has stopped the app's dynos."""
        if self.server() is None:
            return
        deadline = time.monotonic() + self.settings.stop_grace + 5
        while time.monotonic() < deadline:
            if not any(d.owner == "supervisor" for d in self.store.dynos(name)):
                return
            time.sleep(0.1)

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
        """`http://<app>.localhost:<port>/`: the router of the server (heroku's app URL)."""
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
