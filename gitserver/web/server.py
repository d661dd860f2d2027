"""The cedarbox HTTP front end: apps' web traffic to the router; git and the API for the rest.

Requests whose Host is `<app>.localhost[:port]` go to the router (gitserver/web/router.py) and
on to the app's web dynos; everything else is the platform's front end: auth, app lookup and
auto-create, then C git for the protocol, and a small read-only JSON API. What runs alongside
(the supervisor, managed PostgreSQL) is wired up in gitserver/serve.py.
"""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from gitserver.datadir import DataDir
from gitserver.errors import (
    AppNotFound,
    AuthRequired,
    CedarboxError,
    Forbidden,
    RequestTooLarge,
    TooManyAuthFailures,
)
from gitserver.platform import Platform
from gitserver.runner.routes import RouteTable
from gitserver.settings import Settings
from gitserver.tls import LocalCA
from gitserver.web import api
from gitserver.web.api import edge as api_edge
from gitserver.web.auth import Authorizer, Grant, SocketPeer
from gitserver.web.backend import CgiHead, CgiRequest, backend_env, run_backend
from gitserver.web.chunked import BadRequestBody, LimitedBody, iter_chunked, iter_sized
from gitserver.web.framing import BadFraming, check_framing
from gitserver.web.limits import (
    LINGER_SECONDS,
    ConnectionGate,
    DeadlineReader,
    FailureLimiter,
    head_timeout_response,
    linger,
    refuse_connection,
)
from gitserver.web.pktline import error_advertisement
from gitserver.web.router import Router, app_from_host
from gitserver.web.routes import GitRoute, route_git
from gitserver.web.tlsaccept import TlsAcceptor

# Bodies the front end never uses (API, info/refs, errors) are read and dropped up to this size;
# a larger one is refused with 413 without reading it.
MAX_API_BODY = 1024 * 1024

logger = logging.getLogger(__name__)


