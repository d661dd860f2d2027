"""Benchmark `receive`: a full push of a ~95 MB pack through cedarbox vs plain `git http-backend`.

The source repository is generated deterministically (git fast-import): many small text
files in a few hundred directories, a few hundred incompressible random blobs, and several
commits that modify small files and add blobs, so the pushed pack is ~95 MB in ~48k
objects. It is generated once per bench run and pushed, in full, to a fresh app each run,
to `refs/heads/bench`: a non-deploy branch, so cedarbox stores it without a build (its
pre-receive hook still runs and says so).

Per run both servers get the same push, in alternating order. Measured: the push's wall
time (the `git push` process), the CPU time of the Python server process, and memory:
the RSS of the Python server process alone, and of its whole process tree (http-backend,
receive-pack, index-pack, the hook), sampled from /proc every 20 ms. Then one more push to
each with git's trace2 on gives the server side's own breakdown: index-pack, connectivity
check, hook.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from bench import (
    MIB,
    REPO_ROOT,
    Benchmark,
    Context,
    ForeignCpu,
    Result,
    Row,
    Server,
    Target,
    TreeSample,
    TreeSampler,
    cpu_seconds,
    current_rss,
    format_value,
    high_water_rss,
    median,
    open_fds,
    run_checked,
)

TIME_TARGET = Target(1.10, "ratio")
SERVER_RSS_TARGET = Target(64 * MIB, "absolute")
PUSH_REF = "refs/heads/bench"
SKIP_MESSAGE = "Pushed to non-deploy branch, skipping build."
PUSH_TIMEOUT = 300.0
FOREIGN_CPU_WARNING = 0.05  # share of all CPUs used by others during the pushes
# Server-side timings from git's trace2 (one extra push each), shown as table rows.
TRACED = {
    "receive-pack": "server: receive-pack, start to exit",
    "git index-pack": "server: index-pack (receives the pack)",
    "git rev-list": "server: connectivity check (rev-list)",
    "hook pre-receive": "server: pre-receive hook",
}

_WORDS = (
    *("app", "config", "request", "response", "handler", "model", "view", "route", "cache"),
    *("user", "session", "token", "value", "items", "result", "error", "status", "query"),
    *("table", "column", "index", "record", "buffer", "stream", "render", "template"),
    *("static", "media", "worker", "queue", "event", "signal", "logger", "metric"),
)


@dataclass(frozen=True)
class RepoSpec:
    """The shape of the generated repository; the same spec and seed give the same objects."""

    seed: int
    dirs: int  # directories of small files
    files_per_dir: int
    commits: int  # the first adds everything; each later one modifies and adds
    changes_per_commit: int  # small files modified by each later commit
    blobs_first: int  # random (incompressible) blobs in the first commit
    blobs_per_commit: int  # random blobs added by each later commit
    blob_min: int  # bytes
    blob_max: int


FULL = RepoSpec(
    seed=20240601,
    dirs=400,
    files_per_dir=100,
    commits=6,
    changes_per_commit=1200,
    blobs_first=168,
    blobs_per_commit=8,
    blob_min=200_000,
    blob_max=640_000,
)
QUICK = RepoSpec(
    seed=20240601,
    dirs=50,
    files_per_dir=80,
    commits=4,
    changes_per_commit=300,
    blobs_first=20,
    blobs_per_commit=3,
    blob_min=200_000,
    blob_max=640_000,
)


@dataclass(frozen=True)
class SourceRepo:
    spec: RepoSpec
    path: Path
    head: str
    objects: int
    pack_bytes: int


def generate_repo(path: Path, spec: RepoSpec, env: dict[str, str]) -> SourceRepo:
    """Write the repository with one `git fast-import` stream, then pack it as a user's would be."""
    run_checked(["git", "init", "-q", "-b", "main", str(path)], env=env)
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=path,
        env=env,
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stderr is not None
    try:
        _write_history(proc.stdin, spec)
        proc.stdin.close()
    except BaseException:
        proc.kill()
        raise
    finally:
        err = proc.stderr.read()
        proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"git fast-import failed: {err.decode(errors='replace')}")
    run_checked(["git", "reset", "-q", "--soft", "main"], cwd=path, env=env)
    run_checked(["git", "repack", "-adq"], cwd=path, env=env)
    head = run_checked(["git", "rev-parse", "main"], cwd=path, env=env).stdout.decode().strip()
    counts = dict(
        line.split(": ", 1)
        for line in run_checked(["git", "count-objects", "-v"], cwd=path, env=env)
        .stdout.decode()
        .splitlines()
    )
    return SourceRepo(
        spec=spec,
        path=path,
        head=head,
        objects=int(counts["in-pack"]) + int(counts["count"]),
        pack_bytes=int(counts["size-pack"]) * 1024,
    )


