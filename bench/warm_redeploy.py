"""Benchmark `warm_redeploy`: a code-only change pushed to an app whose 5 dependencies are cached.

The sample app (bench/pythonapp.py) is pushed once to a cedarbox server (a cold build, not
counted), then one code-only commit is pushed and not counted (the warm-up), then each run
commits another code-only change and pushes it: the build restores the cache, pip finds
every requirement satisfied, the slug is exported and a release made. Measured: the wall
time of that `git push`.

The same app with a web process (`web: python -m http.server $PORT`, issue 17) is pushed the
same way to a second app of the same server, in the same runs: its push ends only once the
new release's dyno answers (`Verifying deploy... done.`), so it measures the dyno swap too.
Measured: the whole `git push`, and on its own the time from the `Released vN` line to the
`Verifying deploy... done.` line as the client sees them; the app's log says how much of
that is the wait for the dyno to start (`Release vN created` → `Starting process`) and how
much its boot (→ `State changed from starting to up`).

The baseline is the same deploy done by hand: the same commit pushed to a plain
`git http-backend` (no hooks) plus `pip install -r requirements.txt` in a virtual
environment that already has the requirements (a no-op install), from the same interpreter.
Each run does both, in alternating order, after `sync`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench import Benchmark, Context, ForeignCpu, Result, Row, Target, cedarbox_server, median
from bench.pythonapp import (
    REQUIREMENTS,
    PushLines,
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
    release_timeline,
    timed,
    timed_push,
    timed_push_lines,
)

TARGET_SECONDS = 1.0
TARGET_RATIO = 2.0
TARGET_WEB_RATIO = 1.5  # issue 17: the web app's whole push (verify included) vs the floor
TARGET_RELEASED_TO_VERIFIED = 0.5
RELEASED = "Released v"
VERIFIED = "Verifying deploy... done."
# The web push's parts, between the lines `git push --progress` shows (None: its start / end).
PARTS: list[tuple[str, str | None, str | None]] = [
    ("pack sent, hook started, first line", None, "Building source:"),
    ("detect, runtime, cache restored", "Building source:", "Installing dependencies"),
    ("pip install -r (no-op)", "Installing dependencies", "Saving cache"),
    ("process types, slug", "Saving cache", "Done: "),
    ("cache saved, tree handed over, release", "Done: ", RELEASED),
    ("dyno start and verify", RELEASED, VERIFIED),
    ("ref update, git's end", VERIFIED, None),
]


@dataclass
class Run:
    number: int
    push_s: float  # cedarbox: the whole `git push`
    plain_push_s: float
    pip_noop_s: float
    phases: dict[str, float]
    foreign_share: float
    from_spare: bool  # the build took the copy of `.heroku` prepared after the previous one
    member_reused: bool  # the slug reused the previous build's compressed `.heroku`
    pip_replayed: bool  # the web build replayed a no-op pip run (buildpacks.python.pipnoop)
    tree_handed_over: bool  # the web build's tree became its release's unpacked slug
    web_push_s: float  # the web app: the whole `git push`, `Verifying deploy... done.` included
    released_to_verified_s: float  # its `Released vN` line to its `Verifying deploy... done.`
    web_timeline: dict[str, float]  # its log: release→start, start→up
    web_parts: dict[str, float]  # its push split at the lines it printed (PARTS)

    @property
    def by_hand_s(self) -> float:
        return self.plain_push_s + self.pip_noop_s

    def to_json(self) -> dict[str, object]:
        return {
            "run": self.number,
            "push_s": round(self.push_s, 3),
            "plain_push_s": round(self.plain_push_s, 3),
            "pip_noop_s": round(self.pip_noop_s, 3),
            "phases": self.phases,
            "from_spare": self.from_spare,
            "member_reused": self.member_reused,
            "pip_replayed": self.pip_replayed,
            "tree_handed_over": self.tree_handed_over,
            "web_push_s": round(self.web_push_s, 3),
            "released_to_verified_s": round(self.released_to_verified_s, 3),
            "web_timeline": {k: round(v, 3) for k, v in self.web_timeline.items()},
            "web_parts": {k: round(v, 3) for k, v in self.web_parts.items()},
            "foreign_cpu_share": round(self.foreign_share, 3),
        }


def run(ctx: Context) -> Result:
    missing = missing_wheels()
    if missing:
        return Result(rows=[], warnings=[missing])
    env = client_env(ctx.workdir / "home")
    logs = ctx.workdir / "logs"
    logs.mkdir()
    data = ctx.workdir / "data"
    plain_root = ctx.workdir / "plain"
    runs: list[Run] = []
    with (
        cedarbox_server(ctx, data, env, logs) as cedarbox,
        plain_server(ctx.python, plain_root, logs, env) as plain,
    ):
        app = "warm-redeploy"
        repo = make_app(ctx.workdir / app, env, "v0")
        cedarbox_url = f"{cedarbox.url}/{app}.git"
        plain_url = plain_repo(plain, plain_root, app, env)
        web_app = "warm-redeploy-web"
        web_repo = make_app(ctx.workdir / web_app, env, "v0", web=True)
        web_url = f"{cedarbox.url}/{web_app}.git"
        ctx.log("cold builds (not counted) …")
        timed_push(repo, cedarbox_url, env)
        timed_push_lines(web_repo, web_url, env)
        timed_push(repo, plain_url, env)
        interpreter = str(newest_report(data, app)["python"]["interpreter"])  # type: ignore[index]
        venv = ctx.workdir / "venv"
        timed([interpreter, "-m", "venv", str(venv)], env, ctx.workdir)
        pip_noop = [str(venv / "bin" / "pip"), "install", "-q", "-r", "requirements.txt"]
        timed(pip_noop, env, repo)  # installs: the runs' installs are then no-ops

        pids = (cedarbox.pid, plain.pid)
        for number in range(0, ctx.runs + 1):  # run 0 is the warm-up
            change_code(repo, env, f"v{number + 1}")
            change_code(web_repo, env, f"v{number + 1}")
            os.sync()
            with ForeignCpu(*pids) as foreign:
                if number % 2:
                    plain_s = timed_push(repo, plain_url, env)
                    noop_s = timed(pip_noop, env, repo)
                    push_s = timed_push(repo, cedarbox_url, env)
                    web = timed_push_lines(web_repo, web_url, env)
                else:
                    web = timed_push_lines(web_repo, web_url, env)
                    push_s = timed_push(repo, cedarbox_url, env)
                    plain_s = timed_push(repo, plain_url, env)
                    noop_s = timed(pip_noop, env, repo)
            report = newest_report(data, app)
            if report.get("outcome") != "succeeded":
                raise RuntimeError(f"build of run {number} did not succeed: {report}")
            timeline = _web_timeline(data, web_app, web)
            web_report = newest_report(data, web_app)
            if number == 0:
                continue
            measured = Run(
                number,
                push_s,
                plain_s,
                noop_s,
                phase_seconds(report),
                foreign.share,
                from_spare=bool(report["cache"]["from_spare"]),  # type: ignore[index]
                member_reused=report["slug_members_reused"] == [".heroku"],
                pip_replayed=_flag(web_report.get("package_manager"), "replayed"),
                tree_handed_over=_flag(web_report, "tree_handed_over"),
                web_push_s=web.wall_s,
                released_to_verified_s=web.between(RELEASED, VERIFIED),
                web_timeline=timeline,
                web_parts=_parts(web),
            )
            runs.append(measured)
            ctx.log(
                f"run {number}: git push {push_s:.3f} s; web {web.wall_s:.3f} s (Released → "
                f"verified {measured.released_to_verified_s:.3f} s); by hand "
                f"{measured.by_hand_s:.3f} s (push {plain_s:.3f} + pip {noop_s:.3f})"
            )
    return _result(runs)


def _flag(record: object, key: str) -> bool:
    """A true/false field of a build report (False where an older cedarbox has none)."""
    return isinstance(record, dict) and bool(record.get(key))


def _parts(pushed: PushLines) -> dict[str, float]:
    """Seconds each of PARTS took in this push."""

    def at(needle: str | None, default: float) -> float:
        return default if needle is None else pushed.first(needle)[0]

    return {label: at(end, pushed.wall_s) - at(start, 0.0) for label, start, end in PARTS}


def _web_timeline(data: Path, app: str, pushed: PushLines) -> dict[str, float]:
    """The app log's account of the web push's dyno start (see release_timeline)."""
    return release_timeline(data / "logs" / f"{app}.log", pushed.released_version())


def _result(runs: list[Run]) -> Result:
    push = median([r.push_s for r in runs])
    by_hand = median([r.by_hand_s for r in runs])
    rows = [
        Row(
            "no web process: git push wall time",
            push,
            "s",
            target=Target(TARGET_SECONDS, "absolute"),
        ),
        Row(
            "no web process: git push vs plain push + pip no-op by hand",
            push,
            "s",
            baseline=by_hand,
            target=Target(TARGET_RATIO, "ratio"),
        ),
        Row(
            "web app: whole git push (verify included) vs the same by hand",
            median([r.web_push_s for r in runs]),
            "s",
            baseline=by_hand,
            target=Target(TARGET_WEB_RATIO, "ratio"),
        ),
        Row(
            "web app: Released → Verifying deploy... done.",
            median([r.released_to_verified_s for r in runs]),
            "s",
            target=Target(TARGET_RELEASED_TO_VERIFIED, "absolute"),
        ),
        Row(
            "web app log: Release vN created → Starting process",
            median([r.web_timeline["release→start"] for r in runs]),
            "s",
        ),
        Row(
            "web app log: Starting process → up",
            median([r.web_timeline["start→up"] for r in runs]),
            "s",
        ),
        *(
            Row(f"web push part: {label}", median([r.web_parts[label] for r in runs]), "s")
            for label, _, _ in PARTS
        ),
        Row("by hand: plain git push", median([r.plain_push_s for r in runs]), "s"),
        Row("by hand: pip install -r (no-op)", median([r.pip_noop_s for r in runs]), "s"),
    ]
    phases = phase_summary([r.phases for r in runs])
    notes = [
        f"app: {len(REQUIREMENTS.split())} cached dependencies (real wheels), .python-version "
        "3.12, no web process type; each run pushes one code-only commit; the web app is the "
        "same with `web: python -m http.server $PORT`, pushed in the same runs",
        f"cedarbox build phases (medians, the build report's clock): {phases}",
        f"pip replayed in {sum(r.pip_replayed for r in runs)} of {len(runs)} runs; the build tree "
        f"handed over to the runner in {sum(r.tree_handed_over for r in runs)} of {len(runs)}",
        f"cache taken from its spare copy in {sum(r.from_spare for r in runs)} of {len(runs)} "
        f"runs (else copied during the build); slug's .heroku part reused in "
        f"{sum(r.member_reused for r in runs)} of {len(runs)}",
        "after each push cedarbox copies the cache for the next build in a detached process "
        "(nice 19), which the busy-machine check counts among the other processes",
        "the rest of the push: git's pack exchange, the hook starting, the release and the "
        "report being recorded",
    ]
    return Result(
        rows=rows,
        notes=notes,
        warnings=busy_warnings([r.foreign_share for r in runs]),
        details={"runs": len(runs), "measured": [r.to_json() for r in runs]},
    )


BENCHMARK = Benchmark(
    "warm_redeploy",
    "code-only change of an app with 5 cached dependencies, with and without a web process",
    run,
)
