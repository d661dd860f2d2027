"""Add-ons: provisioned on the first deploy that asks (heroku-reference §7) or on demand.

`heroku-postgresql` is served by the first provider in the chain that can:

1. an external PostgreSQL server given by an admin URL (`postgres_admin_url`);
2. a cluster cedarbox manages in `DATA_DIR/postgres` when `initdb`/`pg_ctl` exist on this host
   (unless `CEDARBOX_POSTGRES=off`), started on demand;
3. an embedded SQLite database per add-on, with a notice that this is not PostgreSQL.

Each PostgreSQL add-on gets its own role (random password) and a database only that role may
connect to; `DATABASE_URL` and a `HEROKU_POSTGRESQL_<COLOR>_URL` attachment name point at it.
The database is made before the release that carries its URL, and dropped again if that
release cannot be recorded, so a failure never leaves a half-made add-on.

Add-ons sit below the platform: the operations take an `AddonContext` (the state, the data
directory, the settings and the app log), which the Platform is one of.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from gitserver.appnames import validate_app_name
from gitserver.datadir import DataDir
from gitserver.errors import AddonFailed, AddonNotFound, UsageError
from gitserver.output import Output
from gitserver.records import Addon, App, Release, current_user
from gitserver.settings import Settings
from gitserver.store import Store

if TYPE_CHECKING:
    from gitserver.postgres import ManagedCluster

POSTGRES = "heroku-postgresql"
# Providers as the addons table records them.
EXTERNAL = "postgres-external"
MANAGED = "postgres-managed"
SQLITE = "sqlite"
COLORS = (
    "AMBER",
    "AQUA",
    "BLACK",
    "BLUE",
    "BRONZE",
    "BROWN",
    "CHARCOAL",
    "COBALT",
    "COPPER",
    "CRIMSON",
    "CYAN",
    "GOLD",
    "GRAY",
    "GREEN",
    "IVORY",
    "JADE",
    "LIME",
    "MAROON",
    "MAUVE",
    "NAVY",
    "OLIVE",
    "ONYX",
    "ORANGE",
    "PINK",
    "PUCE",
    "PURPLE",
    "RED",
    "ROSE",
    "SILVER",
    "TEAL",
    "WHITE",
    "YELLOW",
)
SQLITE_NOTICE = (
    "No PostgreSQL is available to cedarbox, so DATABASE_URL points at an SQLite\n"
    "database: this is not PostgreSQL. Apps that need PostgreSQL features will fail."
)


class AddonContext(Protocol):
    """What the add-on operations work with."""

    @property
    def store(self) -> Store: ...

    @property
    def data(self) -> DataDir: ...

    @property
    def settings(self) -> Settings: ...

    def log_release(self, release: Release) -> Release:
        """Write the release's `app[api]` lines to the app log; return the release."""
        ...


@dataclass(frozen=True)
class Provisioned:
    addon: Addon
    release: Release
    notice: str | None  # what the pusher should know (e.g. "this is SQLite")


def split_addon(spec: str) -> tuple[str, str]:
    """`heroku-postgresql:hobby-dev` → ("heroku-postgresql", "hobby-dev")."""
    service, _, plan = spec.partition(":")
    return service, plan or "essential-0"


def provision_requested(ctx: AddonContext, app: str, requested: list[str]) -> list[Provisioned]:
    """Attach every requested add-on the app does not have yet."""
    have = {a.service for a in ctx.store.list_addons(app)}
    done = []
    for spec in requested:
        service, plan = split_addon(spec)
        if service in have:
            continue
        done.append(provision(ctx, app, service, plan))
        have.add(service)
    return done


def provision(ctx: AddonContext, app: str, service: str, plan: str) -> Provisioned:
    """Create one add-on and the release that carries its config vars."""
    if service != POSTGRES:
        raise UsageError(
            f"Couldn't find either the add-on service or the add-on plan of {service!r}.",
            hint=f"cedarbox provides {POSTGRES}.",
            code="NO_SUCH_ADDON_SERVICE",
        )
    provider = postgres_provider(ctx)
    if provider == SQLITE:
        return _provision_sqlite(ctx, app, service, plan)
    return _provision_postgres(ctx, app, service, plan, provider)


