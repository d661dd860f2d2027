"""The JSON shape of apps, releases, builds, dynos and add-ons: one view per record.

Every `--json` of the CLI and the server's read-only `/api/apps` use these, so a record has
one shape everywhere. The Platform API (gitserver/web/api) answers with the `platform_*`
views below: Heroku's schema for the same records (ids, nested `{id, name}` references), as
the heroku CLI and heroku3 read them. Views are pure: records in, plain JSON-ready dicts out;
the URLs, sizes and config var names a record does not hold are passed in by the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from gitserver.records import Addon, App, Build, DeployKey, DynoRecord, Release

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


def deploy_key_view(key: DeployKey) -> JSON:
    """A deploy key as `cedarbox keys --json` lists it: never the key, nor its digest."""
    return {
        "id": key.id,
        "app": key.app,
        "created_at": iso_time(key.created_at),
        "last_used_at": iso_time(key.last_used_at) if key.last_used_at is not None else None,
    }


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


# Platform API views ----------------------------------------------------------------------------

# Records have names and versions; the Platform API also gives each an id (a UUID). They are
# derived from what identifies the record, so they are stable and need no storage.
_ID_NAMESPACE = uuid.UUID("5f8f7a3e-2c1d-4b6e-9a53-0c1e2d3f4a5b")
REGION = {"id": str(uuid.uuid5(_ID_NAMESPACE, "region:us")), "name": "us"}
DYNO_SIZE = "Basic"


def record_id(kind: str, *parts: object) -> str:
    """The stable UUID of a record: `record_id("app", name, created_at)`."""
    return str(uuid.uuid5(_ID_NAMESPACE, ":".join([kind, *map(str, parts)])))


def app_id(app: App) -> str:
    return record_id("app", app.name, app.created_at)


def release_id(release: Release) -> str:
    return record_id("release", release.app, release.version, release.created_at)


def addon_id(addon: Addon) -> str:
    return record_id("addon", addon.app, addon.name, addon.created_at)


def user_ref(email: str) -> JSON:
    return {"id": record_id("user", email), "email": email}


def stack_ref(stack: str) -> JSON:
    return {"id": record_id("stack", stack), "name": stack}


def app_ref(app: App) -> JSON:
    return {"id": app_id(app), "name": app.name}


def platform_account_view(email: str, created_at: float) -> JSON:
    """`/account`: the one user of this server."""
    when = iso_time(created_at)
    return {
        "id": record_id("user", email),
        "email": email,
        "name": email.partition("@")[0],
        "allow_tracking": False,
        "beta": False,
        "created_at": when,
        "updated_at": when,
        "last_login": when,
        "verified": True,
        "two_factor_authentication": False,
        "federated": False,
        "default_organization": None,
        "default_team": None,
        "identity_provider": None,
        "sms_number": None,
        "suspended_at": None,
        "delinquent_at": None,
        "country_of_residence": None,
    }


def platform_app_view(
    app: App,
    *,
    owner: str,
    release: Release | None,
    git_url: str,
    web_url: str,
    slug_size: int | None,
    repo_size: int | None,
) -> JSON:
    """An app as `/apps/{app}` shows it: `stack` is the current release's, `build_stack`
    the next build's (they differ after `stack:set`)."""
    released = iso_time(release.created_at) if release else None
    return {
        "id": app_id(app),
        "name": app.name,
        "created_at": iso_time(app.created_at),
        "updated_at": released or iso_time(app.created_at),
        "released_at": released,
        "git_url": git_url,
        "web_url": web_url,
        "stack": stack_ref(app.stack),
        "build_stack": stack_ref(app.stack),
        "region": REGION,
        "owner": user_ref(owner),
        "organization": None,
        "team": None,
        "space": None,
        "generation": {"id": record_id("generation", "cedar"), "name": "cedar"},
        "create_status": "complete",
        "acm": False,
        "archived_at": None,
        "buildpack_provided_description": "Python" if release else None,
        "internal_routing": None,
        "maintenance": False,
        "repo_size": repo_size,
        "slug_size": slug_size,
    }


