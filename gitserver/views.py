"""The JSON shape of apps, releases, builds, dynos and add-ons: one view per record.

Every `--json` of the CLI and the server's read-only `/api/apps` use these, so a record has
one shape everywhere. Views are pure: records in, plain JSON-ready dicts out; the URLs, sizes
and config var names a record does not hold are passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from gitserver.records import Addon, App, Build, DynoRecord, Release

JSON = dict[str, object]

_PROVIDERS = {
    "postgres-external": "PostgreSQL (external server)",
    "postgres-managed": "PostgreSQL (managed by cedarbox)",
    "sqlite": "SQLite (not PostgreSQL)",
}


def iso_time(timestamp: float) -> str:
    """A record's epoch seconds as UTC ISO 8601, to the second."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def provider_text(provider: str) -> str:
    """What really serves an add-on, in words."""
    return _PROVIDERS.get(provider, provider)


def addon_label(addon: Addon) -> str:
    """`heroku-postgresql:hobby-dev`, the plan as heroku names it."""
    return f"{addon.service}:{addon.plan}"


def app_view(
    app: App,
    *,
    release: Release | None,
    addons: Sequence[Addon],
    git_url: str,
    web_url: str,
    cache_size_bytes: int,
    repository: str,
) -> JSON:
    """An app; `release` is the current release's version as an integer (Heroku's type)."""
    return {
        "name": app.name,
        "stack": app.stack,
        "created_at": iso_time(app.created_at),
        "git_url": git_url,
        "web_url": web_url,
        "release": release.version if release else None,
        "addons": [f"{addon_label(a)} ({a.name})" for a in addons],
        "cache_size_bytes": cache_size_bytes,
        "repository": repository,
    }


def release_view(release: Release) -> JSON:
    """A release: config var names only, never their values (CI logs keep this output)."""
    return {
        "version": release.version,
        "description": release.description,
        "by": release.user,
        "when": iso_time(release.created_at),
        "build": release.build_id,
        "slug": release.slug,
        "slug_pruned": release.slug_pruned,
        "config_keys": sorted(release.config),
        "process_types": release.process_types,
    }


def build_view(build: Build) -> JSON:
    """A build, every field of its record as stored."""
    return asdict(build)


def dyno_view(dyno: DynoRecord) -> JSON:
    """A dyno as `ps --json` shows it."""
    return {
        "name": dyno.name,
        "type": dyno.type,
        "state": dyno.state,
        "since": iso_time(dyno.since),
        "command": dyno.command,
        "release": f"v{dyno.release_version}" if dyno.release_version else None,
        "port": dyno.port,
        "pid": dyno.pid,
        "restarts": dyno.restarts,
        "detail": dyno.detail,
    }


def addon_view(addon: Addon, *, config_vars: Sequence[str]) -> JSON:
    """An add-on; `config_vars` are the names of the vars it sets on its app."""
    return {
        "name": addon.name,
        "app": addon.app,
        "service": addon.service,
        "plan": addon_label(addon),
        "provider": provider_text(addon.provider),
        "config_vars": list(config_vars),
        "created_at": iso_time(addon.created_at),
    }
