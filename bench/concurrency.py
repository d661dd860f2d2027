"""Benchmark `concurrency`: 8 pushes to 8 new apps at once, and git serving meanwhile.

Per run, on one cedarbox server (2 CPUs on the dev machine):

1. idle baseline: `git ls-remote` of an app pushed before the runs, back to back with a
   short pause, on the otherwise idle server: its latencies;
2. solo push: one push of the app to a new app, alone: its wall time;
3. the burst: 8 `git push`es of the same app to 8 new apps, started together (one thread
   each, released by a barrier), while another thread keeps running `git ls-remote` of the
   already-pushed app and records every latency, until the last push ends.

The app is a tiny Python app: two tiny wheels in requirements.txt (built by the bench, pip
installs them with no index), `.python-version`, no Procfile. Every push is a real cold
build (interpreter, pip and setuptools, dependencies, slug, release). The app declares no
web process type on purpose: its releases start no dyno, so a push ends with its release, the
figure is about pushes (dyno boot is `first_response`'s subject), and no dynos pile up over
the runs, whose CPU would count as "other processes" in the busy-machine check.

Rows: failed pushes over all runs (target 0), the p95 of ls-remote latency during the burst
(median of the runs' p95s; target 0.2 s absolute; baseline: the idle p95 of the same run),
and the burst's wall time against the solo push (information: on 2 CPUs, 8 builds that are
mostly CPU-bound cannot take less than about 4 solo pushes).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    percentile,
    push_env,
    tiny_python_app,
    tiny_wheelhouse,
)

PUSHES, QUICK_PUSHES = 8, 3
IDLE_SAMPLES, QUICK_IDLE_SAMPLES = 40, 10
LATENCY_TARGET = Target(0.2, "absolute")
FAILURES_TARGET = Target(0, "absolute")
PROBE_PAUSE = 0.05  # between two ls-remotes, so the probe itself is not a busy loop
PROBE_TIMEOUT = 60.0
PUSH_TIMEOUT = 600.0
WHEELS = ("alpha", "beta")
PROBED_APP = "concurrency-probed"
FOREIGN_CPU_WARNING = 0.05  # share of all CPUs used by others during the burst


@dataclass
class Probe:
    """`git ls-remote URL` over and over (in a thread, or a fixed number of times)."""

    url: str
    env: Mapping[str, str]
    cwd: Path
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def once(self) -> None:
        start = time.perf_counter()
        done = subprocess.run(
            ["git", "ls-remote", self.url],
            cwd=self.cwd,
            env=dict(self.env),
            capture_output=True,
            timeout=PROBE_TIMEOUT,
        )
        elapsed = time.perf_counter() - start
        if done.returncode == 0 and b"refs/heads/main" in done.stdout:
            self.latencies.append(elapsed)
        else:
            self.failures.append(done.stderr.decode(errors="replace").strip()[-300:])

    def repeat(self, count: int) -> Probe:
        for _ in range(count):
            self.once()
            time.sleep(PROBE_PAUSE)
        return self

    def until(self, stop: threading.Event) -> threading.Thread:
        """Start probing in a thread until `stop` is set; join the thread afterwards."""

        def loop() -> None:
            while not stop.is_set():
                self.once()
                stop.wait(PROBE_PAUSE)

        thread = threading.Thread(target=loop, name="ls-remote-probe", daemon=True)
        thread.start()
        return thread


@dataclass
class PushOutcome:
    app: str
    seconds: float
    ok: bool
    output: str  # git push's stderr: the build transcript


def push(url: str, source: Path, env: Mapping[str, str]) -> PushOutcome:
    """One `git push` of `main`; it succeeded if git says so and the release was announced."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            ["git", "push", url, "main"],
            cwd=source,
            env=dict(env),
            capture_output=True,
            timeout=PUSH_TIMEOUT,
        )
        output = done.stderr.decode(errors="replace")
        ok = done.returncode == 0 and "Released v1" in output
    except subprocess.TimeoutExpired as exc:
        output, ok = f"timed out after {exc.timeout} s", False
    app = url.rsplit("/", 1)[-1].removesuffix(".git")
    return PushOutcome(app, time.perf_counter() - start, ok, output)


def burst(urls: list[str], source: Path, env: Mapping[str, str]) -> tuple[list[PushOutcome], float]:
    """Start one push per URL at the same moment; (outcomes, wall time until the last ends)."""
    outcomes: list[PushOutcome | None] = [None] * len(urls)
    gate = threading.Barrier(len(urls) + 1)

    def worker(index: int) -> None:
        gate.wait()
        outcomes[index] = push(urls[index], source, env)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    gate.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return [o for o in outcomes if o is not None], wall


@dataclass
class Run:
    number: int
    idle: Probe
    busy: Probe
    solo_s: float
    burst_s: float
    pushes: list[PushOutcome]
    foreign_share: float

    def to_json(self) -> dict[str, object]:
        return {
            "run": self.number,
            "idle_latencies_s": [round(t, 4) for t in self.idle.latencies],
            "busy_latencies_s": [round(t, 4) for t in self.busy.latencies],
            "probe_failures": self.idle.failures + self.busy.failures,
            "solo_push_s": round(self.solo_s, 3),
            "burst_wall_s": round(self.burst_s, 3),
            "pushes": [
                {"app": p.app, "seconds": round(p.seconds, 3), "ok": p.ok} for p in self.pushes
            ],
            "foreign_cpu_share": round(self.foreign_share, 3),
        }