def _write_history(out: IO[bytes], spec: RepoSpec) -> None:
    rng = random.Random(spec.seed)
    mark = 0

    def blob(data: bytes) -> int:
        nonlocal mark
        mark += 1
        out.write(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data))
        return mark

    def commit(number: int, files: dict[str, int], parent: int | None) -> int:
        nonlocal mark
        mark += 1
        message = f"Commit {number}\n".encode()
        when = 1_700_000_000 + number * 3600
        out.write(b"commit refs/heads/main\nmark :%d\n" % mark)
        out.write(b"author Bench <bench@example.com> %d +0000\n" % when)
        out.write(b"committer Bench <bench@example.com> %d +0000\n" % when)
        out.write(b"data %d\n%s" % (len(message), message))
        if parent is not None:
            out.write(b"from :%d\n" % parent)
        for name, blob_mark in files.items():
            out.write(b"M 100644 :%d %s\n" % (blob_mark, name.encode()))
        out.write(b"\n")
        return mark

    def text(name: str, version: int, lines: int) -> str:
        body = [f"# {name} (revision {version})"]
        for _ in range(lines):
            word, call = rng.choice(_WORDS), rng.choice(_WORDS)
            body.append(f"{word}_{rng.randrange(1_000_000)} = {call}({rng.randrange(10_000)})")
        return "\n".join(body) + "\n"

    def random_blob(index: int) -> tuple[str, int]:
        size = rng.randint(spec.blob_min, spec.blob_max)
        return f"assets/blob_{index:04d}.bin", blob(rng.randbytes(size))

    contents: dict[str, str] = {}
    files: dict[str, int] = {}
    for d in range(spec.dirs):
        for f in range(spec.files_per_dir):
            name = f"src/pkg_{d:03d}/module_{f:03d}.py"
            contents[name] = text(name, 0, rng.randint(6, 16))
            files[name] = blob(contents[name].encode())
    blobs = 0
    for _ in range(spec.blobs_first):
        name, files[name] = random_blob(blobs)
        blobs += 1
    parent = commit(0, files, None)
    small = list(contents)
    for number in range(1, spec.commits):
        changed: dict[str, int] = {}
        for name in rng.sample(small, spec.changes_per_commit):
            contents[name] += text(name, number, rng.randint(1, 4))
            changed[name] = blob(contents[name].encode())
        for _ in range(spec.blobs_per_commit):
            name, changed[name] = random_blob(blobs)
            blobs += 1
        parent = commit(number, changed, parent)
    out.write(b"done\n")


# The benchmark ----------------------------------------------------------------------------


@dataclass
class Push:
    """One measured push."""

    server: str  # "cedarbox" or "plain"
    run: int
    app: str
    seconds: float
    server_cpu_s: float
    foreign_cpu_s: float  # CPU used meanwhile by processes that are not part of the push
    sample: TreeSample
    received_pack_bytes: int

    def to_json(self) -> dict[str, object]:
        return {
            "server": self.server,
            "run": self.run,
            "app": self.app,
            "seconds": round(self.seconds, 4),
            "server_cpu_s": round(self.server_cpu_s, 3),
            "foreign_cpu_s": round(self.foreign_cpu_s, 3),
            "peak_server_rss": self.sample.peak_root_rss,
            "peak_tree_rss": self.sample.peak_tree_rss,
            "peak_tree_at_s": round(self.sample.peak_tree_at, 3),
            "sampler_ticks": self.sample.ticks,
            "received_pack_bytes": self.received_pack_bytes,
            "processes": self.sample.summary(),
        }


def git_env(home: Path) -> dict[str, str]:
    """The git client's environment: no system config, its own empty global config."""
    env = server_env(home)
    (home / "client.gitconfig").touch()
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_GLOBAL=str(home / "client.gitconfig"),
    )
    return env


