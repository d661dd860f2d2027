"""Benchmark `platform_api`: the Platform API's answer time, as the heroku CLI's requests see it.

One app with a few releases on a cedarbox server; over one kept-alive connection (as the
CLI's HTTP client keeps one), GET /apps/{app}, GET /apps/{app}/releases with the CLI's Range,
and PATCH /apps/{app}/config-vars (a release each). Target: every median under 20 ms, so a
CLI command's time is node's start-up, not the server's.
"""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

from bench import Benchmark, Context, Result, Row, Target, cedarbox_server, median, push_env

TARGET = Target(0.020, "absolute")
REQUESTS = 50
HEADERS = {
    "Accept": "application/vnd.heroku+json; version=3",
    "Authorization": "Bearer bench",
    "Content-Type": "application/json",
}


def run(ctx: Context) -> Result:
    home = ctx.workdir / "home"
    env = push_env(home, ctx.workdir)
    server = cedarbox_server(ctx, ctx.workdir / "data", env, ctx.workdir)
    try:
        url = urlsplit(server.url)
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)

        def timed(method: str, path: str, body: object = None, **headers: str) -> float:
            raw = None if body is None else json.dumps(body).encode()
            start = time.perf_counter()
            conn.request(method, path, body=raw, headers={**HEADERS, **headers})
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: {response.status}")
            return elapsed

        timed("POST", "/apps", {"name": "bench-app"})
        for i in range(5):
            timed("PATCH", "/apps/bench-app/config-vars", {f"K{i}": "v"})
        count = 10 if ctx.quick else REQUESTS
        rows = []
        cases = [
            ("GET /apps/{app}", "GET", "/apps/bench-app", None, {}),
            (
                "GET /apps/{app}/releases (Range)",
                "GET",
                "/apps/bench-app/releases",
                None,
                {"Range": "version ..; max=15, order=desc"},
            ),
            (
                "PATCH /apps/{app}/config-vars",
                "PATCH",
                "/apps/bench-app/config-vars",
                {"X": "1"},
                {},
            ),
        ]
        for metric, method, path, body, headers in cases:
            times = [timed(method, path, body, **headers) for _ in range(count)]
            rows.append(Row(metric, median(times), "s", None, TARGET))
        conn.close()
        return Result(rows=rows, notes=[f"{count} requests each over one kept-alive connection"])
    finally:
        server.stop()


BENCHMARK = Benchmark("platform_api", "Platform API answer time (kept-alive connection)", run)
