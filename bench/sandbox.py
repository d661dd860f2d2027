"""Benchmark `sandbox`: what running app code in bubblewrap costs (gitserver/sandbox.py).

- per build step: handing the build's directories to the app's uid (`chown -R` of a tree of
  3,000 files, a warm `.heroku` is of that order) plus starting `true` in the build's sandbox,
  minus starting `true` bare;
- per dyno start: the same for a dyno's tree (the sandbox decided per start, as a launch does);
- warm redeploy: the whole `git push` of a code-only change (bench/warm_redeploy.py's app, 5
  cached dependencies) with the sandbox against a server with CEDARBOX_SANDBOX=off, pushes
  alternating between the two.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bench import Benchmark, Context, Result, Row, Target, cedarbox_server, median
from bench.pythonapp import change_code, client_env, make_app, missing_wheels, timed_push
from gitserver import sandbox
from gitserver.runner.sandboxing import DynoSandbox
from gitserver.settings import Settings

TARGET_SECONDS = 0.050
TARGET_RATIO = 1.05
FILES = 3000


def _tree(root: Path, files: int) -> Path:
    for i in range(files):
        path = root / f"d{i // 100}" / f"f{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    return root


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def _step_cost(ctx: Context, runs: int) -> tuple[float, float]:
    """(sandboxed, bare) seconds of one build step running `true`."""
    settings = Settings(data_dir=ctx.workdir / "data")
    build = _tree(ctx.workdir / "build", 300 if ctx.quick else FILES)
    mode = sandbox.mode("auto")
    identity = sandbox.app_identity(settings.data_dir, "bench") if mode.per_app_uid else None
    wrapped, bare = [], []
    for _ in range(runs):
        started = time.perf_counter()
        sandbox.give(identity, [build])
        argv = sandbox.wrap(
            sandbox.Policy(
                app="bench",
                identity=identity,
                writable=(build,),
                readonly=sandbox.readonly_roots(tool_wheels=settings.tool_wheels),
                cwd=build,
                max_processes=settings.build_max_processes,
            ),
            ["true"],
        )
        subprocess.run(argv, check=True, capture_output=True)
        wrapped.append(time.perf_counter() - started)
        bare.append(_timed(["true"]))
    return median(wrapped), median(bare)


def _dyno_cost(ctx: Context, runs: int) -> tuple[float, float]:
    settings = Settings(data_dir=ctx.workdir / "data")
    home = _tree(ctx.workdir / "dyno", 300 if ctx.quick else FILES)
    wrapped, bare = [], []
    for _ in range(runs):
        started = time.perf_counter()
        box = DynoSandbox.for_app(settings, "bench")
        box.port()
        subprocess.run(box.command(home, ["true"]), check=True, capture_output=True)
        wrapped.append(time.perf_counter() - started)
        bare.append(_timed(["true"]))
    return median(wrapped), median(bare)


def _redeploys(ctx: Context) -> tuple[float, float] | None:
    """(sandboxed, CEDARBOX_SANDBOX=off) medians of a warm redeploy's git push."""
    if missing_wheels():
        return None
    env = client_env(ctx.workdir / "home")
    pushes: dict[str, list[float]] = {"auto": [], "off": []}
    urls = {}
    servers = []
    repos = {}
    try:
        for setting in pushes:
            logs = ctx.workdir / f"logs-{setting}"
            logs.mkdir()
            server_env = {**env, "CEDARBOX_SANDBOX": setting}
            server = cedarbox_server(ctx, ctx.workdir / f"data-{setting}", server_env, logs)
            servers.append(server)
            urls[setting] = f"{server.url}/redeploy.git"
            repos[setting] = make_app(ctx.workdir / f"app-{setting}", env, "v0")
            ctx.log(f"cold build, sandbox {setting} (not counted) …")
            timed_push(repos[setting], urls[setting], env)
        for number in range(ctx.runs + 1):  # run 0 is the warm-up
            order = list(pushes) if number % 2 else list(reversed(pushes))
            for setting in order:
                change_code(repos[setting], env, f"v{number + 1}")
                seconds = timed_push(repos[setting], urls[setting], env)
                if number:
                    pushes[setting].append(seconds)
            ctx.log(f"run {number}: " + ", ".join(f"{k} {v[-1:]}" for k, v in pushes.items()))
    finally:
        for server in servers:
            server.stop()
    return median(pushes["auto"]), median(pushes["off"])


def run(ctx: Context) -> Result:
    try:
        mode = sandbox.mode("auto")
    except sandbox.SandboxUnavailable as exc:
        return Result(rows=[], warnings=[f"{exc.message} {exc.hint}"])
    runs = max(ctx.runs * 4, 8)
    step, step_bare = _step_cost(ctx, runs)
    dyno, dyno_bare = _dyno_cost(ctx, runs)
    target = Target(TARGET_SECONDS, "absolute")
    rows = [
        Row("sandbox cost per build step", step - step_bare, "s", target=target),
        Row("sandbox cost per dyno start", dyno - dyno_bare, "s", target=target),
    ]
    warnings = []
    redeploys = _redeploys(ctx)
    if redeploys is None:
        warnings.append(f"warm redeploy skipped: {missing_wheels()}")
    else:
        rows.append(
            Row(
                "warm redeploy git push, sandboxed vs CEDARBOX_SANDBOX=off",
                redeploys[0],
                "s",
                baseline=redeploys[1],
                target=Target(TARGET_RATIO, "ratio"),
            )
        )
    notes = [
        mode.describe(),
        f"per step and per dyno: chown -R of {FILES} files and `true` in the sandbox "
        f"({step:.4f} s, {dyno:.4f} s) minus `true` bare ({step_bare:.4f} s, {dyno_bare:.4f} s)",
    ]
    return Result(rows=rows, notes=notes, warnings=warnings)


BENCHMARK = Benchmark("sandbox", "what the bubblewrap sandbox costs builds and dynos", run)
