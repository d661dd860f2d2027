"""The platform state's interface: apps, builds, config, releases, add-ons, formation, dynos,
deploy keys.

Everything outside reads and writes state through `Store` and opens it with `open_store`; only
the implementation (gitserver.sqlitestore) knows how and where state is kept, so another one
(PostgreSQL, for several servers sharing state) can replace it. Every method that writes does
so atomically: a crash leaves the previous state, never half of a change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from gitserver.records import (
    Addon,
    App,
    Build,
    DeployKey,
    DynoAction,
    DynoOwner,
    DynoRecord,
    DynoRequest,
    Release,
)
from gitserver.sqlitestore import SQLiteStore


class Store(Protocol):
    """All reads and writes of platform state go through here."""

    def close(self) -> None: ...

    def change_token(self) -> object:
        """A value that changes whenever anyone writes the state (compare two with `!=`)."""

    # Apps -----------------------------------------------------------------------------------

    def create_app(self, name: str, stack: str) -> App:
        """Raises AppExists if the name is taken."""

    def find_app(self, name: str) -> App | None: ...

    def get_app(self, name: str) -> App:
        """Raises AppNotFound."""

    def list_apps(self) -> list[App]: ...

    def delete_app(self, name: str) -> None:
        """Drops the app's builds, releases, config, add-ons, formation and dyno requests;
        its dyno records stay for whoever runs them to remove."""

    def set_stack(self, name: str, stack: str) -> None: ...

    # Builds ---------------------------------------------------------------------------------

    def start_build(self, build_id: str, app: str, source_version: str, stack: str) -> Build:
        """A pending build."""

    def finish_build(
        self,
        build_id: str,
        *,
        failure_code: str | None,
        release_version: int | None = None,
        python_runtime: str | None = None,
    ) -> None:
        """Failed if there is a failure code, else succeeded."""

    def end_interrupted_builds(self, app: str) -> list[str]:
        """End the app's builds left pending by a process that died; return the failed ones.

        Call with the app's lock held: only the holder of the lock can have a running build,
        so any other pending build belongs to a killed hook. A build killed after its release
        was created counts as succeeded (the release stands); any other as BUILD_INTERRUPTED.
        """

    def list_builds(self, app: str) -> list[Build]:
        """Newest first."""

    def last_successful_build(self, app: str) -> Build | None: ...

    def prune_builds(self, app: str, keep: int) -> list[str]:
        """Forget the builds beyond the newest `keep` (never a running one, nor the last
        successful one, whose runtime the next build keeps); return their ids."""

    # Config and releases --------------------------------------------------------------------

    def config(self, app: str) -> dict[str, str]:
        """The config vars, by key."""

    def create_release(
        self,
        app: str,
        description: str,
        *,
        build_id: str | None,
        slug: str | None,
        process_types: dict[str, str],
        user: str = "",
    ) -> Release:
        """Append release vN+1 with a new slug and the app's current config vars; a release
        of a build is recorded on the build too."""

    def change_config(
        self, app: str, *, set_vars: dict[str, str], unset: list[str], description: str, user: str
    ) -> Release:
        """Change config vars and append the release of the current slug that carries them."""

    def rollback(self, app: str, target: Release, *, user: str) -> Release:
        """A new release that reuses `target`'s slug and config vars (Heroku's rollback)."""

    def get_release(self, app: str, version: int) -> Release | None: ...

    def list_releases(self, app: str) -> list[Release]:
        """Newest first."""

    def current_release(self, app: str) -> Release | None: ...

    def prune_slugs(self, app: str, keep: int) -> list[str]:
        """Mark slugs beyond the newest `keep` releases pruned; return the files to delete.

        The current and the previous release's slugs are never pruned, whatever `keep` says,
        nor a slug that a kept release still uses (config changes and rollbacks share slugs).
        """

    # Add-ons --------------------------------------------------------------------------------

    def attach_addon(self, addon: Addon, config: dict[str, str], *, user: str) -> Release:
        """Record an add-on, set the config vars it provides, and release the current slug."""

    def detach_addon(
        self, addon: Addon, *, unset: list[str], description: str, user: str
    ) -> Release:
        """Forget an add-on, unset the config vars it provided, and release the current slug."""

    def list_addons(self, app: str) -> list[Addon]:
        """Oldest first."""

    # Formation and dyno requests (desired state) --------------------------------------------

    def formation(self, app: str) -> dict[str, int]:
        """Quantities set by `ps:scale` (types never scaled are absent: see gitserver.formation)."""

    def all_formations(self) -> dict[str, dict[str, int]]:
        """Every app's `formation`."""

    def set_formation(self, app: str, quantities: dict[str, int]) -> None:
        """Set these types' quantities; other types keep theirs."""

    def request_dynos(self, app: str, action: DynoAction, target: str) -> DynoRequest:
        """Ask the supervisor to restart or stop dynos (it polls for requests).

        `target` is "" (every dyno of the app), a process type, or a dyno name."""

    def dyno_requests_after(self, request_id: int) -> list[DynoRequest]:
        """Requests with a greater id, oldest first."""

    def last_dyno_request_id(self) -> int:
        """0 if there is none."""

    def forget_dyno_requests(self, up_to: int) -> None: ...

    # Dynos (what runs) ----------------------------------------------------------------------

    def dynos(self, app: str | None = None) -> list[DynoRecord]:
        """The app's dynos (every app's if None), by name."""

    def claim_dyno(self, dyno: DynoRecord) -> bool:
        """Record a new dyno unless its app already has one of that name; False if taken.

        The way to record a dyno under a new name: processes racing for one name (one-offs'
        `run.NNNN`, the release phase's `release.NNNN`) get it once."""

    def save_dyno(self, dyno: DynoRecord) -> None:
        """Write the record of a dyno this process already runs, by its id (replacing it)."""

    def delete_dyno(self, dyno_id: str) -> None: ...

    def delete_dynos(self, *, owner: DynoOwner) -> None: ...

    # Deploy keys ----------------------------------------------------------------------------

    def add_deploy_key(self, key: DeployKey) -> None:
        """Raises AppNotFound if its app does not exist. Deleting the app deletes its keys."""

    def find_deploy_key(self, digest: str) -> DeployKey | None:
        """The key whose SHA-256 digest (hex) this is."""

    def list_deploy_keys(self, app: str | None = None) -> list[DeployKey]:
        """The app's keys (every app's if None), oldest first."""

    def delete_deploy_key(self, key_id: str) -> DeployKey | None:
        """Forget the key; the deleted record, or None if there was no such key."""

    def mark_deploy_key_used(self, key_id: str, when: float) -> None: ...


def open_store(path: Path) -> Store:
    """The platform state kept at `path` (created, or migrated to this version, if needed)."""
    return SQLiteStore(path)
