"""Benchmark `first_response`: from `git push` starting to the app's first successful response.

A Flask app on gunicorn (the real wheels in `.wheels/apps`, installed with pip from there, no
network) is pushed to a cedarbox server while a client polls the app's URL through the router
(`Host: <app>.localhost:<port>`) every 20 ms. Per run, two pushes:

- new app: a fresh app, so a cold build (interpreter, pip install of Flask and gunicorn);
- code change: a second commit to the same app, so the build reuses the cache and the running
  dyno is replaced by the new release's (start the new one, wait until it answers, stop the old).

Measured for each: the time from the push's start to the first 200 response carrying the new
release's text, and the `git push` wall time (which includes `Verifying deploy...`, so the
first response normally arrives before the push returns). The notes give how the time splits
between the build (the hook's own report) and the rest.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import (
    REPO_ROOT,
    Benchmark,
    Context,
    Result,
    Row,
    Server,
    cedarbox_server,
    commit_files,
    median,
    push_env,
)

APP_WHEELS = REPO_ROOT / ".wheels" / "apps"
POLL = 0.02
TIMEOUT = 300.0

APP_PY = """\
from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "MARKER"
"""


@dataclass
class Measured:
    kind: str  # "new app" or "code change"
    run: int
    first_response_s: float | None
    push_s: float
    build_s: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "run": self.run,
            "first_response_s": self.first_response_s,
            "push_s": round(self.push_s, 3),
            "build_s": self.build_s,
        }


def run(ctx: Context) -> Result:
    if not any(APP_WHEELS.glob("gunicorn-*.whl")):
        return Result(rows=[], warnings=["no .wheels/apps: run `make test-deps` first"])
    home = ctx.workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = push_env(home, APP_WHEELS)
    logs = ctx.workdir / "logs"
    logs.mkdir(exist_ok=True)
    data = ctx.workdir / "data"
    runs = min(ctx.runs, 2) if ctx.quick else ctx.runs
    measured: list[Measured] = []
    with cedarbox_server(ctx, data, env, logs) as server:
        for number in range(1, runs + 1):
            app = f"first-response-{number}"
            repo = _make_app(ctx.workdir / app, env, f"hello {number}.1")
            measured.append(
                _push(server, data, env, repo, app, f"hello {number}.1", "new app", number)
            )
            _commit(repo, env, f"hello {number}.2")
            measured.append(
                _push(server, data, env, repo, app, f"hello {number}.2", "code change", number)
            )
            for m in measured[-2:]:
                ctx.log(
                    f"run {number} {m.kind:11s} first response {_fmt(m.first_response_s)}  "
                    f"git push {m.push_s:6.3f} s  build {_fmt(m.build_s)}"
                )
    return _result(measured)


def _push(
    server: Server,
    data: Path,
    env: dict[str, str],
    repo: Path,
    app: str,
    marker: str,
    kind: str,
    number: int,
) -> Measured:
    port = urlsplit(server.url).port or 80
    stop = threading.Event()
    first: list[float] = []
    start = time.perf_counter()

    def poll() -> None:
        while not stop.is_set():
            if _answers(port, app, marker):
                first.append(time.perf_counter() - start)
                return
            time.sleep(POLL)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    pushed = subprocess.run(
        ["git", "push", "-q", f"{server.url}/{app}.git", "main"],
        cwd=repo,
        env=env,
        capture_output=True,
        timeout=TIMEOUT,
    )
    push_s = time.perf_counter() - start
    if pushed.returncode != 0:
        stop.set()
        raise RuntimeError(f"push failed:\n{pushed.stderr.decode(errors='replace')}")
    poller.join(timeout=60)
    stop.set()
    return Measured(kind, number, first[0] if first else None, push_s, _build_seconds(data, app))


def _answers(port: int, app: str, marker: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": f"{app}.localhost:{port}"})
        response = conn.getresponse()
        return response.status == 200 and response.read().decode(errors="replace") == marker
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _build_seconds(data: Path, app: str) -> float | None:
    """The newest build report's duration (detect → save cache, the hook's own clock)."""
    reports = sorted((data / "builds" / app).glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        return None
    return float(json.loads(reports[-1].read_text()).get("duration_seconds") or 0) or None


def _make_app(path: Path, env: dict[str, str], marker: str) -> Path:
    files = {
        "requirements.txt": "flask\ngunicorn\n",
        ".python-version": "3.12\n",
        "Procfile": "web: gunicorn app:app\n",
        "app.py": APP_PY.replace("MARKER", marker),
    }
    return commit_files(path, env, files)


def _commit(path: Path, env: dict[str, str], marker: str) -> None:
    commit_files(path, env, {"app.py": APP_PY.replace("MARKER", marker)}, "change")


def _result(measured: list[Measured]) -> Result:
    rows: list[Row] = []
    notes: list[str] = []
    warnings: list[str] = []
    for kind in ("new app", "code change"):
        of_kind = [m for m in measured if m.kind == kind]
        firsts = [m.first_response_s for m in of_kind if m.first_response_s is not None]
        if len(firsts) < len(of_kind):
            warnings.append(f"{kind}: {len(of_kind) - len(firsts)} push(es) never got a response")
        if firsts:
            rows.append(Row(f"{kind}: push start → first response", median(firsts), "s"))
        rows.append(Row(f"{kind}: git push wall time", median([m.push_s for m in of_kind]), "s"))
        builds = [m.build_s for m in of_kind if m.build_s is not None]
        if firsts and builds:
            notes.append(
                f"{kind}: build {median(builds):.2f} s of {median(firsts):.2f} s; the rest is "
                "git, the release, starting the dyno and its first answer"
            )
    return Result(
        rows=rows,
        notes=notes,
        warnings=warnings,
        details={"runs": len(measured) // 2, "pushes": [m.to_json() for m in measured]},
    )


def _fmt(value: float | None) -> str:
    return "   never" if value is None else f"{value:6.3f} s"


BENCHMARK = Benchmark(
    "first_response",
    "push start to the first successful response of a Flask app on gunicorn",
    run,
)
