"""cedarbox benchmarks: the shared harness that every benchmark module uses.

A benchmark is a `Benchmark` (a name and a function) registered in `bench/run.py`'s one list.
Its function gets a `Context` (run count, scratch directory, shared cache) and returns a
`Result`: table rows (`Row`, each optionally checked against a `Target`), notes printed under
the table, and free-form details for the JSON file.

The harness also runs servers (`Server`: start a command, wait for its "listening on" line),
measures their memory (`TreeSampler`: the resident set of a process and all its descendants,
sampled from /proc) and tells whether anything else was busy meanwhile (`ForeignCpu`).
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.support.gitutil import commit, make_repo, write_files
from tests.support.server import ROOT as REPO_ROOT
from tests.support.server import ListeningProcess, isolated_env
from tests.support.wheelhouse import build_wheel

MIB = 1024 * 1024
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# Registry types ---------------------------------------------------------------------------


@dataclass
class Context:
    """What a benchmark function gets: options, a scratch directory and a cache shared by all."""

    runs: int
    quick: bool
    workdir: Path
    python: str = sys.executable
    shared: dict[str, object] = field(default_factory=dict)

    def log(self, message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)

    def venv_bin(self, name: str) -> str:
        """A program installed beside the Python running the bench (else in the repo's .venv)."""
        path = Path(self.python).parent / name
        return str(path if path.exists() else REPO_ROOT / ".venv" / "bin" / name)


@dataclass(frozen=True)
class Target:
    """A pass/fail limit: on the ratio to the baseline, or on the value itself."""

    limit: float
    kind: Literal["ratio", "absolute"]

    def describe(self, unit: str) -> str:
        if self.kind == "ratio":
            return f"<= {self.limit:.2f}x"
        return f"<= {format_value(self.limit, unit)}"

    def met(self, value: float, baseline: float | None) -> bool | None:
        if self.kind == "absolute":
            return value <= self.limit
        if baseline is None or baseline <= 0:
            return None
        return value / baseline <= self.limit


@dataclass(frozen=True)
class Row:
    """One line of the results table. `unit`: "s" (seconds), "B" (bytes, shown in MiB), "x"."""

    metric: str
    value: float
    unit: str
    baseline: float | None = None
    target: Target | None = None
    stat: str = "median"  # how `value` and `baseline` summarise the runs: "median", "max"

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline <= 0:
            return None
        return self.value / self.baseline

    @property
    def status(self) -> str:
        if self.target is None:
            return "info"
        met = self.target.met(self.value, self.baseline)
        return "n/a" if met is None else ("PASS" if met else "MISS")

    def to_json(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "stat": self.stat,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": self.target.describe(self.unit) if self.target else None,
            "status": self.status,
        }


@dataclass
class Result:
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. "other processes were busy"
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    run: Callable[[Context], Result]


def format_value(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value / MIB:.1f} MiB"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "x":
        return f"{value:.3f}x"
    return f"{value:g} {unit}"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q <= 100) by the nearest-rank method: always a measured value."""
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)])


# Servers ----------------------------------------------------------------------------------


# The tests' process launcher: output to files in a log directory, the URL from the first line.
Server = ListeningProcess


def cpu_seconds(pid: int) -> float:
    """user + system CPU time the process itself has used so far (not its children)."""
    fields = _read_stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else 0.0


def high_water_rss(pid: int) -> int | None:
    """The kernel's own peak RSS of one process (VmHWM), in bytes."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process plus that of its children it has already waited for."""
    fields = _read_stat(pid)
    return sum(int(f) for f in fields[11:15]) / CLOCK_TICKS if fields else 0.0


def machine_busy_seconds() -> float:
    """CPU time all CPUs have spent busy since boot (not idle, not waiting for I/O)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class ForeignCpu:
    """CPU used by processes other than this one, `pids` and their (reaped) children.

    Measure it around a timed section: if other work ran on the machine meanwhile, the
    timing is suspect. Counts only children that were waited for by the end.
    """

    def __init__(self, *pids: int) -> None:
        self.pids = (os.getpid(), *pids)
        self.seconds = 0.0
        self.elapsed = 0.0

    def _own(self) -> float:
        return sum(tree_cpu_seconds(pid) for pid in self.pids)

    def __enter__(self) -> ForeignCpu:
        self._start = (machine_busy_seconds(), self._own(), time.perf_counter())
        return self

    def __exit__(self, *exc: object) -> None:
        busy, own, start = self._start
        self.elapsed = time.perf_counter() - start
        self.seconds = max(0.0, (machine_busy_seconds() - busy) - (self._own() - own))

    @property
    def share(self) -> float:
        """Foreign CPU as a share of all CPUs' time during the section."""
        cpus = os.cpu_count() or 1
        return self.seconds / (self.elapsed * cpus) if self.elapsed > 0 else 0.0


