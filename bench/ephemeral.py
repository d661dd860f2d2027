"""Benchmark `ephemeral`: what `serve --ephemeral` and the pytest plugin cost a CI job.

- start: from spawning `cedarbox serve --ephemeral` to its JSON line, against the baseline of
  `cedarbox --data-dir TMP serve --port 0` to its `listening on` line (same process, same
  checks; the ephemeral one also makes its directory and key).
- stop: from SIGTERM to the process's exit, with its data directory removed.
- plugin import: what loading the `cedarbox` pytest plugin adds to a pytest run that does not
  use it (`-X importtime`, cumulative, of `gitserver.testing.plugin` after pytest itself).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

from bench import Benchmark, Context, Result, Row, Target, median
from tests.support.server import CEDARBOX, ROOT, isolated_env

START_RATIO_TARGET = 1.3
PLUGIN_IMPORT_TARGET_SECONDS = 0.01


def run(ctx: Context) -> Result:
    env = isolated_env(ctx.workdir, TMPDIR=str(ctx.workdir))
    start_s: list[float] = []
    baseline_s: list[float] = []
    stop_s: list[float] = []
    import_s: list[float] = []
    for number in range(1, ctx.runs + 1):
        ephemeral, seconds = _first_line(ctx, [*CEDARBOX, "serve", "--ephemeral"], env, number)
        data_dir = Path(json.loads(ephemeral.stdout_line)["data_dir"])
        start_s.append(seconds)
        stop_s.append(ephemeral.stop())
        if data_dir.exists():
            return Result(rows=[], warnings=[f"{data_dir} was left behind"])
        plain_dir = ctx.workdir / f"plain-{number}"
        plain, seconds = _first_line(
            ctx, [*CEDARBOX, "--data-dir", str(plain_dir), "serve", "--port", "0"], env, number
        )
        baseline_s.append(seconds)
        plain.stop()
        import_s.append(_plugin_import_seconds(ctx, env))
        ctx.log(f"run {number}: start {start_s[-1]:.3f} s (plain {baseline_s[-1]:.3f} s)")
    rows = [
        Row(
            "serve --ephemeral: spawn to JSON line",
            median(start_s),
            "s",
            baseline=median(baseline_s),
            target=Target(START_RATIO_TARGET, "ratio"),
        ),
        Row("serve --ephemeral: SIGTERM to exit, all removed", median(stop_s), "s"),
        Row(
            "pytest plugin import (unused)",
            median(import_s),
            "s",
            target=Target(PLUGIN_IMPORT_TARGET_SECONDS, "absolute"),
        ),
    ]
    notes = ["baseline of the start: `serve --port 0` on a fresh --data-dir to its first line"]
    return Result(rows=rows, notes=notes, details={"runs": ctx.runs})


class _Started:
    def __init__(self, proc: subprocess.Popen[str], line: str) -> None:
        self.proc = proc
        self.stdout_line = line

    def stop(self) -> float:
        start = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        return time.perf_counter() - start


def _first_line(
    ctx: Context, argv: list[str], env: dict[str, str], number: int
) -> tuple[_Started, float]:
    """Spawn `argv`, wait for its first stdout line; the seconds that took."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    seconds = time.perf_counter() - start
    if not line:
        raise RuntimeError(f"{' '.join(argv)} printed nothing (run {number})")
    return _Started(proc, line), seconds


def _plugin_import_seconds(ctx: Context, env: dict[str, str]) -> float:
    result = subprocess.run(
        [ctx.python, "-X", "importtime", "-c", "import pytest; import gitserver.testing.plugin"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    match = re.search(r"\|\s*(\d+) \| gitserver\.testing\.plugin$", result.stderr, re.M)
    if match is None:
        raise RuntimeError(f"no import time for the plugin:\n{result.stderr[-2000:]}")
    return int(match.group(1)) / 1e6


BENCHMARK = Benchmark("ephemeral", "serve --ephemeral start/stop; the pytest plugin's import", run)
