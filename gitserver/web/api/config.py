"""`/apps/{app}/config-vars`: GET, and PATCH `{KEY: value | null}` (null unsets), one release."""

from __future__ import annotations

from gitserver.web.api.context import ApiContext
from gitserver.web.api.dispatch import Route
from gitserver.web.api.params import string_map
from gitserver.web.api.protocol import ApiRequest, JsonResponse


def get_config(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    return JsonResponse(200, ctx.platform.config(app.name))


def update_config(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    changes = string_map(request.body)
    ctx.platform.update_config(app.name, changes)
    return JsonResponse(200, ctx.platform.config(app.name))


ROUTES = (
    Route("GET", "/apps/{app}/config-vars", get_config),
    Route("PATCH", "/apps/{app}/config-vars", update_config),
)
