"""`/apps/{app}/releases`: list (Range by version), info by id or version, POST = rollback."""

from __future__ import annotations

from pathlib import Path

from gitserver.records import App, Release
from gitserver.views import JSON, platform_release_view, release_id
from gitserver.web.api.context import ApiContext
from gitserver.web.api.dispatch import Route
from gitserver.web.api.params import fields, name_or_id
from gitserver.web.api.protocol import ApiRequest, JsonResponse, not_found
from gitserver.web.api.ranges import apply_range, parse_range


def release_json(ctx: ApiContext, app: App, release: Release, current: Release | None) -> JSON:
    runnable = bool(release.slug) and not release.slug_pruned and Path(release.slug or "").is_file()
    return platform_release_view(
        release,
        app,
        current=current is not None and release.version == current.version,
        eligible_for_rollback=runnable,
    )


def list_releases(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    releases = ctx.platform.releases(app.name)
    current = releases[0] if releases else None
    wanted = parse_range(request.header("Range"), "version")
    kept = apply_range(releases, wanted, {"version": lambda r: r.version, "id": release_id})
    return JsonResponse(200, [release_json(ctx, app, r, current) for r in kept])


def find_release(ctx: ApiContext, app: App, ident: str) -> Release:
    """A release by version (`3`, `v3`) or by id."""
    version = ident.removeprefix("v")
    releases = ctx.platform.releases(app.name)
    for release in releases:
        if (version.isdigit() and release.version == int(version)) or release_id(release) == ident:
            return release
    raise not_found("release", f"Couldn't find that release: {ident}.")


def release_info(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    release = find_release(ctx, app, request.params["release"])
    return JsonResponse(
        200, release_json(ctx, app, release, ctx.platform.current_release(app.name))
    )


def rollback(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    """`{release: id | version}`: a new release running that release's slug and config."""
    app = ctx.app(request.params["app"])
    body = fields(request.body, {"release": (str, int, dict)}, required=("release",))
    ref = body["release"]
    target = find_release(
        ctx, app, str(ref) if isinstance(ref, int) else name_or_id(ref, "release")
    )
    release = ctx.platform.rollback(app.name, target.version)
    return JsonResponse(201, release_json(ctx, app, release, release))


ROUTES = (
    Route("GET", "/apps/{app}/releases", list_releases),
    Route("POST", "/apps/{app}/releases", rollback),
    Route("GET", "/apps/{app}/releases/{release}", release_info),
)
