"""Benchmark `cold_build`: the sample app pushed to a new app, so the build starts with no cache.

Each run pushes the sample app (bench/pythonapp.py: 5 dependencies, real wheels) to a fresh
app on a cedarbox server: the build makes `.heroku/python` from the host's Python 3.12,
installs the stack's pip from `.wheels/tools`, installs the requirements, exports the slug,
saves the cache and records a release. Measured: the wall time of that `git push`.

The baseline is the same done by hand, from the same interpreter and the same wheelhouse:
the commit pushed to a plain `git http-backend` (no hooks), then `python -m venv` and
`pip install -r requirements.txt` in a fresh directory. Each run does both, in alternating
order, after `sync`; one uncounted warm-up of each comes first (page cache, .pyc files of
the interpreter).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench import Benchmark, Context, ForeignCpu, Result, Row, Target, cedarbox_server, median
from bench.pythonapp import (
    REQUIREMENTS,
    busy_warnings,
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

TARGET_RATIO = 1.15


@dataclass
class Run:
    number: int
    push_s: float  # cedarbox: the whole `git push`
    build_s: float  # the build report's own duration (detect → save cache)
    plain_push_s: float
    venv_s: float
    pip_s: float
    phases: dict[str, float]
    foreign_share: float

    @property
    def by_hand_s(self) -> float:
        return self.plain_push_s + self.venv_s + self.pip_s

    def to_json(self) -> dict[str, object]:
        return {
            "run": self.number,
            "push_s": round(self.push_s, 3),
            "build_s": self.build_s,
            "plain_push_s": round(self.plain_push_s, 3),
            "venv_s": round(self.venv_s, 3),
            "pip_s": round(self.pip_s, 3),
            "phases": self.phases,
            "foreign_cpu_share": round(self.foreign_share, 3),
        }


@dataclass(frozen=True)
class ByHand:
    """The baseline deploy: push to plain http-backend, then venv + pip install in `venv`."""

    repo: Path
    plain_url: str
    venv: Path
    env: dict[str, str]

    def deploy(self, interpreter: str) -> tuple[float, float, float]:
        """Seconds taken by the push, `python -m venv` and `pip install -r`."""
        push_s = timed_push(self.repo, self.plain_url, self.env)
        venv_s = timed([interpreter, "-m", "venv", str(self.venv)], self.env, self.repo)
        pip = [str(self.venv / "bin" / "pip"), "install", "-q", "-r", "requirements.txt"]
        return push_s, venv_s, timed(pip, self.env, self.repo)


def run(ctx: Context) -> Result:
    missing = missing_wheels()
    if missing:
        return Result(rows=[], warnings=[missing])
    env = client_env(ctx.workdir / "home")
    logs = ctx.workdir / "logs"
    logs.mkdir()
    data = ctx.workdir / "data"
    plain_root = ctx.workdir / "plain"
    repo = make_app(ctx.workdir / "app", env, "cold")
    venv = ctx.workdir / "venv"
    runs: list[Run] = []
    with (
        cedarbox_server(ctx, data, env, logs) as cedarbox,
        plain_server(ctx.python, plain_root, logs, env) as plain,
    ):
        interpreter = ""  # the host Python the build chose: known after the first push
        for number in range(0, ctx.runs + 1):  # run 0 is the warm-up
            app = f"cold-build-{number}"
            cedarbox_url = f"{cedarbox.url}/{app}.git"
            hand = ByHand(repo, plain_repo(plain, plain_root, app, env), venv, env)
            shutil.rmtree(venv, ignore_errors=True)
            os.sync()
            with ForeignCpu(cedarbox.pid, plain.pid) as foreign:
                if number % 2:
                    plain_s, venv_s, pip_s = hand.deploy(interpreter)
                    push_s = timed_push(repo, cedarbox_url, env)
                else:
                    push_s = timed_push(repo, cedarbox_url, env)
                    interpreter = str(newest_report(data, app)["python"]["interpreter"])  # type: ignore[index]
                    plain_s, venv_s, pip_s = hand.deploy(interpreter)
            report = newest_report(data, app)
            if report.get("outcome") != "succeeded" or report["cache"]["reused"]:  # type: ignore[index]
                raise RuntimeError(f"run {number} was not a successful cold build: {report}")
            if number == 0:
                continue
            measured = Run(
                number,
                push_s,
                float(report["duration_seconds"]),  # type: ignore[arg-type]
                plain_s,
                venv_s,
                pip_s,
                phase_seconds(report),
                foreign.share,
            )
            runs.append(measured)
            ctx.log(
                f"run {number}: git push {push_s:.3f} s (build {measured.build_s:.3f} s); by hand "
                f"{measured.by_hand_s:.3f} s (push {plain_s:.3f} + venv {venv_s:.3f} + "
                f"pip {pip_s:.3f})"
            )
    return _result(runs)


def _result(runs: list[Run]) -> Result:
    push = median([r.push_s for r in runs])
    by_hand = median([r.by_hand_s for r in runs])
    venv_pip = median([r.venv_s + r.pip_s for r in runs])
    rows = [
        Row(
            "git push vs plain push + venv + pip install by hand",
            push,
            "s",
            baseline=by_hand,
            target=Target(TARGET_RATIO, "ratio"),
        ),
        Row(
            "build alone (report) vs venv + pip install",
            median([r.build_s for r in runs]),
            "s",
            baseline=venv_pip,
        ),
        Row("by hand: plain git push", median([r.plain_push_s for r in runs]), "s"),
        Row("by hand: python -m venv", median([r.venv_s for r in runs]), "s"),
        Row("by hand: pip install -r", median([r.pip_s for r in runs]), "s"),
    ]
    phases = phase_summary([r.phases for r in runs])
    notes = [
        f"app: {len(REQUIREMENTS.split())} dependencies (real wheels, no index), "
        ".python-version 3.12, no web process type; a new app (empty cache) every run",
        f"cedarbox build phases (medians): {phases}",
        "by hand, `python -m venv` bootstraps the interpreter's bundled pip (ensurepip); the "
        "build installs the stack's pinned pip from .wheels/tools instead",
    ]
    return Result(
        rows=rows,
        notes=notes,
        warnings=busy_warnings([r.foreign_share for r in runs]),
        details={"runs": len(runs), "measured": [r.to_json() for r in runs]},
    )


BENCHMARK = Benchmark(
    "cold_build",
    "the same app pushed with an empty cache, against venv + pip install by hand",
    run,
)