def open_fds(pid: int) -> int:
    """How many file descriptors the process has open (a leak shows as growth per request)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def current_rss(pid: int) -> int:
    fields = _read_stat(pid)
    return int(fields[21]) * PAGE_SIZE if fields else 0


# Memory of a process tree -----------------------------------------------------------------


@dataclass
class ProcessRecord:
    """One program one process ran (an exec starts a new record): when seen, its peak RSS."""

    pid: int
    label: str
    first_seen: float
    last_seen: float
    peak_rss: int

    def to_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "label": self.label,
            "first_seen_s": round(self.first_seen, 3),
            "last_seen_s": round(self.last_seen, 3),
            "peak_rss": self.peak_rss,
        }


@dataclass
class TreeSample:
    """What a TreeSampler saw. Times are seconds since it started.

    `peak_tree_rss` sums RSS over the root and every descendant at one instant, so pages
    shared between processes (git's own text, shared libraries) count once per process.
    """

    peak_root_rss: int = 0
    peak_tree_rss: int = 0
    peak_tree_at: float = 0.0
    ticks: int = 0
    processes: list[ProcessRecord] = field(default_factory=list)

    def summary(self) -> list[dict[str, object]]:
        """Per program label: how long it was seen (first to last sighting) and its peak RSS."""
        by_label: dict[str, dict[str, float]] = {}
        for rec in self.processes:
            entry = by_label.setdefault(
                rec.label, {"count": 0, "first": rec.first_seen, "last": rec.last_seen, "rss": 0}
            )
            entry["count"] += 1
            entry["first"] = min(entry["first"], rec.first_seen)
            entry["last"] = max(entry["last"], rec.last_seen)
            entry["rss"] = max(entry["rss"], rec.peak_rss)
        rows = [
            {
                "label": label,
                "count": int(e["count"]),
                "first_seen_s": round(e["first"], 3),
                "last_seen_s": round(e["last"], 3),
                "peak_rss": int(e["rss"]),
            }
            for label, e in by_label.items()
        ]
        return sorted(rows, key=lambda r: float(r["first_seen_s"]))  # type: ignore[arg-type]


class TreeSampler:
    """Sample the RSS of `root` and all its descendants every `interval` seconds, in a thread.

    Only /proc/PID/stat is read (one file per process: parent, command, RSS). Processes
    that were not descendants when first seen are not read again, so a tick costs one
    directory listing plus a read per member of the tree. Processes living shorter than
    one interval may be missed.
    """

    def __init__(self, root: int, interval: float = 0.02) -> None:
        self.root = root
        self.interval = interval
        self.sample = TreeSample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)
        self._unrelated: set[int] = set()
        self._records: dict[tuple[int, str, str], ProcessRecord] = {}
        self._t0 = 0.0

    def start(self) -> TreeSampler:
        self._t0 = time.monotonic()
        self._tick()
        self._thread.start()
        return self

    def stop(self) -> TreeSample:
        self._stop.set()
        self._thread.join()
        self._tick()
        self.sample.processes = sorted(self._records.values(), key=lambda r: r.first_seen)
        return self.sample

    def __enter__(self) -> TreeSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if not self._stop.is_set():
            self.stop()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._tick()

    def _tick(self) -> None:
        now = time.monotonic() - self._t0
        stats: dict[int, list[str]] = {}
        comms: dict[int, str] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid in self._unrelated:
                continue
            parsed = _read_stat_with_comm(pid)
            if parsed is not None:
                comms[pid], stats[pid] = parsed
        members = _descendants(self.root, {pid: int(f[1]) for pid, f in stats.items()})
        self._unrelated.update(pid for pid in stats if pid not in members)
        tree_rss = 0
        for pid in members:
            fields = stats[pid]
            rss = int(fields[21]) * PAGE_SIZE
            tree_rss += rss
            if pid == self.root:
                self.sample.peak_root_rss = max(self.sample.peak_root_rss, rss)
            key = (pid, fields[19], comms[pid])  # pid, start time, program: one exec
            rec = self._records.get(key)
            if rec is None:
                rec = self._records[key] = ProcessRecord(pid, _label(pid, comms[pid]), now, now, 0)
            rec.last_seen = now
            rec.peak_rss = max(rec.peak_rss, rss)
        self.sample.ticks += 1
        if tree_rss > self.sample.peak_tree_rss:
            self.sample.peak_tree_rss = tree_rss
            self.sample.peak_tree_at = now


def _descendants(root: int, parents: Mapping[int, int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    members: set[int] = set()
    todo = [root] if root in parents else []
    while todo:
        pid = todo.pop()
        members.add(pid)
        todo.extend(children.get(pid, ()))
    return members


def _read_stat_with_comm(pid: int) -> tuple[str, list[str]] | None:
    """(comm, fields after comm) of /proc/PID/stat: fields[1] is the parent, [21] the RSS."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("latin-1")
    except OSError:
        return None
    left, right = raw.find("("), raw.rfind(")")
    return raw[left + 1 : right], raw[right + 2 :].split()


def _read_stat(pid: int) -> list[str] | None:
    parsed = _read_stat_with_comm(pid)
    return parsed[1] if parsed else None


def _label(pid: int, comm: str) -> str:
    """A short name for what a process runs: `git index-pack`, `python -m pkg.mod`, `sh hook`."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return comm
    argv = [a for a in argv if a]
    if not argv:
        return comm
    prog = os.path.basename(argv[0])
    rest = argv[1:]
    if prog == "git" and rest:
        sub = next((a for a in rest if not a.startswith("-")), rest[0])
        return f"git {sub}"
    if prog.startswith("python"):
        if len(rest) >= 2 and rest[0] == "-m":
            return f"python -m {rest[1]}"
        script = next((a for a in rest if not a.startswith("-")), "")
        return f"python {os.path.basename(script)}".strip()
    if prog in ("sh", "dash", "bash") and rest:
        return f"sh {'/'.join(Path(rest[0]).parts[-2:])}"
    return prog


# Small helpers ----------------------------------------------------------------------------


def run_checked(
    argv: Sequence[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command; on failure raise with its output (benchmarks must not fail silently)."""
    proc = subprocess.run(
        list(argv), cwd=cwd, env=dict(env) if env else None, input=stdin, capture_output=True
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}:\n"
            f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}"
        )
    return proc


