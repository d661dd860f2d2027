"""Benchmark `output_flood`: a build command printing far more than the output budget.

Definition. `gitserver.pipeline.commands.run_streamed`, the read loop every build command's
output goes through, runs `sh -c` printing (a) 200 MB in 100-byte lines and (b) one 50 MB
line, with the default budget (CEDARBOX_BUILD_OUTPUT_MAX_BYTES, 10 MiB). The figure is the
wall time from start to the command's exit status (targets: 10 s and 2 s). The baseline, for
information, is the producer alone with its output sent to /dev/null. Before the budget and
the linear splitter, (b) re-joined the unfinished line on every 64 KiB read (quadratic: the
build timed out) and (a) was streamed and kept whole.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from bench import Benchmark, Context, Result, Row, Target, median

# label: (command, target on the wall time). The targets are absolute: on the shared 2-core
# machine the producer alone varies by 2x from run to run, so a ratio would judge the noise.
# The old quadratic loop took minutes on the 50 MB line.
Floods = dict[str, tuple[str, Target | None]]
FLOODS: Floods = {
    "200 MB in lines": (
        "head -c 200000000 /dev/zero | tr '\\0' x | fold -w 99",
        Target(10.0, "absolute"),
    ),
    "one 50 MB line": ("head -c 50000000 /dev/zero | tr '\\0' y; echo", Target(2.0, "absolute")),
}
QUICK_FLOODS: Floods = {
    "20 MB in lines": ("head -c 20000000 /dev/zero | tr '\\0' x | fold -w 99", None),
    "one 5 MB line": ("head -c 5000000 /dev/zero | tr '\\0' y; echo", None),
}


def run(ctx: Context) -> Result:
    # Imported here: the harness lists every benchmark without needing cedarbox importable.
    from gitserver.pipeline.commands import run_streamed
    from tests.unit.buildctx import make_context

    rows: list[Row] = []
    notes: list[str] = []
    floods = QUICK_FLOODS if ctx.quick else FLOODS
    for label, (script, target) in floods.items():
        cedarbox: list[float] = []
        baseline: list[float] = []
        stored: list[int] = []
        for _ in range(ctx.runs):
            with tempfile.TemporaryDirectory(dir=ctx.workdir) as scratch:
                build = make_context(Path(scratch))
                lines: list[str] = []
                started = time.perf_counter()
                code = run_streamed(build, ["sh", "-c", script], on_line=lines.append)
                cedarbox.append(time.perf_counter() - started)
                assert code == 0
                stored.append(sum(len(line) + 1 for line in lines))
            started = time.perf_counter()
            subprocess.run(["sh", "-c", script], stdout=subprocess.DEVNULL, check=True)
            baseline.append(time.perf_counter() - started)
        rows.append(Row(f"{label}: run_streamed", median(cedarbox), "s", median(baseline), target))
        rows.append(Row(f"{label}: output kept", float(max(stored)), "B", stat="max"))
    notes.append("baseline: the same command with its output to /dev/null (no cedarbox)")
    return Result(rows=rows, notes=notes, details={"runs": ctx.runs})


BENCHMARK = Benchmark("output_flood", "a build command printing 200 MB, and a 50 MB line", run)
