"""Benchmark `pip_step`: the Python buildpack's pip step, cold and warm, and its cached pip plan.

Each run builds a fresh heroku-24 context (tests/unit/buildctx_pkg.py: real Settings, stack
rules, Output and report; pip limited to a local wheelhouse), installs `hello-world==1.0`
(and its dependency) into a new `.heroku/python` (cold: the pinned pip and setuptools are
bootstrapped from the tool wheels), then runs the step again on the same environment (warm:
a restored cache, nothing to install). Measured: the wall time of each. The unit tests check
that the warm step reinstalls nothing; how fast that is is measured here.

Also measured: the second `planned_pip_version` of a build whose pinned pip is unavailable
(cache_rules asks twice per build; the first answer runs the interpreter's ensurepip).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from bench import Benchmark, Context, Result, Row, Target, median
from tests.support.server import TOOL_WHEELS

WARM_TARGET_SECONDS = 1.5
CACHED_PLAN_TARGET_SECONDS = 0.05


def run(ctx: Context) -> Result:
    # Imported here: the harness lists every benchmark without needing cedarbox importable.
    from gitserver.buildpacks.python import managers, tools
    from gitserver.buildpacks.python.checks import check_package_manager
    from tests.support.wheelhouse import build_wheel
    from tests.unit.buildctx_pkg import chosen, current_interpreter, make_ctx, make_env

    if not (TOOL_WHEELS / "pip-26.2.1-py3-none-any.whl").is_file():
        return Result(rows=[], warnings=[f"pinned tool wheels missing in {TOOL_WHEELS}"])
    house = ctx.workdir / "wheelhouse"
    house.mkdir()
    build_wheel(house, "greet", "2.0")
    build_wheel(house, "hello-world", "1.0", requires=["greet>=2"])
    interpreter = current_interpreter()
    python = chosen(interpreter)
    files = {"requirements.txt": "hello-world==1.0\n"}
    cold_s: list[float] = []
    warm_s: list[float] = []
    plan_s: list[float] = []
    for number in range(1, ctx.runs + 1):
        root = ctx.workdir / f"run-{number}"
        build = make_ctx(root / "cold", wheelhouse=house, files=files)
        make_env(build, interpreter)
        cold_s.append(_timed(managers.install, build, python, check_package_manager(build)))
        again = make_ctx(root / "warm", wheelhouse=house, build_dir=build.build_dir)
        warm_s.append(_timed(managers.install, again, python, check_package_manager(again)))
        no_wheels = root / "no-wheels"
        no_wheels.mkdir()
        bundled = make_ctx(root / "bundled", tool_wheels=no_wheels)
        tools.bundled_pip_version.cache_clear()
        tools.planned_pip_version(bundled, python)
        plan_s.append(_timed(tools.planned_pip_version, bundled, python))
        shutil.rmtree(root)
        ctx.log(f"run {number}: cold {cold_s[-1]:.3f} s, warm {warm_s[-1]:.3f} s")
    warm, cold = median(warm_s), median(cold_s)
    rows = [
        Row("warm pip step", warm, "s", target=Target(WARM_TARGET_SECONDS, "absolute")),
        Row("warm pip step vs cold", warm, "s", baseline=cold, target=Target(1.0, "ratio")),
        Row("cold pip step", cold, "s"),
        Row(
            "cached planned_pip_version",
            median(plan_s),
            "s",
            target=Target(CACHED_PLAN_TARGET_SECONDS, "absolute"),
        ),
    ]
    notes = [f"interpreter: {interpreter.version} ({Path(interpreter.path)})"]
    return Result(rows=rows, notes=notes, details={"runs": ctx.runs})


def _timed(step: Callable[..., object], *args: object) -> float:
    """Seconds `step(*args)` took."""
    start = time.perf_counter()
    step(*args)
    return time.perf_counter() - start


BENCHMARK = Benchmark("pip_step", "the buildpack's pip step, cold and warm (no network)", run)