# Pushing apps to cedarbox -----------------------------------------------------------------


def push_env(home: Path, find_links: Path) -> dict[str, str]:
    """For a cedarbox server and the `git push`es to it: the tests' isolated environment.

    Builds install packages with pip from `find_links` only (no index), and pip and
    setuptools themselves from TOOL_WHEELS. The git client reads `home/client.gitconfig`
    (empty); the servers' git, which drops inherited GIT_* variables, reads `home/.gitconfig`.
    """
    home.mkdir(parents=True, exist_ok=True)
    (home / "client.gitconfig").touch()
    (home / ".gitconfig").touch()
    return isolated_env(
        home.parent,
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(home / "client.gitconfig"),
        PIP_FIND_LINKS=str(find_links),
    )


def cedarbox_server(ctx: Context, data_dir: Path, env: Mapping[str, str], logdir: Path) -> Server:
    """`python -m gitserver --data-dir DATA serve --port 0`, run from the checkout."""
    argv = [ctx.python, "-m", "gitserver", "--data-dir", str(data_dir), "serve", "--port", "0"]
    return Server("cedarbox", argv, logdir, env=env, cwd=REPO_ROOT)


def commit_files(
    repo: Path, env: Mapping[str, str], files: Mapping[str, str], message: str = "app"
) -> Path:
    """Write `files` (relative path -> text) into `repo` and commit everything on `main`.

    The repository is created if it does not exist yet.
    """
    if not (repo / ".git").is_dir():
        return make_repo(repo, env, files, message)
    write_files(repo, files)
    commit(repo, env, message)
    return repo


def tiny_wheelhouse(dest: Path, names: Sequence[str]) -> Path:
    """A directory of tiny pure-Python wheels, `name==1.0` each (tests/support/wheelhouse.py)."""
    for name in names:
        build_wheel(dest, name, "1.0", modules={name: f"VERSION = {name!r}\n"})
    return dest


def tiny_python_app(requirements: Sequence[str], marker: str) -> dict[str, str]:
    """A small Python app's files: requirements, a pinned Python, a module printing `marker`.

    No Procfile, so its releases start no dyno: a push ends when the release is recorded.
    """
    return {
        "requirements.txt": "".join(f"{name}\n" for name in requirements),
        ".python-version": "3.12\n",
        "app.py": f"print({marker!r})\n",
    }
