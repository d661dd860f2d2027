"""Benchmark `first_line`: from the pack being received to the first `remote:` line the pusher sees.

Definition. The start is the moment the server has the whole pack: receive-pack's child that
reads it from the request (`git unpack-objects` for a small push, `git index-pack` for a large
one) exits. It is taken from git's own trace2 events in the server (`trace2.eventTarget` in the
servers' `$HOME/.gitconfig`; the `time` field is the wall clock, to the microsecond). The end
is the moment the first line starting with `remote:` arrives on the stderr pipe of
`git push --progress`, read unbuffered, stamped with the same wall clock. So the figure is
what the pusher waits through once the upload is done: receive-pack's connectivity check,
starting the pre-receive hook and everything the hook does before its first line, and the way
back through http-backend, the server and git's sideband.

Each run pushes a new commit of a tiny Python app (requirements: two tiny wheels the bench
builds, no network) to `main`, so cedarbox builds it: its first line is the build's
`Building source:`. The baseline gets the same push: `bench/plain_backend.py` (plain
`git http-backend`, no cedarbox code) with a pre-receive hook that only echoes one line. The
ratio is for information; the target is absolute (0.3 s).

Also measured, for information: the client-side view (from pack-objects' `Total ...` line,
i.e. the pack handed to the transport, to the first `remote:` line), and the server-side
split (pack received -> hook started -> first line), and for the median cedarbox run the
start of every git process the hook ran, which shows where the time goes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
    push_env,
    tiny_python_app,
    tiny_wheelhouse,
)
from bench.receive import PlainTarget

TARGET = Target(0.3, "absolute")
WHEELS = ("alpha", "beta")
APP = "first-line"
PLAIN_HOOK = '#!/bin/sh\necho "pre-receive: ok"\n'
PACK_READERS = ("unpack-objects", "index-pack")
PUSH_TIMEOUT = 300.0
FOREIGN_CPU_WARNING = 0.05  # share of all CPUs used by others during the pushes
_LINE_END = re.compile(rb"[\r\n]")


# Client side: git push's stderr, line by line, with arrival times ------------------------


@dataclass(frozen=True)
class StampedLine:
    at: float  # time.time() when the line's first byte arrived
    text: str


def run_stamped(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> tuple[int, list[StampedLine]]:
    """Run a command; return its exit status and its stderr lines (split at CR or LF), stamped.

    stderr is a pipe read with os.read as soon as data arrives, so a stamp is within the
    scheduling latency of this thread of the moment git wrote the line.
    """
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    lines: list[StampedLine] = []
    pending, pending_at = b"", 0.0
    try:
        fd = proc.stderr.fileno()
        while data := os.read(fd, 65536):
            now = time.time()
            if not pending:
                pending_at = now
            *complete, pending = _LINE_END.split(pending + data)
            for n, raw in enumerate(complete):
                at = pending_at if n == 0 else now
                lines.append(StampedLine(at, raw.decode(errors="replace")))
            if complete:
                pending_at = now  # the new partial line started in this chunk
        if pending:
            lines.append(StampedLine(pending_at, pending.decode(errors="replace")))
    finally:
        watchdog.cancel()
        proc.stderr.close()
        code = proc.wait()
    return code, [line for line in lines if line.text.strip()]


# Server side: receive-pack's trace2 events ------------------------------------------------


@dataclass(frozen=True)
class ServerTimeline:
    """Wall-clock moments of one push in the server's git, from its trace2 event files."""

    pack_received: float  # receive-pack's unpack-objects / index-pack exited
    hook_started: float  # receive-pack started the pre-receive hook
    processes: list[tuple[float, str]]  # (start, argv) of every git process of the push


def _trace_time(stamp: str) -> float:
    """trace2's `time` ("2026-11-25T08:01:27.705193Z", UTC) as seconds since the epoch."""
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    return parsed.replace(tzinfo=UTC).timestamp()


def _git_label(argv: Sequence[str]) -> str:
    """`git archive` for `git --git-dir /x/app.git archive --format=tar SHA`."""
    sub = next((a for a in argv[1:] if re.fullmatch(r"[a-z][a-z-]*", a)), "")
    return f"git {sub}".strip()


