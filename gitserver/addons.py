"""Add-ons a release asks for, provisioned on the first deploy that asks (heroku-reference §7).

`heroku-postgresql` is served by the first provider in the chain that can; until a real
PostgreSQL provider exists, the embedded provider gives each app its own SQLite database and
says plainly that it is not PostgreSQL.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from gitserver.output import Output
from gitserver.platform import Platform, current_user
from gitserver.store import Addon, Release

POSTGRES = "heroku-postgresql"


@dataclass(frozen=True)
class Provisioned:
    addon: Addon
    release: Release
    notice: str | None  # what the pusher should know (e.g. "this is SQLite")


def split_addon(spec: str) -> tuple[str, str]:
    """`heroku-postgresql:hobby-dev` → ("heroku-postgresql", "hobby-dev")."""
    service, _, plan = spec.partition(":")
    return service, plan or "essential-0"


def provision_requested(platform: Platform, app: str, requested: list[str]) -> list[Provisioned]:
    """Attach every requested add-on the app does not have yet."""
    have = {a.service for a in platform.store.list_addons(app)}
    done = []
    for spec in requested:
        service, plan = split_addon(spec)
        if service in have:
            continue
        done.append(_provision_sqlite(platform, app, service, plan))
        have.add(service)
    return done


def announce(out: Output, provisioned: list[Provisioned], *, legacy: bool) -> None:
    for item in provisioned:
        line = f"{item.addon.service}:{item.addon.plan} provisioned as {item.addon.name}"
        if item.notice is None:
            out.indent(line)
        elif legacy:
            out.bang(f"{line}. {item.notice}")
        else:
            out.notice(f"{line}.", [item.notice])


def _provision_sqlite(platform: Platform, app: str, service: str, plan: str) -> Provisioned:
    name = f"{service.removeprefix('heroku-')}-{secrets.token_hex(4)}"
    database = platform.data.addons(app) / f"{name}.sqlite3"
    database.parent.mkdir(parents=True, exist_ok=True)
    database.touch()
    addon = Addon(app, name, service, plan, "sqlite", "DATABASE_URL", time.time())
    release = platform.store.attach_addon(
        addon, {"DATABASE_URL": sqlite_url(database)}, user=current_user()
    )
    notice = (
        "No PostgreSQL is available to cedarbox, so DATABASE_URL points at an SQLite\n"
        "database: this is not PostgreSQL. Apps that need PostgreSQL features will fail."
    )
    return Provisioned(addon, release, notice)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
