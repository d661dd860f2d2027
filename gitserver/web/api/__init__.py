"""The Heroku Platform API (v3) on the server's port, for the heroku CLI and heroku3.

Requests to the platform host (not `<app>.localhost`) that ask for
`application/vnd.heroku+json; version=3…` or name one of the API's resources (`/account`,
`/apps`, `/users/~/apps`, …) come here from gitserver/web/server.py. The route table
(`dispatch`) sends each to one handler of a resource module (`account`, `apps`, `config`,
`releases`, `builds`, `dynos`, `addons`, `logs`); handlers read the request (`params`,
`ranges`), change state only through gitserver.platform's operations, and answer with
gitserver.views' `platform_*` shapes; `edge` speaks HTTP and turns errors into Heroku's
`{id, message[, resource]}`.
"""

from __future__ import annotations

from gitserver.web.api import account, addons, apps, builds, config, dynos, logs, releases
from gitserver.web.api.dispatch import RouteTable

ROUTES = RouteTable(
    (
        *account.ROUTES,
        *apps.ROUTES,
        *config.ROUTES,
        *releases.ROUTES,
        *builds.ROUTES,
        *dynos.ROUTES,
        *addons.ROUTES,
        *logs.ROUTES,
    )
)

# The first path segments that are the API's whatever the Accept header says.
API_ROOTS = frozenset(
    {"account", "accounts", "addon-attachments", "addons", "apps", "streams", "users"}
)
HEROKU_MEDIA_TYPE = "application/vnd.heroku+json"


def is_api_request(path: str, accept: str) -> bool:
    """Whether a request to the platform host is for the Platform API."""
    return HEROKU_MEDIA_TYPE in accept.lower() or path.strip("/").split("/")[0] in API_ROOTS