def run(ctx: Context) -> Result:
    home = ctx.workdir / "home"
    env = push_env(home, tiny_wheelhouse(ctx.workdir / "wheels", WHEELS))
    logs = ctx.workdir / "logs"
    logs.mkdir(exist_ok=True)
    pushes = QUICK_PUSHES if ctx.quick else PUSHES
    idle_samples = QUICK_IDLE_SAMPLES if ctx.quick else IDLE_SAMPLES
    runs = min(ctx.runs, 2) if ctx.quick else ctx.runs
    source = commit_files(ctx.workdir / "app", env, tiny_python_app(WHEELS, "concurrency"))
    results: list[Run] = []
    with cedarbox_server(ctx, ctx.workdir / "data", env, logs) as server:
        probed = push(f"{server.url}/{PROBED_APP}.git", source, env)
        if not probed.ok:
            raise RuntimeError(f"the push of the probed app failed:\n{probed.output}")
        probe_url = f"{server.url}/{PROBED_APP}.git"
        for number in range(1, runs + 1):
            idle = Probe(probe_url, env, source).repeat(idle_samples)
            solo = push(f"{server.url}/c{number}-solo.git", source, env)
            if not solo.ok:
                raise RuntimeError(f"the solo push failed:\n{solo.output}")
            urls = [f"{server.url}/c{number}-app{i}.git" for i in range(1, pushes + 1)]
            busy = Probe(probe_url, env, source)
            stop = threading.Event()
            with ForeignCpu(server.pid) as foreign:
                prober = busy.until(stop)
                outcomes, wall = burst(urls, source, env)
                stop.set()
                prober.join()
            result = Run(number, idle, busy, solo.seconds, wall, outcomes, foreign.share)
            results.append(result)
            ctx.log(
                f"run {number}: {sum(p.ok for p in outcomes)}/{len(outcomes)} pushes ok in "
                f"{wall:5.2f} s (solo {solo.seconds:4.2f} s); ls-remote p95 "
                f"{percentile(busy.latencies, 95):5.3f} s over {len(busy.latencies)} "
                f"(idle {percentile(idle.latencies, 95):5.3f} s); "
                f"other processes {foreign.share:.0%} of the CPUs"
            )
    return _result(results, pushes)


def _result(runs: list[Run], pushes: int) -> Result:
    failed = [p for r in runs for p in r.pushes if not p.ok]
    missing = sum(pushes - len(r.pushes) for r in runs)
    probe_failures = sum(len(r.idle.failures) + len(r.busy.failures) for r in runs)
    rows = [
        Row(
            f"failed pushes (of {pushes} at once x {len(runs)} runs)",
            len(failed) + missing,
            "pushes",
            target=FAILURES_TARGET,
            stat="sum",
        ),
        Row(
            f"ls-remote p95 during {pushes} builds (baseline: idle server)",
            median([percentile(r.busy.latencies, 95) for r in runs]),
            "s",
            median([percentile(r.idle.latencies, 95) for r in runs]),
            LATENCY_TARGET,
        ),
        Row(
            f"ls-remote median during {pushes} builds (baseline: idle server)",
            median([median(r.busy.latencies) for r in runs]),
            "s",
            median([median(r.idle.latencies) for r in runs]),
        ),
        Row(
            f"wall time of {pushes} pushes at once (baseline: 1 push alone)",
            median([r.burst_s for r in runs]),
            "s",
            median([r.solo_s for r in runs]),
        ),
    ]
    notes = [
        f"per run: ls-remote samples during the builds "
        f"{', '.join(str(len(r.busy.latencies)) for r in runs)}; max latency "
        f"{', '.join(f'{max(r.busy.latencies):.3f}' for r in runs)} s; failed ls-remotes "
        f"{probe_failures}",
        f"per push (all runs): median {median([p.seconds for r in runs for p in r.pushes]):.2f} s,"
        f" slowest {max(p.seconds for r in runs for p in r.pushes):.2f} s",
    ]
    notes.extend(f"push to {p.app} failed: ...{p.output.strip()[-400:]}" for p in failed[:3])
    warnings = []
    busiest = max(r.foreign_share for r in runs)
    notes.append(f"other processes' share of the CPUs during the bursts: up to {busiest:.0%}")
    if busiest > FOREIGN_CPU_WARNING:
        warnings.append(
            f"other processes used up to {busiest:.0%} of the CPUs during the bursts: the "
            "latencies are skewed; rerun on a quiet machine"
        )
    return Result(
        rows=rows,
        notes=notes,
        warnings=warnings,
        details={
            "runs": len(runs),
            "pushes_per_run": pushes,
            "per_run": [r.to_json() for r in runs],
        },
    )


BENCHMARK = Benchmark(
    name="concurrency",
    description="8 pushes to 8 new apps at once; git ls-remote latency of another app meanwhile",
    run=run,
)
