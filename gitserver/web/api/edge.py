"""The Platform API's HTTP edge: read the request, run its handler, write JSON or a stream.

Called by gitserver/web/server.py with the connection's handler; every error, from auth
to a handler's, is answered as Heroku's JSON error body here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from gitserver.errors import CedarboxError, RequestTooLarge, TooManyAuthFailures
from gitserver.platform import Platform
from gitserver.web.api import ROUTES
from gitserver.web.api.context import ApiContext, Tokens
from gitserver.web.api.dispatch import Match
from gitserver.web.api.params import parse_json
from gitserver.web.api.protocol import (
    JSON_TYPE,
    ApiError,
    ApiRequest,
    JsonResponse,
    StreamResponse,
    api_error,
    bad_request,
    forbidden,
)
from gitserver.web.auth import ADMIN, Grant
from gitserver.web.chunked import BadRequestBody, LimitedBody, iter_chunked, iter_sized
from gitserver.web.limits import linger

# The largest request body the API reads (config vars are limited to 32 KiB in total).
MAX_BODY = 1024 * 1024
logger = logging.getLogger(__name__)
# The server process's secrets for stream URLs (build output, log sessions).
TOKENS = Tokens()


def serve(
    handler: BaseHTTPRequestHandler,
    platform: Platform,
    base_url: str,
    check_auth: Callable[[], Grant],
) -> None:
    """Answer one API request on `handler`'s connection."""
    _no_delay(handler.connection)
    url = urlsplit(handler.path)
    body_read = False
    try:
        match = ROUTES.match(handler.command, url.path)
        grant = ADMIN if match.route.public else check_auth()  # public: a token in the URL
        context = ApiContext(platform, TOKENS, base_url, grant)
        _authorize(context, match)
        raw = _read_body(handler)
        body_read = True
        request = ApiRequest(
            method=handler.command,
            path=url.path,
            params=match.params,
            query=dict(parse_qsl(url.query)),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=parse_json(raw),
        )
        response = match.route.handler(context, request)
    except CedarboxError as exc:
        error = api_error(exc)
        headers = _auth_header(error)
        if isinstance(exc, TooManyAuthFailures):
            headers["Retry-After"] = str(exc.retry_after)
        _send_json(handler, JsonResponse(error.http_status, error.body(), headers))
        if not body_read:  # what the client still sends is not read: do not reuse, drain
            handler.close_connection = True
            linger(handler.connection, handler.wfile)  # type: ignore[arg-type]
        return
    except Exception:  # a bug: say so in Heroku's shape, keep the traceback in the log
        logger.exception("Platform API request failed: %s %s", handler.command, url.path)
        handler.close_connection = True
        body = {"id": "internal_error", "message": "cedarbox failed on this request; see its log."}
        _send_json(handler, JsonResponse(500, body))
        return
    if isinstance(response, StreamResponse):
        _send_stream(handler, response)
    else:
        _send_json(handler, response)


# What a deploy key may use besides its own app's `/apps/{app}/…` routes: the account, and the
# app listings (which then show its app alone).
_KEY_ROUTES = frozenset(
    {
        ("GET", "/account"),
        ("GET", "/users/{user}"),
        ("GET", "/account/rate-limits"),
        ("GET", "/apps"),
        ("GET", "/users/{user}/apps"),
    }
)


def _authorize(context: ApiContext, match: Match) -> None:
    """A deploy key's request: its own app's routes (but not destroying it) and _KEY_ROUTES;
    anything else is Heroku's 403 `forbidden`, whether the other app exists or not."""
    grant = context.grant
    if grant.app is None:
        return
    route = match.route
    if "app" in match.params:
        try:
            name: str | None = context.app(match.params["app"]).name
        except CedarboxError:
            name = None
        if name != grant.app:
            raise forbidden(
                f"This deploy key is for app {grant.app} only: it cannot reach app "
                f"{match.params['app']}. Use that app's deploy key or the server's API key."
            )
        if route.method == "DELETE" and route.template == "/apps/{app}":
            raise forbidden(
                f"A deploy key cannot destroy its app: destroy {grant.app} with the server's "
                "API key or `cedarbox apps:destroy`."
            )
        return
    if (route.method, route.template) not in _KEY_ROUTES:
        raise forbidden(
            f"This deploy key is for app {grant.app} only: {route.method} {route.template} "
            "needs the server's API key."
        )


def _auth_header(error: ApiError) -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="cedarbox"'} if error.http_status == 401 else {}


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        raw: Iterator[bytes] = iter_chunked(handler.rfile)  # type: ignore[arg-type]
    else:
        length_header = handler.headers.get("Content-Length") or "0"
        try:
            length = int(length_header)
        except ValueError:
            raise bad_request(f"Invalid Content-Length {length_header!r}.") from None
        if length < 0:
            raise bad_request("Negative Content-Length.")
        if length > MAX_BODY:
            raise _too_large(length)
        raw = iter_sized(handler.rfile, length)  # type: ignore[arg-type]
    try:
        return b"".join(LimitedBody(raw, MAX_BODY, lambda size, limit: _too_large(size)))
    except BadRequestBody as exc:
        raise bad_request(exc.message) from None


def _too_large(size: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"Request body too large: {size} bytes or more; the API takes at most {MAX_BODY}.",
        hint="Send smaller requests (config vars are limited to 32 KiB in total).",
    )


def _send_json(handler: BaseHTTPRequestHandler, response: JsonResponse) -> None:
    body = json.dumps(response.data).encode() + b"\n"
    handler.send_response(response.status)
    handler.send_header("Content-Type", JSON_TYPE)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("RateLimit-Remaining", "4500")
    for name, value in response.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)
    handler.wfile.flush()


def _send_stream(handler: BaseHTTPRequestHandler, response: StreamResponse) -> None:
    """Chunked; an empty chunk from the handler means "idle": check the client is still there."""
    handler.send_response(response.status)
    handler.send_header("Content-Type", response.content_type)
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.close_connection = True
    try:
        for data in response.chunks:
            if not data:
                if _client_gone(handler.connection):
                    return
                continue
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        close = getattr(response.chunks, "close", None)
        if close is not None:
            close()  # stops a tail's reader thread


def _no_delay(connection: socket.socket) -> None:
    """Send small answers at once: headers and body are separate writes, and Nagle's algorithm
    would hold the body for the client's delayed ACK (40 ms per request on a kept-alive
    connection)."""
    with contextlib.suppress(OSError, AttributeError):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _client_gone(connection: socket.socket) -> bool:
    """The client closed its end (readable with nothing to read)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # ValueError: TLS sockets do not peek
        return False
