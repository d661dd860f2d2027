"""The Platform API's route table: method and path template → handler, and the error boundary.

Templates name their parameters (`/apps/{app}/releases/{release}`); a parameter matches one
path segment. A path that matches no template is Heroku's `not_found`; a known path with
another method is `method_not_allowed`. Any CedarboxError becomes Heroku's error body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from gitserver.web.api.context import ApiContext
from gitserver.web.api.protocol import ApiError, ApiRequest, Response

Handler = Callable[[ApiContext, ApiRequest], Response]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    # Authorized by a token in its URL (streams), not by the API key.
    public: bool = False

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        return re.compile(f"^{regex}/?$")


@dataclass(frozen=True)
class Match:
    route: Route
    params: dict[str, str]


class RouteTable:
    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = [(route, route.pattern) for route in routes]

    @property
    def routes(self) -> list[Route]:
        return [route for route, _ in self._routes]

    def match(self, method: str, path: str) -> Match:
        methods: list[str] = []
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return Match(route, {k: unquote(v) for k, v in found.groupdict().items()})
            methods.append(route.method)
        if methods:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{method} is not allowed on {path}; use {', '.join(sorted(set(methods)))}.",
            )
        raise ApiError(
            404,
            "not_found",
            f"The requested API endpoint was not found: {method} {path}. Are you using the "
            "right HTTP verb, and did you specify your intended version with the Accept header?",
        )