def postgres_provider(ctx: AddonContext) -> str:
    """The first provider of the chain that this host and these settings allow."""
    if ctx.settings.postgres_admin_url:
        return EXTERNAL
    if ctx.settings.postgres.lower() != "off" and _postgres().cluster_available():
        return MANAGED
    return SQLITE


def destroy(ctx: AddonContext, app: str, name: str) -> Release:
    """Drop the add-on's data, unset its config vars, release "Remove … add-on"."""
    addon = find_addon(ctx, app, name)
    config = ctx.store.config(app)
    if addon.provider in (EXTERNAL, MANAGED):
        url, where = _admin(ctx, addon.provider)
        _postgres().drop_database(url, _db_name(addon), where)
    else:
        sqlite_path(ctx, addon).unlink(missing_ok=True)
    unset = [k for k in _config_vars(addon, config) if k in config]
    release = ctx.store.detach_addon(
        addon, unset=unset, description=f"Remove {addon.service} add-on", user=current_user()
    )
    return ctx.log_release(release)


def destroy_all(ctx: AddonContext, app: str) -> list[str]:
    """Drop every add-on's data before the app goes; what could not be dropped, said why."""
    problems = []
    for addon in ctx.store.list_addons(app):
        try:
            if addon.provider in (EXTERNAL, MANAGED):
                url, where = _admin(ctx, addon.provider)
                _postgres().drop_database(url, _db_name(addon), where)
        except AddonFailed as exc:
            problems.append(f"{addon.name}: {exc.message}")
    return problems


def reset(ctx: AddonContext, app: str, name: str | None) -> Addon:
    """Empty the add-on's database (pg:reset); its URL and role stay."""
    addon = _postgres_addon(ctx, app, name)
    if addon.provider == SQLITE:
        path = sqlite_path(ctx, addon)
        path.unlink(missing_ok=True)
        path.touch()
    else:
        url, where = _admin(ctx, addon.provider)
        _postgres().reset_database(url, _db_name(addon), where)
    return addon


def psql_url(ctx: AddonContext, app: str, name: str | None) -> str:
    """The URL `pg:psql` connects with; starts the managed cluster if needed."""
    addon = _postgres_addon(ctx, app, name)
    if addon.provider == SQLITE:
        raise UsageError(
            f"{addon.name} is an SQLite database, not PostgreSQL.",
            hint=f"Open it with `sqlite3 {sqlite_path(ctx, addon)}`.",
            code="NOT_POSTGRES",
        )
    if addon.provider == MANAGED:
        _admin(ctx, MANAGED)  # make sure it runs
    url = ctx.store.config(app).get(addon.config_var)
    if not url:
        raise UsageError(
            f"{addon.config_var} is not set on {app}.", hint="Was it unset with config:unset?"
        )
    return url


def find_addon(ctx: AddonContext, app: str, name: str) -> Addon:
    _get_app(ctx, app)
    config = ctx.store.config(app)
    for addon in ctx.store.list_addons(app):
        names = {addon.name}
        for var in _config_vars(addon, config):  # DATABASE_URL, DATABASE, HEROKU_POSTGRESQL_RED
            names |= {var, var.removesuffix("_URL")}
        if name in names:
            return addon
    raise AddonNotFound(
        f"Couldn't find that add-on: {name} on {app}.",
        hint=f"List the app's add-ons with `cedarbox addons -a {app}`.",
    )


def addon_config_vars(ctx: AddonContext, addon: Addon) -> list[str]:
    config = ctx.store.config(addon.app)
    return [k for k in _config_vars(addon, config) if k in config]


def start_managed_if_used(ctx: AddonContext) -> bool:
    """At server start: run the managed cluster if any app has an add-on on it."""
    for app in ctx.store.list_apps():
        if any(a.provider == MANAGED for a in ctx.store.list_addons(app.name)):
            _admin(ctx, MANAGED)
            return True
    return False


def stop_managed(ctx: AddonContext) -> bool:
    return managed_cluster(ctx).stop()


def managed_cluster(ctx: AddonContext) -> ManagedCluster:
    return _postgres().ManagedCluster(ctx.data.root / "postgres", tls=ctx.data.tls)


