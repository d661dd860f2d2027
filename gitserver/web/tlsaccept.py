"""One port, two protocols: each accepted connection is told TLS or plain HTTP by its first byte.

A TLS connection starts with a handshake record (0x16); an HTTP request with a method's
letter. `TlsAcceptor.accept` runs in the connection's own thread (a client that idles blocks
nobody else), bounded by a timeout for the first byte and the whole handshake, and picks the
leaf certificate by SNI (gitserver/tls.py): `localhost` and the loopback addresses, and
`<app>.localhost` for apps that exist. Anything else is closed with a log line.
"""

from __future__ import annotations

import datetime
import logging
import socket
import ssl
import string
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from gitserver.tls import DEFAULT_NAME, Leaf, LocalCA, served_name

TLS_HANDSHAKE_RECORD = 0x16
# When the server closes a TLS connection it says so (close_notify) and waits this long for
# the client's own, so a body delimited by the close is not taken for a truncated one.
CLOSE_NOTIFY_WAIT = 1.0

logger = logging.getLogger(__name__)


def is_tls(handler: BaseHTTPRequestHandler) -> bool:
    """Whether the request on this handler arrived over TLS."""
    return isinstance(handler.connection, ssl.SSLSocket)


def looks_like_http(first: int) -> bool:
    """Whether a byte can start an HTTP/1 request: a method's token character, or the empty
    line a client may send before the request line (pure). Anything else is not HTTP; the
    request handler answers malformed HTTP itself (400, 501)."""
    return chr(first) in _HTTP_FIRST


_HTTP_FIRST = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~\r\n")


class TlsAcceptor:
    """Makes an accepted socket ready for the HTTP handler: as it is, or TLS-wrapped.

    `serves_app(name)` says whether `<name>.localhost` is an app here (asked once per name
    until it is; the answer yes is kept with the leaf's context).
    """

    def __init__(self, ca: LocalCA, *, serves_app: Callable[[str], bool], timeout: float) -> None:
        self.ca = ca
        self.serves_app = serves_app
        self.timeout = timeout
        self._lock = threading.Lock()
        self._contexts: dict[str, tuple[ssl.SSLContext, Leaf]] = {}
        self._context(DEFAULT_NAME)  # a CA or certificate problem shows at start

    def accept(self, sock: socket.socket, peer: str) -> socket.socket | None:
        """The socket to serve HTTP on (an SSLSocket after a handshake), or None: closed."""
        sock.settimeout(self.timeout)
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except TimeoutError:
            logger.warning("%s: closed, nothing sent within %.0f s", peer, self.timeout)
            return None
        except OSError:
            return None
        if not first:
            return None  # connected and closed (a port check)
        if first[0] != TLS_HANDSHAKE_RECORD:
            if not looks_like_http(first[0]):
                logger.warning(
                    "%s: closed, neither HTTP nor TLS (first byte %#04x)", peer, first[0]
                )
                return None
            sock.settimeout(None)
            return sock
        # TLS writes more, smaller segments (session tickets right after the handshake, then the
        # response): with Nagle on, a response waits for the client's delayed ACK (40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = self._context(DEFAULT_NAME)
        tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()  # one deadline for the whole handshake: `timeout`
        except TimeoutError:
            logger.warning("%s: TLS handshake not done within %.0f s, closed", peer, self.timeout)
            tls.close()
            return None
        except (ssl.SSLError, OSError) as exc:
            logger.warning("%s: TLS handshake failed, closed: %s", peer, _reason(exc))
            tls.close()
            return None
        tls.settimeout(None)
        return tls

    @staticmethod
    def close(conn: socket.socket) -> None:
        """End a connection `accept` wrapped: close_notify, then the socket."""
        if isinstance(conn, ssl.SSLSocket):
            try:
                conn.settimeout(CLOSE_NOTIFY_WAIT)
                conn.unwrap()
            except (OSError, ValueError):
                pass  # the client is gone, or the handler already shut the socket down
        conn.close()

    # Certificates -------------------------------------------------------------------------

    def _choose_leaf(
        self, sock: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> int | None:
        name = served_name(server_name)
        if name is not None and name != DEFAULT_NAME:
            app = name.removesuffix(".localhost")
            if name not in self._contexts and not self._serves(app):
                name = None
        if name is None:
            logger.warning(
                "TLS: refused a handshake for %r, a name this server does not serve", server_name
            )
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        if name != DEFAULT_NAME:
            sock.context = self._context(name)
        return None

    def _serves(self, app: str) -> bool:
        try:
            return self.serves_app(app)
        except Exception:  # the state cannot be read: refuse the name, keep the server up
            logger.exception("TLS: could not tell whether app %r exists", app)
            return False

    def _due(self, name: str) -> bool:
        entry = self._contexts.get(name)
        return entry is None or entry[1].due(datetime.datetime.now(datetime.UTC))

    def _context(self, name: str) -> ssl.SSLContext:
        """The server context for a name's leaf: cached until the leaf is due for renewal."""
        with self._lock:
            if not self._due(name):
                return self._contexts[name][0]
            leaf = self.ca.leaf(name)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.set_alpn_protocols(["http/1.1"])  # no HTTP/2 here
            context.load_cert_chain(leaf.cert, leaf.key)
            context.sni_callback = self._choose_leaf
            self._contexts[name] = (context, leaf)
            return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc) or type(exc).__name__
