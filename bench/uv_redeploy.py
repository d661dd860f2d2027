"""Benchmark `uv_redeploy`: a code-only change pushed to a uv app whose 5 dependencies are cached.

The uv app is the warm_redeploy sample app (bench/pythonapp.py: blinker, click, itsdangerous,
markupsafe, werkzeug from `.wheels/apps`, `.python-version` 3.12, no web process type) as a
uv project: a pyproject.toml declaring `.wheels/apps` as its `[[tool.uv.index]]` and a uv.lock
made by the pinned uv, offline. It is pushed once (cold, not counted), then once more (the
warm-up, not counted); each run then commits a code-only change and pushes it: the build
restores the cache, reuses the cached uv, `uv sync --locked` finds everything installed,
the slug is exported and a release made. Measured: the wall time of that `git push`.

The floor is the same deploy done by hand: the commit pushed to a plain `git http-backend`
plus a no-op `uv sync --locked` into a ready environment made from the same interpreter.
The pip app's warm redeploy (the same dependencies in requirements.txt) is measured beside
it, on the same server, for comparison.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench import (
    Benchmark,
    Context,
    ForeignCpu,
    Result,
    Row,
    Target,
    cedarbox_server,
    commit_files,
    median,
    run_checked,
)
from bench.pythonapp import (
    APP_PY,
    APP_WHEELS,
    REQUIREMENTS,
    busy_warnings,
    change_code,
    client_env,
    make_app,
    missing_wheels,
    newest_report,
    phase_seconds,
    phase_summary,
    plain_repo,
    plain_server,
    timed,
    timed_push,
)
from tests.support.server import TOOL_WHEELS

TARGET_RATIO = 1.25
UV_VERSION = "0.12.5"  # heroku-24's pin (gitserver/pipeline/profiles/heroku-24.json)


@dataclass
class Run:
    number: int
    push_s: float  # cedarbox, the uv app: the whole `git push`
    plain_push_s: float
    uv_noop_s: float
    uv_full_s: float  # the build's own command, `--compile-bytecode` and all, as a no-op
    pip_push_s: float  # cedarbox, the pip app
    phases: dict[str, float]
    foreign_share: float

    @property
    def floor_s(self) -> float:
        return self.plain_push_s + self.uv_noop_s

    def to_json(self) -> dict[str, object]:
        return {
            "run": self.number,
            "push_s": round(self.push_s, 3),
            "plain_push_s": round(self.plain_push_s, 3),
            "uv_noop_s": round(self.uv_noop_s, 3),
            "uv_full_s": round(self.uv_full_s, 3),
            "pip_push_s": round(self.pip_push_s, 3),
            "phases": self.phases,
            "foreign_cpu_share": round(self.foreign_share, 3),
        }


def _uv_binary(directory: Path) -> Path | None:
    wheel = next(iter(sorted(TOOL_WHEELS.glob(f"uv-{UV_VERSION}-*.whl"))), None)
    if wheel is None:
        return None
    target = directory / "uv"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        target.write_bytes(zf.read(f"uv-{UV_VERSION}.data/scripts/uv"))
    target.chmod(0o755)
    return target


def _uv_env(env: dict[str, str], home: Path, python: str, project_env: Path) -> dict[str, str]:
    return {
        **env,
        "UV_CACHE_DIR": str(home / "uv-cache"),
        "UV_OFFLINE": "1",
        "UV_NO_MANAGED_PYTHON": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON": python,
        "UV_PROJECT_ENVIRONMENT": str(project_env),
    }


def _pyproject() -> str:
    deps = ", ".join(f'"{name}"' for name in REQUIREMENTS.split())
    return (
        '[project]\nname = "uv-redeploy"\nversion = "0.1.0"\nrequires-python = ">=3.12"\n'
        f"dependencies = [{deps}]\n\n"
        f'[[tool.uv.index]]\nname = "apps"\nurl = "{APP_WHEELS}"\nformat = "flat"\n'
    )


def run(ctx: Context) -> Result:
    from tests.unit.buildctx_pkg import find_interpreter

    missing = missing_wheels()
    if missing:
        return Result(rows=[], warnings=[missing])
    interp = find_interpreter("3.12")
    uv = _uv_binary(ctx.workdir / "uv-bin")
    if uv is None or interp is None:
        return Result(rows=[], warnings=[f"needs the uv {UV_VERSION} wheel and a Python 3.12"])
    env = client_env(ctx.workdir / "home")
    server_env = {**env, "UV_OFFLINE": "1"}
    logs = ctx.workdir / "logs"
    logs.mkdir()
    data = ctx.workdir / "data"
    plain_root = ctx.workdir / "plain"
    venv = ctx.workdir / "venv"
    uv_env = _uv_env(env, ctx.workdir / "home", str(interp.path), venv)
    runs: list[Run] = []

    repo = ctx.workdir / "uv-app"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(_pyproject())
    run_checked([str(uv), "lock", "--quiet"], cwd=repo, env=uv_env)
    commit_files(repo, env, {".python-version": "3.12\n", "app.py": APP_PY.format(marker="v0")})
    pip_repo = make_app(ctx.workdir / "pip-app", env, "v0")
    sync = [str(uv), "sync", "--locked", "--no-default-groups", "--quiet"]
    full = [*sync, "--compile-bytecode", "--color", "always", "--no-progress"]
    with (
        cedarbox_server(ctx, data, server_env, logs) as cedarbox,
        plain_server(ctx.python, plain_root, logs, env) as plain,
    ):
        url = f"{cedarbox.url}/uv-redeploy.git"
        pip_url = f"{cedarbox.url}/pip-redeploy.git"
        plain_url = plain_repo(plain, plain_root, "uv-redeploy", env)
        ctx.log("cold builds (not counted) …")
        timed_push(repo, url, env)
        timed_push(pip_repo, pip_url, env)
        timed_push(repo, plain_url, env)
        timed([str(interp.path), "-m", "venv", str(venv)], env, ctx.workdir)
        timed(sync, uv_env, repo)  # installs: the runs' syncs are then no-ops

        pids = (cedarbox.pid, plain.pid)
        for number in range(0, ctx.runs + 1):  # run 0 is the warm-up
            change_code(repo, env, f"v{number + 1}")
            change_code(pip_repo, env, f"v{number + 1}")
            os.sync()
            with ForeignCpu(*pids) as foreign:
                if number % 2:
                    plain_s = timed_push(repo, plain_url, env)
                    noop_s = timed(sync, uv_env, repo)
                    push_s = timed_push(repo, url, env)
                else:
                    push_s = timed_push(repo, url, env)
                    plain_s = timed_push(repo, plain_url, env)
                    noop_s = timed(sync, uv_env, repo)
                pip_s = timed_push(pip_repo, pip_url, env)
            full_s = timed(full, uv_env, repo)
            report = newest_report(data, "uv-redeploy")
            if report.get("outcome") != "succeeded":
                raise RuntimeError(f"build of run {number} did not succeed: {report}")
            if number == 0:
                continue
            measured = Run(
                number, push_s, plain_s, noop_s, full_s, pip_s, phase_seconds(report), foreign.share
            )
            runs.append(measured)
            ctx.log(
                f"run {number}: uv app {push_s:.3f} s; floor {measured.floor_s:.3f} s "
                f"(push {plain_s:.3f} + uv sync {noop_s:.3f}); pip app {pip_s:.3f} s"
            )
    return _result(runs)


def _result(runs: list[Run]) -> Result:
    push = median([r.push_s for r in runs])
    rows = [
        Row(
            "uv app: git push vs plain push + uv sync no-op by hand",
            push,
            "s",
            baseline=median([r.floor_s for r in runs]),
            target=Target(TARGET_RATIO, "ratio"),
        ),
        Row("by hand: plain git push", median([r.plain_push_s for r in runs]), "s"),
        Row("by hand: uv sync --locked (no-op)", median([r.uv_noop_s for r in runs]), "s"),
        Row(
            "by hand: the build's uv sync (+ --compile-bytecode), no-op",
            median([r.uv_full_s for r in runs]),
            "s",
        ),
        Row("pip app (same dependencies): git push", median([r.pip_push_s for r in runs]), "s"),
    ]
    notes = [
        f"app: {len(REQUIREMENTS.split())} cached dependencies (real wheels) locked by uv "
        f"{UV_VERSION}, .python-version 3.12, no web process type; one code-only commit a run",
        "cedarbox build phases of the uv app (medians, the build report's clock): "
        + phase_summary([r.phases for r in runs]),
        "after each push cedarbox copies the cache entries (.heroku and the uv binary) for the "
        "next build in a detached process (nice 19)",
    ]
    return Result(
        rows=rows,
        notes=notes,
        warnings=busy_warnings([r.foreign_share for r in runs]),
        details={"runs": len(runs), "measured": [r.to_json() for r in runs]},
    )


BENCHMARK = Benchmark(
    "uv_redeploy",
    "code-only change of a uv app with 5 cached dependencies: the whole git push",
    run,
)
