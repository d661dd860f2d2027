"""`/account` and `/account/rate-limits`: the one user of a cedarbox server."""

from __future__ import annotations

from gitserver.views import platform_account_view
from gitserver.web.api.context import ApiContext
from gitserver.web.api.dispatch import Route
from gitserver.web.api.protocol import ApiRequest, JsonResponse

# Heroku's budget of requests per hour; cedarbox does not limit, so it is always full.
RATE_LIMIT = 4500


def account(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    apps = ctx.apps()
    since = min((a.created_at for a in apps), default=ctx.platform.data.database.stat().st_mtime)
    return JsonResponse(200, platform_account_view(ctx.user, since))


def rate_limits(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    return JsonResponse(200, {"remaining": RATE_LIMIT})


ROUTES = (
    Route("GET", "/account", account),
    Route("GET", "/users/{user}", account),
    Route("GET", "/account/rate-limits", rate_limits),
)