def platform_release_view(
    release: Release, app: App, *, current: bool, eligible_for_rollback: bool
) -> JSON:
    """A release: `user.email` made it; `eligible_for_rollback` if it has a slug to run."""
    when = iso_time(release.created_at)
    return {
        "id": release_id(release),
        "version": release.version,
        "description": release.description,
        "status": "succeeded",
        "current": current,
        "eligible_for_rollback": eligible_for_rollback,
        "user": user_ref(release.user),
        "app": app_ref(app),
        "slug": {"id": release.build_id} if release.slug and release.build_id else None,
        "addon_plan_names": [],
        "artifacts": [],
        "output_stream_url": None,
        "created_at": when,
        "updated_at": when,
    }


def platform_build_view(
    build: Build, app: App, *, user: str, output_stream_url: str, release: Release | None
) -> JSON:
    started = iso_time(build.started_at)
    return {
        "id": build.id,
        "status": str(build.status),
        "app": app_ref(app),
        "stack": build.stack,
        "source_blob": {
            "checksum": None,
            "url": "",
            "version": build.source_version,
            "version_description": None,
        },
        "buildpacks": [{"url": "heroku/python", "name": "heroku/python"}],
        "output_stream_url": output_stream_url,
        "release": {"id": release_id(release), "version": release.version} if release else None,
        "slug": {"id": build.id} if build.status == "succeeded" else None,
        "user": user_ref(user),
        "created_at": started,
        "updated_at": iso_time(build.finished_at) if build.finished_at else started,
    }


def platform_dyno_view(dyno: DynoRecord, app: App, *, release: Release | None) -> JSON:
    since = iso_time(dyno.since)
    return {
        "id": dyno.id,
        "name": dyno.name,
        "type": dyno.type,
        "state": str(dyno.state),
        "command": dyno.command,
        "size": DYNO_SIZE,
        "attach_url": None,
        "app": app_ref(app),
        "release": {
            "id": release_id(release) if release else None,
            "version": dyno.release_version,
        },
        "created_at": since,
        "updated_at": since,
    }


def platform_formation_view(app: App, kind: str, quantity: int, command: str) -> JSON:
    when = iso_time(app.created_at)
    return {
        "id": record_id("formation", app.name, app.created_at, kind),
        "type": kind,
        "quantity": quantity,
        "command": command,
        "size": DYNO_SIZE,
        "app": app_ref(app),
        "created_at": when,
        "updated_at": when,
    }


def platform_addon_view(addon: Addon, app: App, *, config_vars: Sequence[str]) -> JSON:
    when = iso_time(addon.created_at)
    return {
        "id": addon_id(addon),
        "name": addon.name,
        "app": app_ref(app),
        "addon_service": {"id": record_id("service", addon.service), "name": addon.service},
        "plan": {"id": record_id("plan", addon_label(addon)), "name": addon_label(addon)},
        "billed_price": {"cents": 0, "contract": False, "unit": "month"},
        "billing_entity": {"id": app_id(app), "name": app.name, "type": "app"},
        "config_vars": list(config_vars),
        "provider_id": addon.name,
        "state": "provisioned",
        "web_url": None,
        "actions": [],
        "created_at": when,
        "updated_at": when,
    }


def platform_attachment_view(addon: Addon, app: App) -> JSON:
    """The add-on's attachment to its own app, named after its config var (`DATABASE`)."""
    when = iso_time(addon.created_at)
    return {
        "id": record_id("attachment", addon.app, addon.name, addon.created_at),
        "name": addon.config_var.removesuffix("_URL"),
        "addon": {"id": addon_id(addon), "name": addon.name, "app": app_ref(app)},
        "app": app_ref(app),
        "namespace": None,
        "web_url": None,
        "log_input_url": None,
        "created_at": when,
        "updated_at": when,
    }
