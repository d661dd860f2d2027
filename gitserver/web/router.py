"""The router: requests for `<app>.localhost[:port]` go to one of the app's up web dynos.

Like Heroku's router it streams both ways, adds X-Forwarded-For/-Proto/-Port, X-Request-Id and
X-Request-Start, queues requests while the app's dynos boot, answers 503 with an error page when
no web dyno can take the request (H10 app crashed, H14 no web processes, H12 timeout, H13 the
connection closed without a response) and writes one `heroku[router]` log line per request.
"""

from __future__ import annotations

import html
import http.client
import re
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler
from typing import BinaryIO

from gitserver.applog import AppLog
from gitserver.appnames import validate_app_name
from gitserver.datadir import DataDir
from gitserver.errors import InvalidAppName
from gitserver.runner.routes import Route, Routes, RouteTable
from gitserver.web.chunked import iter_chunked, iter_sized
from gitserver.web.framing import valid_request_id
from gitserver.web.tlsaccept import is_tls

_APP_HOST = re.compile(r"^(?P<app>[^.:]+)\.localhost\.?(?::\d+)?$", re.IGNORECASE)
# Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's, never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_ERRORS = {
    "H10": "App crashed",
    "H12": "Request timeout",
    "H13": "Connection closed without response",
    "H14": "No web processes running",
    "H99": "No such app",
}


def app_from_host(host: str) -> str | None:
    """`shop.localhost:5000` → "shop"; None for any other host (the git and API front end)."""
    match = _APP_HOST.match(host.strip())
    if not match:
        return None
    try:
        return validate_app_name(match["app"].lower())
    except InvalidAppName:
        return None


def forwarded_headers(
    headers: Iterable[tuple[str, str]],
    *,
    client_ip: str,
    server_port: int,
    request_id: str,
    received_ms: int,
    proto: str = "http",
) -> list[tuple[str, str]]:
    """The request's end-to-end headers plus the router's own (pure); `proto` is how the
    request reached the router, `http` or `https`."""
    connection_tokens = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    kept = [
        (name, value)
        for name, value in headers
        if name.lower() not in _HOP_BY_HOP
        and name.lower() not in connection_tokens
        and not name.lower().startswith("x-forwarded-")
        and name.lower() not in ("x-request-start", "x-request-id", "content-length")
    ]
    previous = [value for name, value in headers if name.lower() == "x-forwarded-for"]
    chain = ", ".join([*previous, client_ip])
    return [
        *kept,
        ("X-Forwarded-For", chain),
        ("X-Forwarded-Proto", proto),
        ("X-Forwarded-Port", str(server_port)),
        ("X-Request-Id", request_id),
        ("X-Request-Start", str(received_ms)),
        ("Via", "1.1 cedarbox"),
    ]


@dataclass(frozen=True)
class RouterLine:
    method: str
    path: str
    host: str
    request_id: str
    fwd: str
    dyno: str = ""
    connect_ms: int = 0
    service_ms: int = 0
    status: int = 0
    bytes: int = 0
    code: str = ""
    protocol: str = "http"

    def text(self) -> str:
        """Heroku's router log line, e.g. `at=info method=GET path="/" … protocol=http`."""
        head = (
            f'at=error code={self.code} desc="{_ERRORS[self.code]}" ' if self.code else "at=info "
        )
        return (
            f'{head}method={self.method} path="{self.path}" host={self.host} '
            f'request_id={self.request_id} fwd="{self.fwd}" dyno={self.dyno} '
            f"connect={self.connect_ms}ms service={self.service_ms}ms status={self.status} "
            f"bytes={self.bytes} protocol={self.protocol}"
        )


def error_page(app: str, code: str) -> bytes:
    """The page a browser shows when the router cannot reach the app (Heroku's Application
    error page, in our words)."""
    if code == "H99":
        title = "No such app"
        body = f"There is no app named {html.escape(app)} on this cedarbox server."
    else:
        title = "Application error"
        body = (
            "An error occurred in the application and your page could not be served "
            f"({code}: {_ERRORS[code]}). If you are the application owner, check your logs: "
            f"<code>cedarbox logs --tail -a {html.escape(app)}</code>"
        )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body><h1>{title}</h1>\n<p>{body}</p></body></html>\n"
    ).encode()