def announce(out: Output, provisioned: list[Provisioned], *, legacy: bool) -> None:
    for item in provisioned:
        line = f"{item.addon.service}:{item.addon.plan} provisioned as {item.addon.name}"
        if item.notice is None:
            out.indent(line)
        elif legacy:
            out.bang(f"{line}. {item.notice}")
        else:
            out.notice(f"{line}.", [item.notice])


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def sqlite_path(ctx: AddonContext, addon: Addon) -> Path:
    return ctx.data.addons(addon.app) / f"{addon.name}.sqlite3"


# Internals --------------------------------------------------------------------------------


def _provision_postgres(
    ctx: AddonContext, app: str, service: str, plan: str, provider: str
) -> Provisioned:
    config = ctx.store.config(app)
    used = {a.config_var for a in ctx.store.list_addons(app)} | set(config)
    colors = [c for c in COLORS if f"HEROKU_POSTGRESQL_{c}_URL" not in used]
    color_var = f"HEROKU_POSTGRESQL_{secrets.choice(colors or COLORS)}_URL"
    name = f"postgresql-{secrets.token_hex(4)}"
    addon = Addon(app, name, service, plan, provider, color_var, time.time())
    url, where = _admin(ctx, provider)
    database = _postgres().create_database(url, _db_name(addon), where)
    values = {color_var: database.url}
    if "DATABASE_URL" not in config:
        values["DATABASE_URL"] = database.url
    try:
        release = ctx.store.attach_addon(addon, values, user=current_user())
    except BaseException:
        _postgres().drop_database(url, _db_name(addon), where)
        raise
    return Provisioned(addon, release, None)


def _provision_sqlite(ctx: AddonContext, app: str, service: str, plan: str) -> Provisioned:
    name = f"{service.removeprefix('heroku-')}-{secrets.token_hex(4)}"
    addon = Addon(app, name, service, plan, SQLITE, "DATABASE_URL", time.time())
    database = sqlite_path(ctx, addon)
    database.parent.mkdir(parents=True, exist_ok=True)
    database.touch()
    release = ctx.store.attach_addon(
        addon, {"DATABASE_URL": sqlite_url(database)}, user=current_user()
    )
    return Provisioned(addon, release, SQLITE_NOTICE)


def _admin(ctx: AddonContext, provider: str) -> tuple[str, str]:
    """The admin URL for a provider (starting the managed cluster) and how to name it."""
    if provider == EXTERNAL:
        url = ctx.settings.postgres_admin_url
        if not url:
            raise AddonFailed(
                "This add-on lives on an external PostgreSQL server, and no admin URL is set.",
                hint="Pass --postgres-admin-url or set CEDARBOX_POSTGRES_ADMIN_URL.",
            )
        return url, "the server of the admin URL"
    cluster = managed_cluster(ctx)
    return cluster.admin_url(), cluster.describe()


def _db_name(addon: Addon) -> str:
    """Role and database name: unique per add-on (its name carries random hex)."""
    return f"cb_{addon.name.replace('-', '_')}"


def _config_vars(addon: Addon, config: dict[str, str]) -> list[str]:
    """The vars the add-on set: its own, and DATABASE_URL while it points at the same URL."""
    keys = [addon.config_var]
    own = config.get(addon.config_var)
    if addon.config_var != "DATABASE_URL" and own and config.get("DATABASE_URL") == own:
        keys.append("DATABASE_URL")
    return keys


def _postgres_addon(ctx: AddonContext, app: str, name: str | None) -> Addon:
    if name:
        return find_addon(ctx, app, name)
    _get_app(ctx, app)
    addons = [a for a in ctx.store.list_addons(app) if a.service == POSTGRES]
    if not addons:
        raise AddonNotFound(
            f"{app} has no heroku-postgresql add-on.",
            hint=f"Create one with `cedarbox addons:create heroku-postgresql -a {app}`.",
        )
    config = ctx.store.config(app)
    for addon in addons:  # the one behind DATABASE_URL, as heroku pg:psql picks it
        if "DATABASE_URL" in _config_vars(addon, config):
            return addon
    return addons[0]


def _postgres() -> ModuleType:
    """gitserver.postgres, imported on first use: psycopg takes ~120 ms to import, and a
    push of an app without a Postgres add-on never needs it."""
    from gitserver import postgres

    return postgres


def _get_app(ctx: AddonContext, name: str) -> App:
    return ctx.store.get_app(validate_app_name(name))
