"""The platform's app operations over the data directory: apps, config, releases, formation.

Operations on running apps only write desired state (formation, restart and stop requests);
the supervisor of a running `cedarbox serve` acts on it (gitserver/runner/supervisor.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from gitserver import addons, formation, repos
from gitserver.addons import Provisioned
from gitserver.applog import AppLog
from gitserver.appnames import generate_app_name, validate_app_name
from gitserver.configvars import check_total_size, validate_key
from gitserver.datadir import DataDir
from gitserver.errors import (
    AppExists,
    DeployKeyNotFound,
    InvalidStack,
    ReleaseNotFound,
    UsageError,
)
from gitserver.pipeline import cache
from gitserver.records import (
    Addon,
    App,
    Build,
    DeployKey,
    DynoAction,
    DynoRecord,
    Release,
    current_user,
)
from gitserver.serverinfo import ServerRecord, running_server
from gitserver.settings import STACKS, Settings
from gitserver.store import Store, open_store
from gitserver.views import JSON, app_view, platform_app_view

# Deploy keys: a prefix that names what the secret is (in a leaked log or a secret scanner),
# then 32 random bytes. A key's last use is recorded when the previous one is older than this
# many seconds, so that requests do not each write the state.
DEPLOY_KEY_PREFIX = "cbk_"
KEY_USE_RESOLUTION = 60.0


def key_digest(key: str) -> str:
    """What the store keeps of a deploy key: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


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

    # Apps ------------------------------------------------------------------------------

    def create_app(self, name: str | None = None, stack: str | None = None) -> App:
        stack = _check_stack(stack or self.settings.default_stack)
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

    def list_apps(self) -> list[App]:
        return self.store.list_apps()

    def app_view(self, app: App) -> JSON:
        """The app's JSON view, with its current release, add-ons, URLs and cache size."""
        return app_view(
            app,
            release=self.store.current_release(app.name),
            addons=self.store.list_addons(app.name),
            git_url=self.git_url(app.name),
            web_url=self.web_url(app.name),
            cache_size_bytes=self.cache_size(app.name),
            repository=str(self.data.repo(app.name)),
        )

    def platform_app_view(self, app: App) -> JSON:
        """The app as the Platform API shows it (`/apps/{app}`)."""
        release = self.store.current_release(app.name)
        slug = Path(release.slug) if release and release.slug else None
        return platform_app_view(
            app,
            owner=current_user(),
            release=release,
            git_url=self.git_url(app.name),
            web_url=self.web_url(app.name),
            slug_size=slug.stat().st_size if slug and slug.is_file() else None,
            repo_size=cache.tree_bytes(self.data.repo(app.name)),
        )

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

    # Deploy keys -----------------------------------------------------------------------

    def create_deploy_key(self, name: str) -> tuple[DeployKey, str]:
        """A new key for the app: its record and the key itself (never stored: show it once)."""
        app = self.get_app(name)
        secret = DEPLOY_KEY_PREFIX + secrets.token_urlsafe(32)
        record = DeployKey(
            id=str(uuid.uuid4()),
            app=app.name,
            digest=key_digest(secret),
            created_at=time.time(),
            last_used_at=None,
        )
        self.store.add_deploy_key(record)
        return record, secret

    def deploy_keys(self, name: str | None = None) -> list[DeployKey]:
        if name is None:
            return self.store.list_deploy_keys()
        return self.store.list_deploy_keys(self.get_app(name).name)

    def destroy_deploy_key(self, key_id: str) -> DeployKey:
        """Forget a key: from the next request on, it allows nothing."""
        key = self.store.delete_deploy_key(key_id.strip())
        if key is None:
            raise DeployKeyNotFound(
                f"There is no deploy key {key_id!r}.",
                hint="List the keys and their ids with `cedarbox keys`.",
            )
        return key

    def deploy_key_for(self, secret: str) -> DeployKey | None:
        """The key this secret is (read from the store on every call: a destroyed key is
        refused at once), its use recorded; None if it is no deploy key."""
        if not secret.startswith(DEPLOY_KEY_PREFIX):
            return None
        digest = key_digest(secret)
        key = self.store.find_deploy_key(digest)
        if key is None or not hmac.compare_digest(key.digest, digest):
            return None
        now = time.time()
        if key.last_used_at is None or now - key.last_used_at >= KEY_USE_RESOLUTION:
            self.store.mark_deploy_key_used(key.id, now)
        return key

    # Config vars, releases, cache and stack ------------------------------------------

    def config(self, name: str) -> dict[str, str]:
        return self.store.config(self.get_app(name).name)

    def set_config(self, name: str, pairs: dict[str, str]) -> Release:
        check_total_size({**self.config(name), **pairs})
        return self._change_config(name, pairs, [], f"Set {', '.join(pairs)} config vars")

    def unset_config(self, name: str, keys: list[str]) -> Release:
        self.get_app(name)
        for key in keys:
            validate_key(key)
        return self._change_config(name, {}, keys, f"Remove {', '.join(keys)} config vars")

    def update_config(self, name: str, changes: dict[str, str | None]) -> Release:
        """Set and unset (None) config vars in one release, or change nothing on bad input."""
        pairs = {k: v for k, v in changes.items() if v is not None}
        unset = [k for k, v in changes.items() if v is None]
        for key in changes:
            validate_key(key)
        current = self.config(name)
        check_total_size({**{k: v for k, v in current.items() if k not in unset}, **pairs})
        described = [f"Set {', '.join(pairs)} config vars"] if pairs else []
        if unset:
            described.append(f"Remove {', '.join(unset)} config vars")
        return self._change_config(name, pairs, unset, "; ".join(described))

    def _change_config(
        self, name: str, set_vars: dict[str, str], unset: list[str], description: str
    ) -> Release:
        release = self.store.change_config(
            name, set_vars=set_vars, unset=unset, description=description, user=current_user()
        )
        return self.log_release(release)

    def log_release(self, release: Release) -> Release:
        """`app[api]: Set FOO config vars by user …` and `Release v3 created by user …`."""
        log = AppLog(self.data.log(release.app))
        log.api(f"{release.description} by user {release.user}")
        log.api(f"Release v{release.version} created by user {release.user}")
        return release

    def releases(self, name: str) -> list[Release]:
        """The app's releases, newest first."""
        return self.store.list_releases(self.get_app(name).name)

    def current_release(self, name: str) -> Release | None:
        return self.store.current_release(self.get_app(name).name)

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
        release = self.current_release(name)
        return release, formation.quantities(_process_types(release), self.store.formation(name))

    def scale(self, name: str, args: list[str]) -> dict[str, int]:
        """`ps:scale web=2 worker+1`: validated against the current release's process types."""
        types = _process_types(self.current_release(name))
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
        formation.check_target(target, _process_types(self.current_release(name)))
        self.store.request_dynos(name, DynoAction(action), target)

    def run_detached(
        self, name: str, command: str, extra_env: dict[str, str] | None = None
    ) -> DynoRecord:
        """A one-off of the current release, its output in the app's log (`run:detached`)."""
        from gitserver.runner.oneoff import start_detached
        from gitserver.runner.sandboxing import DynoSandbox

        release = self.release(name, None)
        box = DynoSandbox.for_app(self.settings, release.app)
        return start_detached(self.store, self.data, release, command, extra_env=extra_env, box=box)

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

    def prune_builds(self, name: str) -> None:
        """Forget builds past Settings.build_retention, their reports and transcripts too."""
        builds = self.data.builds(name)
        for build_id in self.store.prune_builds(name, self.settings.build_retention):
            for suffix in (".log", ".json"):
                (builds / f"{build_id}{suffix}").unlink(missing_ok=True)

    def purge_cache(self, name: str) -> bool:
        return cache.purge(self.data.cache(self.get_app(name).name))

    def cache_size(self, name: str) -> int:
        return cache.size_bytes(self.data.cache(name))

    def set_stack(self, name: str, stack: str) -> App:
        app = self.get_app(name)
        self.store.set_stack(app.name, _check_stack(stack))
        return self.store.get_app(app.name)

    # Builds and add-ons ------------------------------------------------------------------

    def builds(self, name: str) -> list[Build]:
        """The app's builds, newest first."""
        return self.store.list_builds(self.get_app(name).name)

    def build_file(self, name: str, build_id: str | None, suffix: str) -> Path:
        """The report (`.json`) or transcript (`.log`) of the build whose id starts with
        `build_id` (default: the latest)."""
        builds = self.builds(name)
        if build_id is None:
            if not builds:
                raise UsageError(
                    f"{name} has no builds yet.", hint=f"Push to {self.git_url(name)}."
                )
            build_id = builds[0].id
        matches = [b for b in builds if b.id.startswith(build_id)]
        if len(matches) != 1:
            raise UsageError(
                f"No single build of {name} matches {build_id!r}.",
                hint=f"List them with `cedarbox builds -a {name}`.",
            )
        path = self.data.builds(name) / f"{matches[0].id}{suffix}"
        if not path.is_file():
            raise UsageError(
                f"Build {matches[0].id} has no {suffix[1:]} file (it may have crashed)."
            )
        return path

    def addons(self, name: str | None) -> list[Addon]:
        """The add-ons of one app, or of every app."""
        apps = [self.get_app(name)] if name else self.list_apps()
        return [addon for app in apps for addon in self.store.list_addons(app.name)]

    def create_addon(self, name: str, spec: str) -> Provisioned:
        """Provision `service[:plan]` on the app, and release it (the API's POST /addons)."""
        app = self.get_app(name)
        service, plan = addons.split_addon(spec)
        done = addons.provision(self, app.name, service, plan)
        self.log_release(done.release)
        return done

    def destroy_addon(self, name: str, addon: str) -> Release:
        """Remove an add-on (by name) and release it."""
        return self.log_release(addons.destroy(self, self.get_app(name).name, addon))

    def log_path(self, name: str) -> Path:
        """The app's log file (`cedarbox logs`)."""
        return self.data.log(self.get_app(name).name)

    def refresh_hooks(self) -> None:
        """Reinstall our hooks into every app repository (after an upgrade or a move)."""
        for app in self.store.list_apps():
            path = self.data.repo(app.name)
            if path.is_dir():
                repos.install_hooks(path)

    def git_url(self, name: str) -> str:
        return f"{self.base_url()}/{name}.git"

    def web_url(self, name: str) -> str:
        """`https://<app>.localhost:<port>/`: the router of the server (heroku's app URL); the
        server's port speaks TLS too, with a certificate from the data directory's CA."""
        hostport = self.base_url().partition("://")[2]
        return f"https://{name}.localhost:{hostport.rpartition(':')[2]}/"

    def base_url(self) -> str:
        """The server's URL: its own setting in the server and its hooks; in the CLI, the
        running server's, else the configured host and port."""
        if self.settings.public_url:
            return self.settings.public_url
        server = running_server(self.data.server_record)
        return server.url if server else f"http://{self.settings.host}:{self.settings.port}"


def _check_stack(stack: str) -> str:
    if stack not in STACKS:
        raise InvalidStack(
            f"Stack {stack!r} is not available.", hint=f"Choose one of: {', '.join(STACKS)}."
        )
    return stack


def _process_types(release: Release | None) -> dict[str, str]:
    return release.process_types if release else {}


def _unused_name(store: Store) -> str:
    for _ in range(100):
        name = generate_app_name()
        if store.find_app(name) is None:
            return name
    raise AppExists("Could not find an unused app name.", hint="Pass a name explicitly.")