class CedarboxServer(ThreadingHTTPServer):
    """One thread per connection; pushes run in their own git processes.

    Binds at construction: with port 0 the real port (and so `url`) is known from then on.
    The port speaks plain HTTP and TLS (gitserver/web/tlsaccept.py): `url` and `https_url`.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, settings: Settings, routes: RouteTable) -> None:
        super().__init__((settings.host, settings.port), RequestHandler)
        host, port = self.socket.getsockname()[:2]  # (str, int): server_address may be bytes
        self.settings = settings.with_(port=port, public_url=f"http://{host}:{port}")
        self.router = Router(
            routes,
            DataDir(settings.data_dir),
            server_port=port,
            timeout=self.settings.router_timeout,
        )
        self.gate = ConnectionGate(self.settings.max_connections)
        self.authorizer = Authorizer(
            self.settings.api_key,
            FailureLimiter(self.settings.auth_failure_limit, self.settings.auth_failure_window),
        )
        self.tls = TlsAcceptor(
            LocalCA.open(DataDir(settings.data_dir).tls),
            serves_app=self._serves_app,
            timeout=self.settings.tls_handshake_timeout,
        )

    def process_request(self, request: Any, client_address: Any) -> None:
        """Over the cap of open connections: a 503 at once, from the accepting thread."""
        if not self.gate.enter():
            refuse_connection(request, self.gate.limit)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.gate.leave()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.gate.leave()

    @property
    def url(self) -> str:
        return self.settings.public_url

    @property
    def https_url(self) -> str:
        """The same port over TLS, with a certificate from the data directory's CA."""
        return self.settings.public_url.replace("http://", "https://", 1)

    def finish_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        """In the connection's own thread: TLS or plain HTTP, then the request handler."""
        assert isinstance(request, socket.socket)  # a TCP server's requests are sockets
        conn = self.tls.accept(request, peer=str(client_address[0]))
        if conn is None:
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            if conn is not request:
                self.tls.close(conn)

    def _serves_app(self, app: str) -> bool:
        platform = Platform.open(self.settings)
        try:
            return platform.store.find_app(app) is not None
        finally:
            platform.close()


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CedarboxServer
    server_version = "cedarbox"
    _platform: Platform | None = None
    _reader: DeadlineReader
    _peer: SocketPeer | None = None  # the client as the kernel knows it (looked up once)

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replaced by one whose reads keep to the head's deadline
        self._reader = DeadlineReader(self.connection, self.server.settings.header_timeout)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.start_head()
        super().handle_one_request()
        if self._reader.head_timed_out and self._reader.head_bytes:
            self.close_connection = True
            try:
                self.connection.settimeout(LINGER_SECONDS)
                self.connection.sendall(head_timeout_response(self._reader.timeout))
            except OSError:
                pass  # the client is gone

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        self._reader.end_head()
        return True

    @property
    def platform(self) -> Platform:
        """This connection's state handle, opened on first use and closed with the connection."""
        if self._platform is None:
            self._platform = Platform.open(self.server.settings)
        return self._platform

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._platform is not None:
                self._platform.close()
                self._platform = None

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    # Apps take any method; the front end answers these with 404/405.
    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s - %s", self.address_string(), format % args)

    # Dispatch ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            check_framing(self.headers)
        except BadFraming as exc:
            self._send_error(exc)
            return
        app = app_from_host(self.headers.get("Host", ""))
        if app is not None:
            self._route_to_app(app)
            return
        url = urlsplit(self.path)
        if api.is_api_request(url.path, self.headers.get("Accept", "")):
            api_edge.serve(self, self.platform, self.server.url, self._check_auth)
            return
        try:
            if self.command not in ("GET", "HEAD", "POST"):
                self._discard_body()
                self._send_text(
                    405, f"{self.command} is for apps: http://<app>.localhost:<port>/\n"
                )
                return
            grant = self._check_auth()
            route = route_git(self.command, url.path, url.query)
            if route is not None:
                self._serve_git(route, grant)
                return
            self._discard_body()
            if url.path.startswith("/api/"):
                self._serve_api(url.path, grant)
            elif url.path == "/":
                self._send_text(200, f"cedarbox is running. Push to {self.server.url}/<app>.git\n")
            else:
                self._send_text(404, f"Not found: {url.path}\n")
        except CedarboxError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route_to_app(self, app: str) -> None:
        """An app's own traffic: public, like a herokuapp.com URL (no API key asked)."""
        exists = self.platform.store.find_app(app) is not None
        try:
            self.server.router.handle(self, app, app_exists=exists)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _check_auth(self) -> Grant:
        """What this git or API request may reach (gitserver/web/auth.py), or raise."""
        if self._peer is None:
            client = (str(self.client_address[0]), int(self.client_address[1]))
            local = self.connection.getsockname()
            self._peer = SocketPeer(client, (str(local[0]), int(local[1])))
        return self.server.authorizer.check(
            self.headers.get("Authorization", ""), self._peer.peer(), self.platform
        )

    # Git --------------------------------------------------------------------------------

    def _serve_git(self, route: GitRoute, grant: Grant) -> None:
        platform = self.platform
        limit = self.server.settings.push_max_bytes
        if route.is_advertisement:
            self._discard_body()  # git sends none; never hand one to http-backend
        elif (self._content_length() or 0) > limit:
            raise _too_large(self._content_length() or 0, limit)
        if not grant.allows(route.app):
            self._refuse_git(route, _not_this_app(grant, route.app))
            return
        if platform.store.find_app(route.app) is None:
            # Only git's first request (the advertisement) creates an app: a stray POST not;
            # nor a deploy key's (it is for an app that exists).
            auto_create = self.server.settings.auto_create and grant.app is None
            if not (route.is_push and route.is_advertisement and auto_create):
                self._refuse_missing_app(route)
                return
            try:
                platform.create_app(route.app)
            except CedarboxError as exc:
                if platform.store.find_app(route.app) is None:  # not a concurrent create
                    raise exc
        request = CgiRequest(
            method=self.command,
            path_info=f"/{route.app}.git{route.rest}",
            query=route.backend_query,
            content_type=self.headers.get("Content-Type", ""),
            content_encoding=self.headers.get("Content-Encoding", ""),
            git_protocol=self.headers.get("Git-Protocol", ""),
            content_length=None,  # the body is checked here; http-backend reads it to EOF
            remote_addr=self.client_address[0],
        )
        env = backend_env(request, platform.data.repos_root(), self.server.settings.to_env())
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if route.is_advertisement:
            raw: Iterator[bytes] = iter(())
        elif chunked:
            raw = iter_chunked(self.rfile)  # type: ignore[arg-type]
        else:
            raw = iter_sized(self.rfile, self._content_length() or 0)  # type: ignore[arg-type]
        body = LimitedBody(raw, limit, _too_large)
        sent_head = False

        def start_response(head: CgiHead) -> None:
            nonlocal sent_head
            self.send_response(head.status, head.reason)
            for name, value in head.headers:
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent_head = True

        def write(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        try:
            run_backend(request, body, env, start_response, write)
        except CedarboxError as exc:
            if not sent_head:
                raise
            self.log_message("bad request body: %s", exc.message)
            self.close_connection = True
            return
        finally:
            if not body.done:  # git stopped reading early: the rest is still on the socket
                self.close_connection = True
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        try:
            length = int(raw)
        except ValueError:
            raise BadRequestBody(f"Invalid Content-Length {raw!r}.") from None
        if length < 0:
            raise BadRequestBody("Negative Content-Length.")
        return length

    def _refuse_missing_app(self, route: GitRoute) -> None:
        """Answer in git's own protocol, so git prints the reason (`fatal: remote error: …`)."""
        if route.is_push and not self.server.settings.auto_create:
            message = (
                f"NO_SUCH_APP: app '{route.app}' does not exist and this server does not create "
                f"apps on push. Create it first: cedarbox apps:create {route.app}"
            )
        else:
            message = f"NO_SUCH_APP: app '{route.app}' does not exist. Push to it to create it."
        self._refuse_git(route, AppNotFound(message.removeprefix("NO_SUCH_APP: ")))

    def _refuse_git(self, route: GitRoute, error: CedarboxError) -> None:
        """Refuse in git's own protocol where git shows the reason (the advertisement:
        `fatal: remote error: CODE: …`); later requests get the error's plain status."""
        if not route.is_advertisement:
            raise error
        message = f"{error.code}: " + " ".join(error.lines())
        body = error_advertisement(route.service, message)
        self.send_response(200)
        self.send_header("Content-Type", f"application/x-{route.service}-advertisement")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # API --------------------------------------------------------------------------------

    def _serve_api(self, path: str, grant: Grant) -> None:
        platform = self.platform
        parts = [p for p in path.split("/") if p][1:]
        if self.command != "GET":
            self._send_text(405, "The API is read-only; use the cedarbox command line.\n")
        elif parts == ["apps"]:
            apps = [a for a in platform.list_apps() if grant.allows(a.name)]
            self._send_json(200, [platform.app_view(a) for a in apps])
        elif len(parts) == 2 and parts[0] == "apps":
            if not grant.allows(parts[1]):
                raise _not_this_app(grant, parts[1])
            self._send_json(200, platform.app_view(platform.get_app(parts[1])))
        else:
            self._send_text(404, f"No such API endpoint: {path}\n")

    # Responses --------------------------------------------------------------------------

    def _discard_body(self) -> None:
        """Read and drop a body the front end does not use; refuse a large one unread (413)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raw = iter_chunked(self.rfile)  # type: ignore[arg-type]
        elif length := self._content_length():
            if length > MAX_API_BODY:
                raise _too_large(length, MAX_API_BODY)
            raw = iter_sized(self.rfile, length)  # type: ignore[arg-type]
        else:
            return
        try:
            for _ in LimitedBody(raw, MAX_API_BODY, _too_large):
                pass
        except CedarboxError:
            self.close_connection = True
            raise

    def _send_error(self, exc: CedarboxError) -> None:
        self.close_connection = True
        text = f"{exc.code}: " + "\n".join(exc.lines()) + "\n"
        extra = {}
        if isinstance(exc, AuthRequired):
            extra["WWW-Authenticate"] = 'Basic realm="cedarbox"'
        if isinstance(exc, TooManyAuthFailures):
            extra["Retry-After"] = str(exc.retry_after)
        self._send_text(exc.http_status, text, extra)
        self._linger()

    def _linger(self) -> None:
        linger(self.connection, self.wfile)  # type: ignore[arg-type]

    def _send_text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8", headers or {})

    def _send_json(self, status: int, data: object) -> None:
        self._send(status, json.dumps(data, indent=2).encode() + b"\n", "application/json", {})

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _not_this_app(grant: Grant, app: str) -> Forbidden:
    return Forbidden(
        f"This deploy key is for app '{grant.app}' only: it cannot reach app '{app}'.",
        hint=f"Use a deploy key of {app} (cedarbox keys:create -a {app}) or the server's API key.",
    )


def _too_large(size: int, limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"Request body too large: {size} bytes or more (the limit here is {limit} bytes).",
        hint="Pushes may send up to CEDARBOX_PUSH_MAX_BYTES; other endpoints take no body.",
    )
