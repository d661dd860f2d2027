"""Benchmark `auth`: what telling app code from the server's user costs (issue 16).

Without an admin key, as root, the front end asks which uid owns a local client's socket, once
per connection (gitserver/web/peers.py; with a key too, for the failure budget of the
client's uid). Measured here: that lookup over netlink sock_diag (what the server uses) and
over /proc/net/tcp and tcp6 (the fallback), with 500 more open loopback connections on the
host; and, for scale, a whole `GET /account` on a new connection each. Target: the sock_diag
lookup ≤ 1 ms.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from bench import Benchmark, Context, Result, Row, Target, cedarbox_server, median, push_env
from gitserver.web.peers import TABLES, _table_owner, socket_owner

LOOKUP_TARGET = Target(0.001, "absolute")
EXTRA_CONNECTIONS = 500


def _loopback_pairs(count: int) -> tuple[socket.socket, list[socket.socket]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(count + 8)
    held = []
    for _ in range(count):
        client = socket.create_connection(listener.getsockname())
        held += [client, listener.accept()[0]]
    return listener, held


def _timed(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def run(ctx: Context) -> Result:
    listener, held = _loopback_pairs(50 if ctx.quick else EXTRA_CONNECTIONS)
    try:
        client = socket.create_connection(listener.getsockname())
        conn, peer = listener.accept()
        held += [client, conn]
        here = conn.getsockname()
        diag = _timed(lambda: socket_owner(peer, here), 200)
        tables = _timed(lambda: _table_owner(peer, here, TABLES), 20)
    finally:
        for sock in held:
            sock.close()
        listener.close()

    count = 20 if ctx.quick else 100
    request = _requests(ctx, count)
    rows = [
        Row("peer uid lookup, sock_diag", diag, "s", None, LOOKUP_TARGET),
        Row("peer uid lookup, /proc/net/tcp{,6}", tables, "s"),
        Row("GET /account on a new connection (keyless server)", request, "s"),
    ]
    notes = [
        f"lookups with {len(held) // 2} open loopback connections on the host",
        f"{count} requests, each on a new connection",
    ]
    return Result(rows=rows, notes=notes)


def _requests(ctx: Context, count: int) -> float:
    env = push_env(ctx.workdir / "home", ctx.workdir)
    server = cedarbox_server(ctx, ctx.workdir / "data", env, ctx.workdir)
    try:
        url = urlsplit(server.url)
        headers = {"Accept": "application/vnd.heroku+json; version=3", "Authorization": "Bearer x"}

        def one() -> None:
            conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
            try:
                conn.request("GET", "/account", headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET /account: {response.status}")
            finally:
                conn.close()

        one()
        return _timed(one, count)
    finally:
        server.stop()


BENCHMARK = Benchmark("auth", "Auth: the peer uid lookup and its cost per connection", run)
