"""`/apps/{app}/addons`, `/addons`, `/addon-attachments`: the heroku-postgresql add-on."""

from __future__ import annotations

from gitserver import addons
from gitserver.records import Addon
from gitserver.views import JSON, addon_id, platform_addon_view, platform_attachment_view
from gitserver.web.api.context import ApiContext
from gitserver.web.api.dispatch import Route
from gitserver.web.api.params import FieldType, fields, name_or_id
from gitserver.web.api.protocol import ApiRequest, JsonResponse, not_found

_CREATE: dict[str, FieldType] = {
    "plan": (str, dict),
    "attachment": (dict, None),
    "config": (dict, None),
    "confirm": (str, None),
    "name": (str, None),
}


def _view(ctx: ApiContext, addon: Addon) -> JSON:
    app = ctx.app(addon.app)
    names = sorted(addons.addon_config_vars(ctx.platform, addon), key=lambda k: k != "DATABASE_URL")
    return platform_addon_view(addon, app, config_vars=names)


def _app_addons(ctx: ApiContext, request: ApiRequest) -> list[Addon]:
    app = request.params.get("app")
    return ctx.platform.addons(ctx.app(app).name if app else None)


def list_addons(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    return JsonResponse(200, [_view(ctx, a) for a in _app_addons(ctx, request)])


def list_attachments(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    found = _app_addons(ctx, request)
    return JsonResponse(200, [platform_attachment_view(a, ctx.app(a.app)) for a in found])


def _find(ctx: ApiContext, request: ApiRequest) -> Addon:
    wanted = request.params["addon"]
    for addon in _app_addons(ctx, request):
        if wanted in (addon.name, addon_id(addon), addon.config_var.removesuffix("_URL")):
            return addon
    raise not_found("add_on", f"Couldn't find that add-on: {wanted}.")


def addon_info(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    return JsonResponse(200, _view(ctx, _find(ctx, request)))


def create_addon(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    body = fields(request.body, _CREATE, required=("plan",))
    done = ctx.platform.create_addon(app.name, name_or_id(body["plan"], "plan"))
    return JsonResponse(201, _view(ctx, done.addon))


def delete_addon(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    addon = _find(ctx, request)
    view = _view(ctx, addon)
    ctx.platform.destroy_addon(addon.app, addon.name)
    return JsonResponse(200, {**view, "state": "deprovisioned"})


ROUTES = (
    Route("GET", "/addons", list_addons),
    Route("GET", "/apps/{app}/addons", list_addons),
    Route("POST", "/apps/{app}/addons", create_addon),
    Route("GET", "/apps/{app}/addons/{addon}", addon_info),
    Route("DELETE", "/apps/{app}/addons/{addon}", delete_addon),
    Route("GET", "/addon-attachments", list_attachments),
    Route("GET", "/apps/{app}/addon-attachments", list_attachments),
)
