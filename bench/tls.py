"""Benchmark `tls`: the receive benchmark's push over https vs over http, and TLS set-up cost.

One cedarbox server; each run pushes the generated source repository (bench/receive.py) to a
fresh app over `https://` (git trusting only the data directory's CA) and to another over
`http://`, in alternating order, after one uncounted warm-up push each. Set-up cost: the time
from connect to a first response (`GET /` on the front end) on a new connection, TLS against
plain, over many connections; and the first TLS connection for a new `<app>.localhost`,
whose leaf certificate is issued then.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench import Benchmark, Context, Result, Row, Target, median, run_checked
from bench.receive import (
    CedarboxTarget,
    Push,
    PushTarget,
    _measure_push,
    git_env,
    server_env,
    source_repo,
)

TIME_TARGET = Target(1.15, "ratio")
CONNECTIONS = 200


class OverTls(PushTarget):
    """The same cedarbox server, pushed to over TLS (the server is stopped by `inner`)."""

    name = "cedarbox-https"

    def __init__(self, inner: CedarboxTarget) -> None:
        super().__init__(inner.server)
        self.inner = inner

    def prepare(self, app: str) -> tuple[str, Path]:
        url, repo = self.inner.prepare(app)
        return url.replace("http://", "https://", 1), repo

    def __exit__(self, *exc: object) -> None:
        pass


def run(ctx: Context) -> Result:
    home = ctx.workdir / "home"
    env = git_env(home)
    source = source_repo(ctx, env)
    logs = ctx.workdir / "logs"
    logs.mkdir(exist_ok=True)
    https: list[Push] = []
    http: list[Push] = []
    with contextlib.ExitStack() as stack:
        plain_target = CedarboxTarget(ctx, server_env(home), logs)
        stack.enter_context(plain_target)
        tls_target = OverTls(plain_target)
        ca = plain_target.data_dir / "tls" / "ca.pem"
        tls_env = {**env, "GIT_SSL_CAINFO": str(ca)}
        ctx.log("warm-up push over each protocol (not counted) ...")
        _measure_push(plain_target, "tls-warm-http", 0, source, env)
        _measure_push(tls_target, "tls-warm-https", 0, source, tls_env)
        for n in range(1, ctx.runs + 1):
            order = ("https", "http") if n % 2 else ("http", "https")
            for proto in order:
                if proto == "https":
                    push = _measure_push(tls_target, f"tls-s{n}", n, source, tls_env)
                    https.append(push)
                else:
                    push = _measure_push(plain_target, f"tls-p{n}", n, source, env)
                    http.append(push)
                ctx.log(f"run {n} {proto:5s} {push.seconds:6.3f} s  cpu {push.server_cpu_s:5.2f} s")
        port = urlsplit(plain_target.server.url).port
        assert port is not None
        context = ssl.create_default_context(cafile=str(ca))
        ctx.log(f"{CONNECTIONS} connections each: TLS and plain, GET / ...")
        tls_times = [_first_response(port, context) for _ in range(CONNECTIONS)]
        plain_times = [_first_response(port, None) for _ in range(CONNECTIONS)]
        # A new app's name: its leaf is issued during that first handshake.
        cli = [ctx.venv_bin("cedarbox"), "--data-dir", str(plain_target.data_dir)]
        run_checked([*cli, "apps:create", "tls-newname"], env=server_env(home))
        new_name = _handshake(port, context, "tls-newname.localhost")
        again = median([_handshake(port, context, "tls-newname.localhost") for _ in range(20)])
    rows = [
        Row(
            "push wall time, https",
            median([p.seconds for p in https]),
            "s",
            median([p.seconds for p in http]),
            TIME_TARGET,
        ),
        Row(
            "push wall time, https/http within each run",
            median([s.seconds / p.seconds for s, p in zip(https, http, strict=True)]),
            "x",
        ),
        Row(
            "CPU of the Python server process per push, https",
            median([p.server_cpu_s for p in https]),
            "s",
            median([p.server_cpu_s for p in http]),
        ),
        Row(
            "new connection to first response, TLS (baseline: plain)",
            median(tls_times),
            "s",
            median(plain_times),
            stat=f"median of {CONNECTIONS}",
        ),
        Row(
            "first TLS handshake for a new app name (leaf issued; baseline: later ones)",
            new_name,
            "s",
            again,
            stat="1; median of 20",
        ),
    ]
    notes = [
        "one cedarbox server; the same push as `receive` to fresh apps over https "
        "(GIT_SSL_CAINFO = the data directory's CA) and over http, alternating order",
        "set-up: connect, TLS handshake (TLS 1.3, P-256 leaf), `GET /` with Connection: close, "
        "until the status line arrives",
    ]
    details: dict[str, object] = {
        "https": [p.to_json() for p in https],
        "http": [p.to_json() for p in http],
        "tls_setup_s": tls_times,
        "plain_setup_s": plain_times,
    }
    return Result(rows=rows, notes=notes, warnings=[], details=details)


def _first_response(port: int, context: ssl.SSLContext | None) -> float:
    """Connect (and shake hands), send `GET /`, until the status line arrives."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        sock = context.wrap_socket(raw, server_hostname="localhost") if context else raw
        with sock:
            request = f"GET / HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
            sock.sendall(request.encode())
            first = sock.recv(12)
            elapsed = time.perf_counter() - start
    if not first.startswith(b"HTTP/1.1"):
        raise RuntimeError(f"unexpected answer: {first!r}")
    return elapsed


def _handshake(port: int, context: ssl.SSLContext, name: str) -> float:
    start = time.perf_counter()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=name),
    ):
        return time.perf_counter() - start


BENCHMARK = Benchmark(
    name="tls",
    description="the receive push over https vs http on the same port; TLS connection set-up",
    run=run,
)
