"""The sample app of the build benchmarks (`warm_redeploy`, `cold_build`) and its baselines.

The app is what issue 3 describes: five dependencies, real wheels from `.wheels/apps` (fetched
by `make test-deps`; pip installs them from there with no index, so nothing touches the
network), `.python-version` 3.12 and no web process type, so a push ends with the release
and is not waiting for a dyno to answer. Its web variant (issue 17) adds a Procfile with
`web: python -m http.server $PORT` (boots in ~50 ms), so its push ends with
`Verifying deploy... done.` once the new release's dyno answers.

The baselines are the same work done by hand: a plain `git http-backend` push
(`bench/plain_backend.py`) and pip in a virtual environment made from the same interpreter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench import REPO_ROOT, Server, commit_files, median, push_env, run_checked

APP_WHEELS = REPO_ROOT / ".wheels" / "apps"
# Five packages with no dependencies outside the list (werkzeug needs markupsafe).
REQUIREMENTS = "blinker\nclick\nitsdangerous\nmarkupsafe\nwerkzeug\n"
APP_PY = "import werkzeug\n\nprint('hello', {marker!r})\n"
WEB_PROCFILE = "web: python -m http.server $PORT\n"
PUSH_TIMEOUT = 300.0


def missing_wheels() -> str | None:
    """Why the benchmark cannot run, or None."""
    if not any(APP_WHEELS.glob("werkzeug-*.whl")):
        return "no .wheels/apps: run `make test-deps` first"
    return None


def client_env(home: Path) -> dict[str, str]:
    """The servers' and clients' environment: wheels from .wheels/apps only."""
    return push_env(home, APP_WHEELS)


def make_app(path: Path, env: dict[str, str], marker: str, *, web: bool = False) -> Path:
    """A git work tree with the sample app committed on `main` (`web`: with a web process)."""
    files = {
        "requirements.txt": REQUIREMENTS,
        ".python-version": "3.12\n",
        "app.py": APP_PY.format(marker=marker),
    }
    if web:
        files["Procfile"] = WEB_PROCFILE
    return commit_files(path, env, files)


def change_code(path: Path, env: dict[str, str], marker: str) -> None:
    """A code-only commit: app.py changes, requirements.txt does not."""
    commit_files(path, env, {"app.py": APP_PY.format(marker=marker)}, f"change {marker}")


def plain_server(python: str, root: Path, logs: Path, env: dict[str, str]) -> Server:
    """The baseline server: plain `git http-backend`, no hooks, repositories under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    argv = [python, str(REPO_ROOT / "bench" / "plain_backend.py"), "--root", str(root)]
    return Server("plain", argv, logs, env=env, cwd=REPO_ROOT)


def plain_repo(server: Server, root: Path, app: str, env: dict[str, str]) -> str:
    """Create a bare repository the plain server accepts pushes to; return its URL."""
    repo = root / f"{app}.git"
    run_checked(["git", "init", "-q", "--bare", str(repo)], env=env)
    run_checked(["git", "config", "http.receivepack", "true"], cwd=repo, env=env)
    return f"{server.url}/{app}.git"


def timed_push(repo: Path, url: str, env: dict[str, str], ref: str = "main") -> float:
    """Wall time of one `git push`; a rejected push is an error (the figure would be a lie)."""
    start = time.perf_counter()
    pushed = subprocess.run(
        ["git", "push", "-q", url, ref],
        cwd=repo,
        env=env,
        capture_output=True,
        timeout=PUSH_TIMEOUT,
    )
    elapsed = time.perf_counter() - start
    if pushed.returncode != 0:
        raise RuntimeError(f"push to {url} failed:\n{pushed.stderr.decode(errors='replace')}")
    return elapsed


@dataclass(frozen=True)
class PushLines:
    """A `git push` with the time (seconds from its start) each line of its stderr arrived."""

    wall_s: float
    lines: list[tuple[float, str]]

    def first(self, needle: str) -> tuple[float, str]:
        """The first line containing `needle`; a push without it is an error."""
        for at, line in self.lines:
            if needle in line:
                return at, line
        raise RuntimeError(f"the push printed no line with {needle!r}")

    def between(self, start: str, end: str) -> float:
        return self.first(end)[0] - self.first(start)[0]

    def released_version(self) -> int:
        found = re.search(r"Released v(\d+)", self.first("Released v")[1])
        assert found is not None
        return int(found.group(1))


def timed_push_lines(repo: Path, url: str, env: dict[str, str], ref: str = "main") -> PushLines:
    """`git push --progress`, its stderr read as it arrives and each line timestamped."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["git", "push", "--progress", url, ref],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    lines: list[tuple[float, str]] = []
    pending = b""
    with proc.stderr:
        while chunk := os.read(proc.stderr.fileno(), 65536):
            at = time.perf_counter() - start
            pending += chunk
            *complete, pending = re.split(rb"[\r\n]", pending)
            lines.extend((at, raw.decode(errors="replace")) for raw in complete if raw)
    code = proc.wait(timeout=PUSH_TIMEOUT)
    elapsed = time.perf_counter() - start
    if pending:
        lines.append((elapsed, pending.decode(errors="replace")))
    if code != 0:
        text = "\n".join(line for _, line in lines)
        raise RuntimeError(f"push to {url} failed:\n{text}")
    return PushLines(elapsed, lines)


def release_timeline(log: Path, version: int) -> dict[str, float]:
    """From the app's log: seconds from `Release vN created` to the new web dyno's
    `Starting process` (`release→start`) and from there to its `up` (`start→up`)."""
    created = starting = up = None
    for line in log.read_text(errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        if created is None:
            if f"Release v{version} created" in text:
                created = _log_time(stamp)
        elif starting is None:
            if text.startswith("heroku[web.1]: Starting process"):
                starting = _log_time(stamp)
        elif "State changed from starting to up" in text:
            up = _log_time(stamp)
            break
    if created is None or starting is None or up is None:
        raise RuntimeError(f"the log of {log.stem} has no start of v{version}'s web dyno")
    return {"release→start": starting - created, "start→up": up - starting}


def _log_time(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    run_checked(argv, cwd=cwd, env=env)
    return time.perf_counter() - start


def newest_report(data: Path, app: str) -> dict[str, object]:
    """The app's newest JSON build report (the hook's own account of the build)."""
    reports = sorted((data / "builds" / app).glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        raise RuntimeError(f"no build report for {app} under {data}")
    return json.loads(reports[-1].read_text())


def phase_seconds(report: dict[str, object]) -> dict[str, float]:
    phases = report.get("phases") or []
    assert isinstance(phases, list)
    return {str(p["name"]): float(p["duration_seconds"]) for p in phases}


def phase_summary(runs: list[dict[str, float]]) -> str:
    """`detect 0.01 s, restore 0.16 s, …`: each phase's median over the runs."""
    names = list(runs[0]) if runs else []
    return ", ".join(f"{n} {median([r.get(n, 0.0) for r in runs]):.2f} s" for n in names)


def busy_warnings(shares: list[float], limit: float = 0.05) -> list[str]:
    """A warning when other processes took more than `limit` of the CPUs during some runs."""
    busy = [share for share in shares if share > limit]
    if not busy:
        return []
    return [
        f"other processes used up to {max(busy):.0%} of the CPUs during {len(busy)} of "
        f"{len(shares)} runs: rerun on a quiet machine before trusting a close call"
    ]