class Router:
    """Proxies one request on a handler of the front end to the app's web dynos.

    `routes` is the table the supervisor publishes; `data` is where the apps' logs are.
    """

    def __init__(
        self, routes: RouteTable, data: DataDir, *, server_port: int, timeout: float
    ) -> None:
        self.routes = routes
        self.data = data
        self.server_port = server_port
        self.timeout = timeout

    def handle(self, handler: BaseHTTPRequestHandler, app: str, *, app_exists: bool) -> None:
        received = time.time()
        line = RouterLine(
            method=handler.command,
            path=handler.path,
            host=handler.headers.get("Host", "").split(":")[0],
            # A client's id reaches the dyno and the log only if it is Heroku's shape.
            request_id=valid_request_id(handler.headers.get("X-Request-Id")) or str(uuid.uuid4()),
            fwd=handler.client_address[0],
            protocol="https" if is_tls(handler) else "http",
        )
        log = AppLog(self.data.log(app)) if app_exists else None
        try:
            _content_length(handler)
        except ValueError:
            handler.send_error(400, "Invalid Content-Length")
            handler.close_connection = True
            return
        if not app_exists:
            self._refuse(handler, app, line, "H99", status=404, log=None)
            return
        routes = self.routes.wait_for_route(app, self.timeout)
        if not routes.targets:
            code = "H10" if routes.status == "crashed" else "H14"
            if routes.status == "starting":
                code = "H12"
            self._refuse(handler, app, line, code, log=log)
            return
        self._proxy(handler, app, routes, line, received, log)

    def _proxy(
        self,
        handler: BaseHTTPRequestHandler,
        app: str,
        routes: Routes,
        line: RouterLine,
        received: float,
        log: AppLog | None,
    ) -> None:
        headers = forwarded_headers(
            handler.headers.items(),
            client_ip=handler.client_address[0],
            server_port=self.server_port,
            request_id=line.request_id,
            received_ms=int(received * 1000),
            proto=line.protocol,
        )
        # A request without a body can be sent again if a dyno being replaced drops it.
        replayable = handler.command in ("GET", "HEAD", "OPTIONS") and not _has_body(handler)
        route = self.routes.pick(routes)
        for attempt in (1, 2):
            started = time.monotonic()
            upstream, route = self._connect(app, route)
            connected = time.monotonic()
            line = _with(line, dyno=route.dyno, connect_ms=_ms(connected - started))
            if upstream is None:
                self._refuse(handler, app, line, "H13", log=log)
                return
            try:
                response = self._send(handler, upstream, headers)
                break
            except (OSError, http.client.HTTPException) as exc:
                upstream.close()
                timed_out = isinstance(exc, TimeoutError | socket.timeout)
                if replayable and attempt == 1 and not timed_out:
                    time.sleep(0.1)
                    fresh = self.routes.wait_for_route(app, self.timeout)
                    if fresh.targets:
                        route = self.routes.pick(fresh)
                        continue
                # Part of the request body may be consumed: answer, then close the connection.
                code = "H12" if timed_out else "H13"
                self._refuse(handler, app, line, code, log=log, discard=False)
                return
        assert upstream is not None  # the loop ends at `break` only, once the request is sent
        try:
            sent = _relay(handler, response)
        finally:
            upstream.close()
        line = _with(
            line,
            service_ms=_ms(time.monotonic() - connected),
            status=response.status,
            bytes=sent,
        )
        if log is not None:
            log.write("heroku[router]", line.text())

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        upstream: http.client.HTTPConnection,
        headers: list[tuple[str, str]],
    ) -> http.client.HTTPResponse:
        """Send the request line, headers and body (streamed) on; wait for the response head."""
        upstream.putrequest(
            handler.command, handler.path, skip_host=True, skip_accept_encoding=True
        )
        for name, value in headers:
            upstream.putheader(name, value)
        length = handler.headers.get("Content-Length")
        chunked = "chunked" in handler.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
        elif length is not None:
            upstream.putheader("Content-Length", length)
        upstream.endheaders()
        for piece in _request_body(handler):
            upstream.send(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            upstream.send(b"0\r\n\r\n")
        return upstream.getresponse()

    def _connect(self, app: str, route: Route) -> tuple[http.client.HTTPConnection | None, Route]:
        """Connect to the dyno; if it refuses (it is being replaced), retry once on fresh routes."""
        for attempt in range(2):
            conn = http.client.HTTPConnection("127.0.0.1", route.port, timeout=self.timeout)
            try:
                conn.connect()
                return conn, route
            except OSError:
                conn.close()
                if attempt == 0:
                    time.sleep(0.1)
                    routes = self.routes.wait_for_route(app, self.timeout)
                    if not routes.targets:
                        break
                    route = self.routes.pick(routes)
        return None, route

    def _refuse(
        self,
        handler: BaseHTTPRequestHandler,
        app: str,
        line: RouterLine,
        code: str,
        *,
        status: int = 503,
        log: AppLog | None,
        discard: bool = True,
    ) -> None:
        if discard:
            _discard(handler)
        page = error_page(app, code)
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(page)))
        handler.send_header("Cache-Control", "no-cache, no-store")
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(page)
        handler.close_connection = True
        if log is not None:
            log.write(
                "heroku[router]", _with(line, code=code, status=status, bytes=len(page)).text()
            )