def server_env(home: Path) -> dict[str, str]:
    """Both servers' environment: the git they run reads $HOME/.gitconfig (empty, or trace2)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").touch()
    env["HOME"] = str(home)
    return env


def source_repo(ctx: Context, env: dict[str, str]) -> SourceRepo:
    """The generated repository, made once per bench run and shared by every benchmark."""
    spec = QUICK if ctx.quick else FULL
    key = f"receive.source.{spec}"
    cached = ctx.shared.get(key)
    if isinstance(cached, SourceRepo):
        return cached
    path = ctx.workdir / ("source-quick" if ctx.quick else "source")
    ctx.log(f"generating the source repository in {path} ...")
    repo = generate_repo(path, spec, env)
    ctx.log(
        f"source repository: {repo.objects} objects, pack {repo.pack_bytes / MIB:.1f} MiB, "
        f"head {repo.head[:12]}"
    )
    ctx.shared[key] = repo
    return repo


def run(ctx: Context) -> Result:
    home = ctx.workdir / "home"
    env = git_env(home)
    source = source_repo(ctx, env)
    logs = ctx.workdir / "logs"
    logs.mkdir(exist_ok=True)
    pushes: list[Push] = []
    with contextlib.ExitStack() as stack:
        cedarbox = stack.enter_context(CedarboxTarget(ctx, server_env(home), logs))
        plain = stack.enter_context(PlainTarget(ctx, server_env(home), logs))
        before = {t.name: _server_state(t.server.pid) for t in (cedarbox, plain)}
        ctx.log("warm-up push to each server (not counted) ...")
        for target in (cedarbox, plain):
            _measure_push(target, "recv-warmup", 0, source, env)
        for run_number in range(1, ctx.runs + 1):
            order = (cedarbox, plain) if run_number % 2 else (plain, cedarbox)
            for target in order:
                result = _measure_push(target, f"recv-{run_number}", run_number, source, env)
                pushes.append(result)
                ctx.log(
                    f"run {run_number} {target.name:8s} {result.seconds:6.3f} s  "
                    f"server cpu {result.server_cpu_s:5.2f} s  "
                    f"server rss {result.sample.peak_root_rss / MIB:5.1f} MiB  "
                    f"tree rss {result.sample.peak_tree_rss / MIB:6.1f} MiB  "
                    f"other processes' cpu {result.foreign_cpu_s:4.2f} s"
                )
        hwm = {t.name: high_water_rss(t.server.pid) for t in (cedarbox, plain)}
        after = {t.name: _server_state(t.server.pid) for t in (cedarbox, plain)}
        ctx.log("one more push to each with git's trace2 on, for the server-side breakdown ...")
        traces = {
            t.name: _traced_push(t, source, env, home, ctx.workdir / f"trace-{t.name}")
            for t in (cedarbox, plain)
        }
    return _result(source, pushes, hwm, before, after, traces)


def _traced_push(
    target: PushTarget, source: SourceRepo, env: dict[str, str], home: Path, tracedir: Path
) -> dict[str, float]:
    """Push once with trace2 events on in the servers' git; return git's own child timings.

    Keys: "receive-pack" (its whole run) and one per child it ran: "git index-pack",
    "git rev-list" (the connectivity check), "hook pre-receive", ...
    """
    tracedir.mkdir()
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(f"[trace2]\n\teventTarget = {tracedir}\n")
    try:
        _measure_push(target, "recv-traced", -1, source, env)
    finally:
        gitconfig.write_text("")
    # Every receive-pack writes a file; git also sends a tiny probe POST before a large push.
    runs = [_receive_pack_timings(path) for path in tracedir.iterdir()]
    return max(runs, key=lambda t: t.get("receive-pack", 0.0), default={})


def _receive_pack_timings(trace: Path) -> dict[str, float]:
    timings: dict[str, float] = {}
    events = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    argv: list[str] = next((e["argv"] for e in events if e["event"] == "start"), [])
    if "receive-pack" in argv:
        names: dict[int, str] = {}
        for e in events:
            if e["event"] == "child_start":
                if e.get("child_class") == "hook":
                    names[e["child_id"]] = f"hook {e.get('hook_name', '?')}"
                else:
                    names[e["child_id"]] = " ".join(e["argv"][:2])
            elif e["event"] == "child_exit":
                name = names.get(e["child_id"], "?")
                timings[name] = timings.get(name, 0.0) + e["t_rel"]
            elif e["event"] == "exit":
                timings["receive-pack"] = e["t_abs"]
    return timings


def _server_state(pid: int) -> dict[str, int]:
    return {"open_fds": open_fds(pid), "rss": current_rss(pid)}


class PushTarget:
    """A server to push to: where a fresh app's URL is and where its repository lands."""

    name = ""

    def __init__(self, server: Server) -> None:
        self.server = server

    def prepare(self, app: str) -> tuple[str, Path]:
        """(push URL, bare repository path) for a new app."""
        raise NotImplementedError

    def __enter__(self) -> PushTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


