"""`/apps/{app}/formation` (GET, PATCH `{updates: […]}`) and `/apps/{app}/dynos` (list, restart).

Scaling and restarting only record desired state; the running server's supervisor acts on it.
"""

from __future__ import annotations

from gitserver.records import App
from gitserver.views import JSON, platform_dyno_view, platform_formation_view
from gitserver.web.api.context import ApiContext
from gitserver.web.api.dispatch import Route
from gitserver.web.api.params import FieldType, fields, list_of_objects
from gitserver.web.api.protocol import ApiError, ApiRequest, JsonResponse, not_found

_UPDATE: dict[str, FieldType] = {"type": str, "quantity": (int, str), "size": (str, None)}


def _formation(ctx: ApiContext, app: App) -> list[JSON]:
    release, counts = ctx.platform.formation(app.name)
    commands = release.process_types if release else {}
    return [
        platform_formation_view(app, kind, quantity, commands.get(kind, ""))
        for kind, quantity in sorted(counts.items())
    ]


def list_formation(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    return JsonResponse(200, _formation(ctx, ctx.app(request.params["app"])))


def formation_info(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    for view in _formation(ctx, app):
        if view["type"] == request.params["type"]:
            return JsonResponse(200, view)
    raise not_found("formation", f"{app.name} has no process type {request.params['type']!r}.")


def _scale_args(updates: list[dict[str, object]]) -> list[str]:
    """`ps:scale` words (`web=2`, `worker+1`) for the updates, each checked first."""
    words = []
    for update in updates:
        checked = fields(update, _UPDATE, required=("type", "quantity"))
        quantity = str(checked["quantity"]).strip()
        sign = quantity[:1] in ("+", "-")
        words.append(f"{checked['type']}{'' if sign else '='}{quantity}")
    return words


def update_formation(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    body = fields(request.body, {"updates": list}, required=("updates",))
    ctx.platform.scale(app.name, _scale_args(list_of_objects(body["updates"], "updates")))
    return JsonResponse(200, _formation(ctx, app))


def update_one_formation(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    body = fields(request.body, {"quantity": (int, str), "size": (str, None)})
    if "quantity" in body:
        ctx.platform.scale(app.name, _scale_args([{"type": request.params["type"], **body}]))
    return formation_info(ctx, request)


def list_dynos(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    releases = {r.version: r for r in ctx.platform.releases(app.name)}
    dynos = ctx.platform.dynos(app.name)
    views = [platform_dyno_view(d, app, release=releases.get(d.release_version)) for d in dynos]
    return JsonResponse(200, views)


def dyno_info(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    wanted = request.params["dyno"]
    releases = {r.version: r for r in ctx.platform.releases(app.name)}
    for dyno in ctx.platform.dynos(app.name):
        if wanted in (dyno.name, dyno.id):
            return JsonResponse(
                200, platform_dyno_view(dyno, app, release=releases.get(dyno.release_version))
            )
    raise not_found("dyno", f"{app.name} has no dyno {wanted!r}.")


def _restart(ctx: ApiContext, request: ApiRequest, target: str) -> JsonResponse:
    app = ctx.app(request.params["app"])
    ctx.platform.request_dynos(app.name, "restart", target)
    return JsonResponse(202, {})


def restart_all(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    return _restart(ctx, request, "")


def restart_dyno(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    return _restart(ctx, request, request.params["dyno"])


def restart_type(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    return _restart(ctx, request, request.params["type"])


def stop_dyno(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    ctx.platform.request_dynos(app.name, "stop", request.params["dyno"])
    return JsonResponse(202, {})


_RUN: dict[str, FieldType] = {
    "command": str,
    "attach": (bool, None),
    "env": (dict, None),
    "force_no_tty": (bool, None),
    "size": (str, None),
    "type": (str, None),
    "time_to_live": (int, None),
}


def run_dyno(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    """A one-off with `attach: false`: its output goes to the app's log (`heroku logs`)."""
    app = ctx.app(request.params["app"])
    body = fields(request.body, _RUN, required=("command",))
    if body.get("attach") is not False:
        raise ApiError(
            422,
            "invalid_params",
            "Attached one-offs (`heroku run`) are not supported over the API: use "
            "`heroku run:detached` (attach: false), or `cedarbox run -a APP COMMAND`.",
        )
    env = body.get("env") or {}
    assert isinstance(env, dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ApiError(422, "invalid_params", "env must map names to strings.")
    dyno = ctx.platform.run_detached(app.name, str(body["command"]), env)
    release = ctx.platform.store.get_release(app.name, dyno.release_version)
    return JsonResponse(201, platform_dyno_view(dyno, app, release=release))


ROUTES = (
    Route("GET", "/apps/{app}/formation", list_formation),
    Route("PATCH", "/apps/{app}/formation", update_formation),
    Route("GET", "/apps/{app}/formation/{type}", formation_info),
    Route("PATCH", "/apps/{app}/formation/{type}", update_one_formation),
    Route("GET", "/apps/{app}/dynos", list_dynos),
    Route("POST", "/apps/{app}/dynos", run_dyno),
    Route("DELETE", "/apps/{app}/dynos", restart_all),
    Route("GET", "/apps/{app}/dynos/{dyno}", dyno_info),
    Route("DELETE", "/apps/{app}/dynos/{dyno}", restart_dyno),
    Route("POST", "/apps/{app}/dynos/{dyno}/actions/stop", stop_dyno),
    Route("DELETE", "/apps/{app}/formations/{type}", restart_type),
)