def _request_body(handler: BaseHTTPRequestHandler) -> Iterator[bytes]:
    rfile: BinaryIO = handler.rfile  # type: ignore[assignment]
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        return iter_chunked(rfile)
    length = _content_length(handler)
    return iter_sized(rfile, length) if length > 0 else iter(())


def _has_body(handler: BaseHTTPRequestHandler) -> bool:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        return True
    return _content_length(handler) > 0


def _content_length(handler: BaseHTTPRequestHandler) -> int:
    """The request's Content-Length (0 if absent); ValueError if it is not a length."""
    length = int(handler.headers.get("Content-Length") or 0)
    if length < 0:
        raise ValueError(length)
    return length


def _discard(handler: BaseHTTPRequestHandler) -> None:
    try:
        for _ in _request_body(handler):
            pass
    except (OSError, ValueError):
        handler.close_connection = True


def _relay(handler: BaseHTTPRequestHandler, response: http.client.HTTPResponse) -> int:
    """Send the dyno's response on as it arrives; returns the body bytes sent."""
    no_body = handler.command == "HEAD" or response.status in (204, 304) or response.status < 200
    length = response.getheader("Content-Length")
    # HTTP/1.0 clients know no chunked encoding: they get a close-delimited body.
    chunked = response.chunked and not no_body and handler.request_version != "HTTP/1.0"
    handler.send_response_only(response.status, response.reason)
    connection_tokens = {
        t.strip().lower() for t in (response.getheader("Connection") or "").split(",")
    }
    for name, value in response.getheaders():
        lowered = name.lower()
        if lowered in _HOP_BY_HOP or lowered in connection_tokens:
            continue
        handler.send_header(name, value)
    if chunked:
        handler.send_header("Transfer-Encoding", "chunked")
    elif not no_body and length is None:  # the body ends when the dyno closes: so must we
        handler.close_connection = True
        handler.send_header("Connection", "close")
    handler.end_headers()
    handler.log_request(response.status)
    sent = 0
    if no_body:
        return 0
    while piece := response.read1(65536):
        sent += len(piece)
        if chunked:
            handler.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
        else:
            handler.wfile.write(piece)
        handler.wfile.flush()
    if chunked:
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    return sent


def _with(line: RouterLine, **changes: object) -> RouterLine:
    return replace(line, **changes)  # type: ignore[arg-type]


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
