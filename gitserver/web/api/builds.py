"""`/apps/{app}/builds` (list, info, `output_stream_url`) and `DELETE /apps/{app}/build-cache`.

A build's output URL is signed with the server's secret: it replays the push's transcript,
and follows it while the build is still running.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from gitserver.errors import CedarboxError
from gitserver.records import App, Build, BuildStatus
from gitserver.views import JSON, platform_build_view
from gitserver.web.api.context import ApiContext
from gitserver.web.api.dispatch import Route
from gitserver.web.api.protocol import ApiError, ApiRequest, JsonResponse, StreamResponse, not_found
from gitserver.web.api.ranges import apply_range, parse_range

# How often a running build's transcript is read for new output.
FOLLOW_POLL = 0.2
_BLOCK = 64 * 1024


def output_stream_url(ctx: ApiContext, app: App, build: Build) -> str:
    signature = ctx.tokens.sign("build", app.name, build.id)
    return f"{ctx.base_url}/streams/builds/{app.name}/{build.id}/{signature}"


def _view(ctx: ApiContext, app: App, build: Build) -> JSON:
    release = None
    if build.release_version is not None:
        release = ctx.platform.store.get_release(app.name, build.release_version)
    return platform_build_view(
        build,
        app,
        user=ctx.user,
        output_stream_url=output_stream_url(ctx, app, build),
        release=release,
    )


def list_builds(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    wanted = parse_range(request.header("Range"), "created_at")
    keys = {"created_at": lambda b: b.started_at, "id": lambda b: b.id}
    builds = apply_range(ctx.platform.builds(app.name), wanted, keys)
    return JsonResponse(200, [_view(ctx, app, b) for b in builds])


def _find(ctx: ApiContext, app: App, build_id: str) -> Build:
    for build in ctx.platform.builds(app.name):
        if build.id == build_id:
            return build
    raise not_found("build", f"Couldn't find that build: {build_id}.")


def build_info(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    return JsonResponse(200, _view(ctx, app, _find(ctx, app, request.params["build"])))


def create_build(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    raise ApiError(
        422,
        "invalid_params",
        f"Builds from a source URL are not supported; push instead: git push "
        f"{ctx.platform.git_url(app.name)} main",
    )


def purge_cache(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    ctx.platform.purge_cache(app.name)
    return JsonResponse(202, {})


def build_output(ctx: ApiContext, request: ApiRequest) -> StreamResponse:
    """The transcript so far, then what a running build still writes, until it ends."""
    name, build_id = request.params["app"], request.params["build"]
    if not ctx.tokens.verify(request.params["signature"], "build", name, build_id):
        raise not_found("build")
    app = ctx.app(name)
    _find(ctx, app, build_id)
    try:
        path = ctx.platform.build_file(app.name, build_id, ".log")
    except CedarboxError:
        raise not_found("build", f"Build {build_id} has no output.") from None
    return StreamResponse("text/plain; charset=utf-8", _follow(ctx, app, build_id, path))


def _follow(ctx: ApiContext, app: App, build_id: str, path: Path) -> Iterator[bytes]:
    with open(path, "rb") as transcript:
        while True:
            running = _find(ctx, app, build_id).status == BuildStatus.PENDING
            data = transcript.read(_BLOCK)
            if data:
                yield data
                continue
            if not running:
                return
            yield b""  # nothing new: the edge checks that the client is still there
            time.sleep(FOLLOW_POLL)


ROUTES = (
    Route("GET", "/apps/{app}/builds", list_builds),
    Route("POST", "/apps/{app}/builds", create_build),
    Route("GET", "/apps/{app}/builds/{build}", build_info),
    Route("DELETE", "/apps/{app}/build-cache", purge_cache),
    Route("GET", "/streams/builds/{app}/{build}/{signature}", build_output, public=True),
)