def parse_server_trace(tracedir: Path) -> ServerTimeline:
    """Find the push's `receive-pack --stateless-rpc` among the trace files and read it."""
    pack_received = hook_started = None
    processes: list[tuple[float, str]] = []
    for path in sorted(tracedir.iterdir()):
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        start = next((e for e in events if e["event"] == "start"), None)
        if start is None:
            continue
        argv = start["argv"]
        processes.append((_trace_time(start["time"]), _git_label(argv)))
        if _git_label(argv) != "git receive-pack" or "--stateless-rpc" not in argv:
            continue
        readers: set[int] = set()
        for e in events:
            if e["event"] == "child_start":
                if e.get("child_class") == "hook" and e.get("hook_name") == "pre-receive":
                    hook_started = _trace_time(e["time"])
                elif any(reader in e["argv"] for reader in PACK_READERS):
                    readers.add(e["child_id"])
            elif e["event"] == "child_exit" and e["child_id"] in readers:
                pack_received = _trace_time(e["time"])
    if pack_received is None or hook_started is None:
        raise RuntimeError(f"no receive-pack with a pack and a pre-receive hook in {tracedir}")
    return ServerTimeline(pack_received, hook_started, sorted(processes))


# The benchmark ----------------------------------------------------------------------------


@dataclass
class Measured:
    """One push, its first `remote:` line and the moments around it (seconds)."""

    server: str  # "cedarbox" or "plain"
    run: int
    pack_to_first: float  # pack received (server) -> first remote: line (client)
    sent_to_first: float  # pack-objects' "Total" line (client) -> first remote: line
    pack_to_hook: float  # pack received -> pre-receive hook started (connectivity check)
    hook_to_first: float  # hook started -> first remote: line
    push_s: float
    first_line: str
    foreign_cpu_s: float
    timeline: list[tuple[float, str]]  # git processes' starts, relative to the pack received

    def to_json(self) -> dict[str, object]:
        return {
            "server": self.server,
            "run": self.run,
            "pack_to_first_s": round(self.pack_to_first, 4),
            "sent_to_first_s": round(self.sent_to_first, 4),
            "pack_to_hook_s": round(self.pack_to_hook, 4),
            "hook_to_first_s": round(self.hook_to_first, 4),
            "push_s": round(self.push_s, 3),
            "first_line": self.first_line,
            "foreign_cpu_s": round(self.foreign_cpu_s, 3),
            "git_processes": [[round(t, 4), label] for t, label in self.timeline],
        }


@dataclass(frozen=True)
class PushTo:
    """A server to push to: its name, the app's URL, the pids ForeignCpu should count as ours."""

    name: str
    url: str
    pid: int


def run(ctx: Context) -> Result:
    home = ctx.workdir / "home"
    env = push_env(home, tiny_wheelhouse(ctx.workdir / "wheels", WHEELS))
    logs = ctx.workdir / "logs"
    logs.mkdir(exist_ok=True)
    runs = min(ctx.runs, 2) if ctx.quick else ctx.runs
    measured: list[Measured] = []
    with contextlib.ExitStack() as stack:
        cedarbox = stack.enter_context(cedarbox_server(ctx, ctx.workdir / "data", env, logs))
        plain = stack.enter_context(PlainTarget(ctx, env, logs))
        plain_url, plain_repo = plain.prepare(APP)
        hook = plain_repo / "hooks" / "pre-receive"
        hook.write_text(PLAIN_HOOK)
        hook.chmod(0o755)
        targets = (
            PushTo("cedarbox", f"{cedarbox.url}/{APP}.git", cedarbox.pid),
            PushTo("plain", plain_url, plain.server.pid),
        )
        pids = (cedarbox.pid, plain.server.pid)
        source = commit_files(ctx.workdir / "app", env, tiny_python_app(WHEELS, "v0"))
        ctx.log("warm-up push to each server (not counted; cedarbox's is a cold build) ...")
        for target in targets:
            warmup = ctx.workdir / "trace" / f"warmup-{target.name}"
            _measure(target, 0, source, env, home, warmup, pids)
        for number in range(1, runs + 1):
            commit_files(source, env, {"app.py": f"print('v{number}')\n"}, f"change {number}")
            order = targets if number % 2 else targets[::-1]
            for target in order:
                tracedir = ctx.workdir / "trace" / f"{number}-{target.name}"
                m = _measure(target, number, source, env, home, tracedir, pids)
                measured.append(m)
                ctx.log(
                    f"run {number} {m.server:8s} pack received -> first line "
                    f"{m.pack_to_first:6.3f} s  (client: pack sent -> first line "
                    f"{m.sent_to_first:6.3f} s; hook starts after {m.pack_to_hook:5.3f} s)  "
                    f"push {m.push_s:5.2f} s  other processes' cpu {m.foreign_cpu_s:4.2f} s"
                )
    return _result(measured)