class CedarboxTarget(PushTarget):
    """cedarbox itself; pushing to an unknown app creates it (that is part of the push)."""

    name = "cedarbox"

    def __init__(self, ctx: Context, env: dict[str, str], logs: Path) -> None:
        self.data_dir = ctx.workdir / "receive-cedarbox"
        argv = [ctx.venv_bin("cedarbox"), "--data-dir", str(self.data_dir), "serve", "--port", "0"]
        super().__init__(Server(self.name, argv, logs, env=env))

    def prepare(self, app: str) -> tuple[str, Path]:
        return f"{self.server.url}/{app}.git", self.data_dir / "repos" / f"{app}.git"


class PlainTarget(PushTarget):
    """The baseline: bench/plain_backend.py; its repositories are created before the push."""

    name = "plain"

    def __init__(self, ctx: Context, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.root = ctx.workdir / "receive-plain"
        self.root.mkdir()
        argv = [ctx.python, str(REPO_ROOT / "bench" / "plain_backend.py"), "--root", str(self.root)]
        super().__init__(Server(self.name, argv, logs, env=env))

    def prepare(self, app: str) -> tuple[str, Path]:
        repo = self.root / f"{app}.git"
        run_checked(["git", "init", "-q", "--bare", str(repo)], env=self.env)
        run_checked(["git", "config", "http.receivepack", "true"], cwd=repo, env=self.env)
        return f"{self.server.url}/{app}.git", repo


def _measure_push(
    target: PushTarget, app: str, run_number: int, source: SourceRepo, env: dict[str, str]
) -> Push:
    """Push the whole source repository to a fresh app; check that it landed."""
    url, repo = target.prepare(app)
    server_pid = target.server.pid
    os.sync()  # earlier pushes' dirty pages are not written back during this one
    cpu_before = cpu_seconds(server_pid)
    sampler = TreeSampler(server_pid).start()
    try:
        with ForeignCpu(server_pid) as foreign:
            start = time.perf_counter()
            proc = subprocess.run(
                ["git", "push", url, f"{source.head}:{PUSH_REF}"],
                cwd=source.path,
                env=env,
                capture_output=True,
                timeout=PUSH_TIMEOUT,
            )
            seconds = time.perf_counter() - start
    finally:
        sample = sampler.stop()
    cpu = cpu_seconds(server_pid) - cpu_before
    server = target.name
    output = proc.stderr.decode(errors="replace") + proc.stdout.decode(errors="replace")
    if proc.returncode != 0 or "[new branch]" not in output:
        raise RuntimeError(f"push to {server} failed ({proc.returncode}):\n{output}")
    if server == "cedarbox" and SKIP_MESSAGE not in output:
        raise RuntimeError(f"cedarbox did not report skipping the build:\n{output}")
    stored = run_checked(["git", "rev-parse", PUSH_REF], cwd=repo, env=env).stdout.decode()
    if stored.strip() != source.head:
        raise RuntimeError(f"{server} stored {stored.strip()} for {PUSH_REF}, not {source.head}")
    pack_bytes = sum(p.stat().st_size for p in (repo / "objects" / "pack").glob("*.pack"))
    return Push(server, run_number, app, seconds, cpu, foreign.seconds, sample, pack_bytes)


def _result(
    source: SourceRepo,
    pushes: list[Push],
    hwm: dict[str, int | None],
    before: dict[str, dict[str, int]],
    after: dict[str, dict[str, int]],
    traces: dict[str, dict[str, float]],
) -> Result:
    def of(server: str) -> list[Push]:
        return [p for p in pushes if p.server == server]

    ced, plain = of("cedarbox"), of("plain")
    rows = [
        Row(
            "push wall time",
            median([p.seconds for p in ced]),
            "s",
            median([p.seconds for p in plain]),
            TIME_TARGET,
        ),
        Row(
            "push wall time, cedarbox/plain within each run",
            median([c.seconds / b.seconds for c, b in zip(ced, plain, strict=True)]),
            "x",
        ),
        Row(
            "peak RSS, Python server process",
            max(p.sample.peak_root_rss for p in ced),
            "B",
            max(p.sample.peak_root_rss for p in plain),
            SERVER_RSS_TARGET,
            stat="max",
        ),
        Row(
            "peak RSS, server + all descendants",
            max(p.sample.peak_tree_rss for p in ced),
            "B",
            max(p.sample.peak_tree_rss for p in plain),
            stat="max",
        ),
        Row(
            "CPU of the Python server process per push",
            median([p.server_cpu_s for p in ced]),
            "s",
            median([p.server_cpu_s for p in plain]),
        ),
    ]
    for key, metric in TRACED.items():
        value = traces["cedarbox"].get(key)
        if value is not None:
            rows.append(Row(metric, value, "s", traces["plain"].get(key), stat="1 traced push"))
    notes = [
        f"source: {source.objects} objects, {source.pack_bytes / MIB:.1f} MiB packed; "
        f"received pack {ced[0].received_pack_bytes / MIB:.1f} MiB; pushed to {PUSH_REF} "
        "(non-deploy branch: stored without a build, the pre-receive hook still runs)",
        "baseline: bench/plain_backend.py (plain git http-backend, no hooks). 'Python server "
        "process' = the server alone (the 64 MiB target); 'server + all descendants' = summed "
        "RSS of the server, http-backend, receive-pack, index-pack, rev-list and the hook at one "
        "instant (shared pages counted once per process)",
        f"kernel VmHWM of the server processes at the end: cedarbox "
        f"{_mib(hwm['cedarbox'])}, plain {_mib(hwm['plain'])}",
    ]
    pushes_per_server = len(ced) + 1  # with the warm-up
    for name in ("cedarbox", "plain"):
        b, a = before[name], after[name]
        notes.append(
            f"{name} server before -> after {pushes_per_server} pushes: open fds "
            f"{b['open_fds']} -> {a['open_fds']}, RSS {_mib(b['rss'])} -> {_mib(a['rss'])} "
            f"({(a['rss'] - b['rss']) / pushes_per_server / 1024:+.0f} KiB per push)"
        )
    for name, group in (("cedarbox", ced), ("plain", plain)):
        mid = sorted(group, key=lambda p: p.seconds)[len(group) // 2]
        parts = [
            f"{s['label']} {s['first_seen_s']:.2f}-{s['last_seen_s']:.2f}s "
            f"({format_value(float(s['peak_rss']), 'B')})"  # type: ignore[arg-type]
            for s in mid.sample.summary()
        ]
        notes.append(
            f"{name} median run ({mid.seconds:.2f} s), processes seen (first-last sighting, "
            f"peak RSS): " + "; ".join(parts)
        )
    details: dict[str, object] = {
        "runs": len(ced),
        "spec": asdict(source.spec),
        "source": {
            "objects": source.objects,
            "pack_bytes": source.pack_bytes,
            "head": source.head,
        },
        "traced_push": traces,
        "server_vmhwm": hwm,
        "server_state_before": before,
        "server_state_after": after,
        "pushes": [p.to_json() for p in pushes],
    }
    foreign = sum(p.foreign_cpu_s for p in pushes)
    share = foreign / (sum(p.seconds for p in pushes) * (os.cpu_count() or 1))
    notes.insert(
        1,
        f"other processes on the machine used {foreign:.2f} CPU-s during the timed pushes "
        f"({share:.0%} of all CPUs' time)",
    )
    details["foreign_cpu_share"] = share
    warnings = []
    if share > FOREIGN_CPU_WARNING:
        warnings.append(
            f"other processes used {share:.0%} of the CPUs during the timed pushes "
            f"(per push: {', '.join(f'{p.foreign_cpu_s:.2f}' for p in pushes)} s): the "
            "timings are skewed; rerun on a quiet machine"
        )
    return Result(rows=rows, notes=notes, warnings=warnings, details=details)


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.1f} MiB"


BENCHMARK = Benchmark(
    name="receive",
    description="full push of a ~95 MB pack, build disabled: cedarbox vs plain http-backend",
    run=run,
)
