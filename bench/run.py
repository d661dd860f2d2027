"""`make bench`: run cedarbox's benchmarks, print a results table, write bench/results/latest.json.

    .venv/bin/python bench/run.py [--only NAME] [--runs N] [--quick] [--keep]

Every benchmark is a `bench.Benchmark` in BENCHMARKS below; to add one, write a module with
a `BENCHMARK` and list it there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    Benchmark,
    Context,
    Result,
    Row,
    auth,
    cold_build,
    concurrency,
    ephemeral,
    first_line,
    first_response,
    format_value,
    output_flood,
    pip_step,
    platform_api,
    receive,
    sandbox,
    tls,
    uv_redeploy,
    warm_redeploy,
)

BENCHMARKS: list[Benchmark] = [
    receive.BENCHMARK,
    warm_redeploy.BENCHMARK,
    cold_build.BENCHMARK,
    first_response.BENCHMARK,
    concurrency.BENCHMARK,
    first_line.BENCHMARK,
    pip_step.BENCHMARK,
    uv_redeploy.BENCHMARK,
    output_flood.BENCHMARK,
    ephemeral.BENCHMARK,
    tls.BENCHMARK,
    platform_api.BENCHMARK,
    sandbox.BENCHMARK,
    auth.BENCHMARK,
]

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [b.name for b in BENCHMARKS]
    parser.add_argument("--only", action="append", choices=names, help="run only this benchmark")
    parser.add_argument("--runs", type=int, default=5, help="measured runs per benchmark")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke test")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    selected = [b for b in BENCHMARKS if not args.only or b.name in args.only]

    workdir = Path(tempfile.mkdtemp(prefix="cedarbox-bench-"))
    ctx = Context(runs=args.runs, quick=args.quick, workdir=workdir)
    started = time.time()
    load_before = os.getloadavg()
    results: list[tuple[Benchmark, Result]] = []
    try:
        for bench in selected:
            print(f"== {bench.name}: {bench.description}", file=sys.stderr, flush=True)
            bench_dir = workdir / bench.name
            bench_dir.mkdir()
            t0 = time.perf_counter()
            result = bench.run(dataclasses.replace(ctx, workdir=bench_dir))
            result.details["elapsed_s"] = round(time.perf_counter() - t0, 1)
            results.append((bench, result))
    finally:
        if args.keep:
            print(f"scratch directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print_table(results, args.quick)
    for bench, result in results:
        for warning in result.warnings:
            print(f"\nWARNING ({bench.name}): {warning}")
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "elapsed_s": round(time.time() - started, 1),
        "options": {"runs": args.runs, "quick": args.quick, "only": args.only},
        "host": host_info(load_before),
        "benchmarks": [
            {
                "name": bench.name,
                "description": bench.description,
                "rows": [row.to_json() for row in result.rows],
                "notes": result.notes,
                "warnings": result.warnings,
                "details": result.details,
            }
            for bench, result in results
        ],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.output}")
    missed = [row for _, result in results for row in result.rows if row.status == "MISS"]
    return 1 if missed and not args.quick else 0


def print_table(results: list[tuple[Benchmark, Result]], quick: bool) -> None:
    """The results table; with --quick, targets are shown but not judged (inputs too small)."""
    header = ("benchmark", "metric", "stat", "value", "baseline", "ratio", "target", "result")
    lines: list[tuple[str, ...]] = [header]
    for bench, result in results:
        runs = result.details.get("runs", "")
        lines.extend(_cells(bench.name, row, runs, quick) for row in result.rows)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * width for width in widths))
    for bench, result in results:
        if result.notes:
            print(f"\n{bench.name}:")
            for note in result.notes:
                print(f"  - {note}")


def _cells(name: str, row: Row, runs: object, quick: bool) -> tuple[str, ...]:
    status = row.status
    if quick and status in ("PASS", "MISS"):
        status = f"({status.lower()}, quick)"
    return (
        name,
        row.metric,
        f"{row.stat} of {runs}" if runs and row.stat in ("median", "max") else row.stat,
        format_value(row.value, row.unit),
        format_value(row.baseline, row.unit) if row.baseline is not None else "-",
        f"{row.ratio:.3f}" if row.ratio is not None else "-",
        row.target.describe(row.unit) if row.target else "-",
        status,
    )


def host_info(load_before: tuple[float, float, float]) -> dict[str, object]:
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "git": git,
        "kernel": platform.release(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }


if __name__ == "__main__":
    sys.exit(main())