def _measure(
    target: PushTo,
    number: int,
    source: Path,
    env: Mapping[str, str],
    home: Path,
    tracedir: Path,
    pids: Sequence[int],
) -> Measured:
    """Push `main` with the servers' trace2 on; check it landed; derive the intervals."""
    tracedir.mkdir(parents=True)
    gitconfig = home / ".gitconfig"  # the servers' git reads it; the client has its own
    gitconfig.write_text(f"[trace2]\n\teventTarget = {tracedir}\n")
    try:
        with ForeignCpu(*pids) as foreign:
            start = time.perf_counter()
            code, lines = run_stamped(
                ["git", "push", "--progress", target.url, "main"], source, env, PUSH_TIMEOUT
            )
            push_s = time.perf_counter() - start
    finally:
        gitconfig.write_text("")
    transcript = "\n".join(line.text for line in lines)
    if code != 0:
        raise RuntimeError(f"push to {target.name} failed ({code}):\n{transcript}")
    first = next((line for line in lines if line.text.startswith("remote:")), None)
    sent = next((line for line in lines if line.text.startswith("Total ")), None)
    if first is None or sent is None:
        raise RuntimeError(f"no 'Total' or no 'remote:' line from {target.name}:\n{transcript}")
    server = parse_server_trace(tracedir)
    return Measured(
        server=target.name,
        run=number,
        pack_to_first=first.at - server.pack_received,
        sent_to_first=first.at - sent.at,
        pack_to_hook=server.hook_started - server.pack_received,
        hook_to_first=first.at - server.hook_started,
        push_s=push_s,
        first_line=first.text.strip(),
        foreign_cpu_s=foreign.seconds,
        timeline=[(t - server.pack_received, label) for t, label in server.processes],
    )


def _result(measured: list[Measured]) -> Result:
    ced = [m for m in measured if m.server == "cedarbox"]
    plain = [m for m in measured if m.server == "plain"]

    def row(metric: str, attr: str, target: Target | None = None) -> Row:
        value = median([getattr(m, attr) for m in ced])
        return Row(metric, value, "s", median([getattr(m, attr) for m in plain]), target)

    rows = [
        row("pack received -> first remote: line", "pack_to_first", TARGET),
        row("client: pack sent -> first remote: line", "sent_to_first"),
        row("server: pack received -> pre-receive hook starts", "pack_to_hook"),
        row("server: hook starts -> first remote: line", "hook_to_first"),
        row("git push wall time", "push_s"),
    ]
    mid = sorted(ced, key=lambda m: m.pack_to_first)[len(ced) // 2]
    steps = "; ".join(f"+{t * 1000:.0f} ms {label}" for t, label in mid.timeline if t >= 0)
    notes = [
        f"first lines: cedarbox {ced[0].first_line!r}, plain {plain[0].first_line!r}",
        "pack received = receive-pack's unpack-objects/index-pack exits (server trace2); "
        "first line = the first 'remote:' line on git push's stderr pipe; "
        "baseline: bench/plain_backend.py with a pre-receive hook that echoes one line",
        f"cedarbox median run ({mid.pack_to_first * 1000:.0f} ms), git processes started "
        f"after the pack was received: {steps}",
    ]
    foreign = sum(m.foreign_cpu_s for m in measured)
    share = foreign / (sum(m.push_s for m in measured) * (os.cpu_count() or 1))
    notes.append(
        f"other processes on the machine used {foreign:.2f} CPU-s during the timed pushes "
        f"({share:.0%} of all CPUs' time)"
    )
    warnings = []
    if share > FOREIGN_CPU_WARNING:
        warnings.append(
            f"other processes used {share:.0%} of the CPUs during the timed pushes: the "
            "timings are skewed; rerun on a quiet machine"
        )
    return Result(
        rows=rows,
        notes=notes,
        warnings=warnings,
        details={
            "runs": len(ced),
            "foreign_cpu_share": share,
            "pushes": [m.to_json() for m in measured],
        },
    )


BENCHMARK = Benchmark(
    name="first_line",
    description="pack received to the first remote: line: cedarbox build vs a one-line hook",
    run=run,
)
