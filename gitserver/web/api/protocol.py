"""The Platform API's request and response values and its errors, as Heroku's clients read them.

Handlers take an `ApiRequest` (method, path parameters, query, headers, parsed JSON body) and
return a `JsonResponse` or a `StreamResponse`; failures are `ApiError`s (or any CedarboxError,
which `api_error` maps) and become Heroku's error body `{id, message[, resource]}`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from gitserver.errors import (
    AddonNotFound,
    AppExists,
    AppNotFound,
    AuthRequired,
    CedarboxError,
    Forbidden,
    ReleaseNotFound,
    RequestTooLarge,
    ServerRunning,
    TooManyAuthFailures,
    UsageError,
)

# The media type of every JSON answer, as api.heroku.com labels it.
JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    params: Mapping[str, str]  # the route's {placeholders}, by name
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-cased names
    body: object  # the parsed JSON body (None when there was none)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass(frozen=True)
class JsonResponse:
    status: int
    data: object
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamResponse:
    """A body sent as it is produced (chunked): a build's output, a log session."""

    content_type: str
    chunks: Iterator[bytes]
    status: int = 200


Response = JsonResponse | StreamResponse


class ApiError(CedarboxError):
    """An error answered as `{id, message[, resource]}`; `id` is Heroku's error id."""

    http_status = 400
    code = "API_ERROR"

    def __init__(self, status: int, error_id: str, message: str, resource: str = "") -> None:
        super().__init__(message, code=error_id)
        self.http_status = status
        self.error_id = error_id
        self.resource = resource

    def body(self) -> dict[str, str]:
        body = {"id": self.error_id, "message": self.message}
        if self.resource:
            body["resource"] = self.resource
        return body


def not_found(resource: str, message: str | None = None) -> ApiError:
    return ApiError(404, "not_found", message or f"Couldn't find that {resource}.", resource)


def invalid_params(message: str) -> ApiError:
    return ApiError(422, "invalid_params", message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def api_error(exc: CedarboxError) -> ApiError:
    """The Heroku error for a platform error: its id, status and (for 404s) the resource."""
    if isinstance(exc, ApiError):
        return exc
    message = " ".join(exc.lines())
    if isinstance(exc, AppNotFound):
        return not_found("app", "Couldn't find that app.")
    if isinstance(exc, ReleaseNotFound):
        if exc.code == "NO_SLUG":
            return invalid_params(message)
        return not_found("release", message)
    if isinstance(exc, AddonNotFound):
        return not_found("addon", message)
    if isinstance(exc, AppExists):
        return ApiError(409, "conflict", "Name is already taken")
    if isinstance(exc, AuthRequired):
        return ApiError(401, "unauthorized", "Invalid credentials provided.")
    if isinstance(exc, Forbidden):
        return forbidden(message)
    if isinstance(exc, TooManyAuthFailures):
        return ApiError(429, "rate_limit", message)
    if isinstance(exc, RequestTooLarge):
        return ApiError(413, "request_entity_too_large", message)
    if isinstance(exc, ServerRunning):
        return ApiError(409, "conflict", message)
    if isinstance(exc, UsageError) or 400 <= exc.http_status < 500:
        return invalid_params(message)
    return ApiError(exc.http_status if exc.http_status >= 500 else 500, "internal_error", message)
