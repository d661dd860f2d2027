"""`/apps`, `/users/~/apps`, `/apps/{app}`, and what the CLI asks on the way (collaborators,
pipeline couplings, buildpack installations)."""

from __future__ import annotations

from gitserver.settings import STACKS
from gitserver.views import JSON, app_id, stack_ref
from gitserver.web.api.context import ApiContext
from gitserver.web.api.dispatch import Route
from gitserver.web.api.params import FieldType, fields, name_or_id
from gitserver.web.api.protocol import (
    ApiError,
    ApiRequest,
    JsonResponse,
    invalid_params,
    not_found,
)
from gitserver.web.api.ranges import apply_range, parse_range

# What POST /apps takes (heroku's schema); region/space/team are accepted only as cedarbox has
# them: the one region, no spaces or teams.
_CREATE: dict[str, FieldType] = {
    "name": (str, None),
    "region": (str, dict, None),
    "stack": (str, dict, None),
    "space": (str, None),
    "team": (str, None),
    "feature_flags": (list, None),
    "internal_routing": (bool, None),
    "kernel": (str, None),
    "locked": (bool, None),
}
# heroku3 creates apps on stack "cedar" unless told otherwise: the generation's name.
CEDAR_GENERATION = "cedar"
_UPDATE: dict[str, FieldType] = {"name": str, "build_stack": (str, dict), "maintenance": bool}


def list_apps(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    platform = ctx.platform
    wanted = parse_range(request.header("Range"), "id")
    apps = apply_range(ctx.apps(), wanted, {"id": app_id, "name": lambda a: a.name})
    return JsonResponse(200, [platform.platform_app_view(app) for app in apps])


def create_app(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    body = fields(request.body, _CREATE)
    if body.get("space") or body.get("team"):
        raise invalid_params("cedarbox has no spaces or teams: create the app without them.")
    if body.get("region") not in (None, "us") and name_or_id(body["region"], "region") != "us":
        raise invalid_params("cedarbox has one region, `us`.")
    stack = _stack(body.get("stack"))
    name = body.get("name")
    app = ctx.platform.create_app(name if isinstance(name, str) else None, stack)
    return JsonResponse(201, ctx.platform.platform_app_view(app))


def _stack(value: object) -> str | None:
    """A stack by name or id; `cedar` (the generation, heroku3's default) is the default stack."""
    if value is None:
        return None
    ref = name_or_id(value, "stack")
    if ref == CEDAR_GENERATION:
        return None
    return next((s for s in STACKS if ref == stack_ref(s)["id"]), ref)


def app_info(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    return JsonResponse(200, ctx.platform.platform_app_view(ctx.app(request.params["app"])))


def update_app(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    body = fields(request.body, _UPDATE)
    if body.get("name", app.name) != app.name:
        raise invalid_params("Renaming apps is not supported by cedarbox.")
    if body.get("maintenance"):
        raise invalid_params("Maintenance mode is not supported by cedarbox.")
    if "build_stack" in body:
        stack = _stack(body["build_stack"]) or ctx.platform.settings.default_stack
        app = ctx.platform.set_stack(app.name, stack)
    return JsonResponse(200, ctx.platform.platform_app_view(app))


def delete_app(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    view = ctx.platform.platform_app_view(app)
    ctx.platform.destroy_app(app.name)
    return JsonResponse(200, view)


def collaborators(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    ctx.app(request.params["app"])
    return JsonResponse(200, [])


def pipeline_coupling(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    ctx.app(request.params["app"])
    raise not_found("pipeline_coupling", "This app is not in a pipeline.")


def buildpack_installations(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    """The one buildpack cedarbox runs (heroku/python)."""
    ctx.app(request.params["app"])
    view: JSON = {
        "ordinal": 0,
        "buildpack": {"url": "heroku/python", "name": "heroku/python"},
    }
    return JsonResponse(200, [view])


def set_buildpacks(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    raise ApiError(422, "invalid_params", "cedarbox builds with heroku/python only.")


ROUTES = (
    Route("GET", "/apps", list_apps),
    Route("GET", "/users/{user}/apps", list_apps),
    Route("POST", "/apps", create_app),
    Route("GET", "/apps/{app}", app_info),
    Route("PATCH", "/apps/{app}", update_app),
    Route("DELETE", "/apps/{app}", delete_app),
    Route("GET", "/apps/{app}/collaborators", collaborators),
    Route("GET", "/apps/{app}/pipeline-couplings", pipeline_coupling),
    Route("GET", "/apps/{app}/buildpack-installations", buildpack_installations),
    Route("PUT", "/apps/{app}/buildpack-installations", set_buildpacks),
)
