"""Pure routing: which app and which git service a request path names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from gitserver.appnames import validate_app_name
from gitserver.errors import CedarboxError, InvalidAppName

_GIT_PATH = re.compile(r"^/(?P<app>[^/]*)\.git(?P<rest>/.*)?$")
SERVICES = ("git-upload-pack", "git-receive-pack")


class NotFound(CedarboxError):
    code = "NOT_FOUND"
    http_status = 404


class BadQuery(CedarboxError):
    code = "BAD_QUERY"
    http_status = 400


@dataclass(frozen=True)
class GitRoute:
    app: str
    rest: str  # "/info/refs", "/git-receive-pack" or "/git-upload-pack"
    service: str  # "git-upload-pack" or "git-receive-pack"

    @property
    def is_advertisement(self) -> bool:
        return self.rest == "/info/refs"

    @property
    def is_push(self) -> bool:
        return self.service == "git-receive-pack"

    @property
    def backend_query(self) -> str:
        """The query string http-backend gets: only what the route was decided by."""
        return f"service={self.service}" if self.is_advertisement else ""


def route_git(method: str, path: str, query: str) -> GitRoute | None:
    """Match a smart-HTTP git request, or return None for a path that is not a repository.

    `query` is the raw query string. A `service` named twice is refused: the front end and
    git must never read different services out of one request.
    """
    match = _GIT_PATH.match(path)
    if not match:
        if path.endswith(".git") or ".git/" in path or ".." in path or "%" in path:
            raise InvalidAppName(
                f"{path!r} does not name an app repository.",
                hint="Use http://HOST:PORT/<app>.git, where <app> is a valid app name.",
            )
        return None
    app = validate_app_name(match["app"])
    rest = match["rest"] or "/"
    if rest == "/info/refs" and method in ("GET", "HEAD"):
        services = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "service"]
        if len(services) > 1:
            raise BadQuery(
                f"'service' is given {len(services)} times in {query!r}.",
                hint="Name one service: ?service=git-upload-pack or ?service=git-receive-pack.",
            )
        service = services[0] if services else ""
        if service not in SERVICES:
            raise NotFound(
                "Only git's smart HTTP protocol is served.",
                hint="Use git 1.6.6 or newer; dumb HTTP is not supported.",
            )
        return GitRoute(app, rest, service)
    if rest in ("/git-upload-pack", "/git-receive-pack") and method == "POST":
        return GitRoute(app, rest, rest[1:])
    raise NotFound(f"No such git endpoint: {method} {path}.")
