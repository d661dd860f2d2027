"""Benchmark `sandbox`: what running app code in bubblewrap costs (gitserver/sandbox.py).

- per build step: handing the build's directories to the app's uid (`chown -R` of a tree of
  3,000 files, a warm `.heroku` is of that order) plus making the step's control group,
  starting `true` in the build's sandbox in it and removing the group, minus starting `true`
  bare; and the control group's own share (the same without a group: prlimit instead);
- per dyno start: the same for a dyno's tree (the sandbox decided per start, as a launch does);
- warm redeploy: the whole `git push` of a code-only change (bench/warm_redeploy.py's app, 5
  cached dependencies) with the sandbox against a server with CEDARBOX_SANDBOX=off, pushes
  alternating between the two.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

from bench import Benchmark, Context, Result, Row, Target, cedarbox_server, median
from bench.pythonapp import change_code, client_env, make_app, missing_wheels, timed_push
from gitserver import cgroups, sandbox
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


def _step_cost(ctx: Context, runs: int) -> tuple[float, float, float]:
    """(sandboxed in a group, sandboxed without one, bare) seconds of a build step's `true`."""
    settings = Settings(data_dir=ctx.workdir / "data")
    build = _tree(ctx.workdir / "build", 300 if ctx.quick else FILES)
    mode = sandbox.mode("auto")
    identity = sandbox.app_identity(settings.data_dir, "bench") if mode.per_app_uid else None
    limits = cgroups.Limits(settings.build_max_processes, settings.build_max_memory_mb << 20)

    def step(grouped: bool) -> float:
        started = time.perf_counter()
        sandbox.give(identity, [build])
        with contextlib.ExitStack() as stack:
            group = None
            if grouped:
                group = stack.enter_context(
                    cgroups.group_for(settings.data_dir, "bench", "build", limits)
                )
            argv = sandbox.wrap(
                sandbox.Policy(
                    app="bench",
                    identity=identity,
                    writable=(build,),
                    readonly=sandbox.readonly_roots(tool_wheels=settings.tool_wheels),
                    cwd=build,
                    max_processes=settings.build_max_processes,
                    cgroup=group,
                ),
                ["true"],
            )
            subprocess.run(argv, check=True, capture_output=True)
        return time.perf_counter() - started

    grouped, ungrouped, bare = [], [], []
    for _ in range(runs):
        grouped.append(step(True))
        ungrouped.append(step(False))
        bare.append(_timed(["true"]))
    return median(grouped), median(ungrouped), median(bare)


def _dyno_cost(ctx: Context, runs: int) -> tuple[float, float, float]:
    settings = Settings(data_dir=ctx.workdir / "data")
    home = _tree(ctx.workdir / "dyno", 300 if ctx.quick else FILES)

    def start(grouped: bool) -> float:
        started = time.perf_counter()
        box = DynoSandbox.for_app(settings, "bench")
        box.port()
        group = box.new_group("web.1") if grouped else None
        subprocess.run(box.command(home, ["true"], group=group), check=True, capture_output=True)
        if group is not None:
            group.remove()
        return time.perf_counter() - started

    grouped, ungrouped, bare = [], [], []
    for _ in range(runs):
        grouped.append(start(True))
        ungrouped.append(start(False))
        bare.append(_timed(["true"]))
    return median(grouped), median(ungrouped), median(bare)


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
    step, step_ungrouped, step_bare = _step_cost(ctx, runs)
    dyno, dyno_ungrouped, dyno_bare = _dyno_cost(ctx, runs)
    target = Target(TARGET_SECONDS, "absolute")
    rows = [
        Row("sandbox cost per build step", step - step_bare, "s", target=target),
        Row("sandbox cost per dyno start", dyno - dyno_bare, "s", target=target),
    ]
    groups = cgroups.backend(Settings(data_dir=ctx.workdir / "data").data_dir)
    if isinstance(groups, cgroups.Backend):
        rows += [
            Row("of it, the build step's cgroup", step - step_ungrouped, "s"),
            Row("of it, the dyno's cgroup", dyno - dyno_ungrouped, "s"),
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
        cgroups.status_line(ctx.workdir / "data"),
        f"per step and per dyno: chown -R of {FILES} files, a cgroup made and removed, and "
        "`true` in the sandbox in it "
        f"({step:.4f} s, {dyno:.4f} s) minus `true` bare ({step_bare:.4f} s, {dyno_bare:.4f} s)",
    ]
    return Result(rows=rows, notes=notes, warnings=warnings)


BENCHMARK = Benchmark("sandbox", "what the bubblewrap sandbox costs builds and dynos", run)
