"""The release phase: the Procfile's `release:` command, run before a new release is created.

It runs in the pushing hook's process, as a one-off dyno would on Heroku: from the new slug
(unpacked into scratch space, never the source tree), with the config vars the release will
have, `.profile.d` sourced, `DYNO=release.NNNN` (a gitserver.runner.oneoff one-off), its
output streamed to the push in Heroku's words (`Running release command...` … `Waiting for
release.... done.`). If it fails or runs past `release_timeout`, ReleaseFailed refuses the
push and no release is created, so the previous release keeps running (heroku-reference §9).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitserver.applog import AppLog
from gitserver.cgroups import Events
from gitserver.errors import ReleaseFailed
from gitserver.output import Output
from gitserver.pipeline.outputcap import LineSplitter, OutputBudget
from gitserver.processes import exit_status, signal_group, spawn
from gitserver.runner import quota, releasedirs
from gitserver.runner.environment import dyno_argv, dyno_environment
from gitserver.runner.oneoff import OneOff, one_off
from gitserver.runner.sandboxing import DynoSandbox
from gitserver.store import Store


@dataclass(frozen=True)
class ReleasePhase:
    """A successful release phase: the unpacked slug it ran from, ready to be adopted."""

    staging: Path  # remove once adopted
    unpacked: Path  # staging/slug: untouched by the command, which ran in a copy


def run_release_phase(
    *,
    app: str,
    command: str,
    slug: Path,
    config: Mapping[str, str],
    scratch: Path,
    store: Store,
    log: AppLog,
    out: Output,
    timeout: float,
    current_version: int | None,
    box: DynoSandbox,
    output_max_bytes: int = 10 * 1024 * 1024,
) -> ReleasePhase:
    """Run `command`; raise ReleaseFailed (after printing why) unless it exits 0 in time.

    Its output is capped at `output_max_bytes` as a build's is (gitserver.pipeline.outputcap).
    """
    out.line("Running release command...")
    out.line()
    staging = Path(scratch) / f"release-{uuid.uuid4().hex[:12]}"
    try:
        unpacked = staging / "slug"
        releasedirs.unpack_to(slug, unpacked)
        # The release isn't created yet: its one-off belongs to no version (0).
        with one_off(
            store, log, app=app, kind="release", release_version=0, command=command
        ) as dyno:
            home = releasedirs.fresh_copy(unpacked, staging / dyno.name)
            env = dyno_environment(os.environ, config, home=home, dyno=dyno.name, port=None)
            with box.group(dyno.name) as group:
                argv = box.command(home, dyno_argv(command), group=group)
                budget = OutputBudget(output_max_bytes)
                status, timed_out = _run(dyno, argv, home, env, log, out, timeout, budget)
                events = group.events() if group is not None else Events()
            shutil.rmtree(home, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if status == 0:
        out.line("Waiting for release.... done.")
        return ReleasePhase(staging, unpacked)
    shutil.rmtree(staging, ignore_errors=True)
    out.line("Waiting for release.... failed.")
    if timed_out:
        why = f"`{command}` did not finish within {int(timeout)} seconds and was stopped."
    else:
        why = f"`{command}` exited with status {status}." + quota.limit_reason(
            events, max_processes=box.max_processes, quota_mb=box.memory_quota_mb
        )
    keeps = (
        f"v{current_version} keeps running."
        if current_version
        else "The app has no release running yet."
    )
    raise ReleaseFailed(
        f"Release command failed: {why}",
        hint=f"No release was created; {keeps} Fix the command (its output is above) and push "
        "again.",
    )


def _run(
    dyno: OneOff,
    argv: list[str],
    home: Path,
    env: dict[str, str],
    log: AppLog,
    out: Output,
    timeout: float,
    budget: OutputBudget,
) -> tuple[int, bool]:
    """Run the command, streaming its output; returns (exit status, whether it timed out)."""
    proc = spawn(argv, cwd=home, env=env)
    dyno.started(proc.pid)

    def emit(raw: bytes, size: int) -> None:
        was_exhausted = budget.exhausted
        if budget.take(size + 1):
            text = raw.decode("utf-8", "replace").rstrip("\r")
            out.line(text)
            log.write(f"app[{dyno.name}]", text)
        elif not was_exhausted:
            out.bang(budget.dropped_line())

    def pump() -> None:
        assert proc.stdout is not None
        splitter = LineSplitter(budget.limit)
        with proc.stdout:
            while data := os.read(proc.stdout.fileno(), 65536):
                if not budget.exhausted:  # else read and dropped, so the command never blocks
                    for raw, size in splitter.feed(data):
                        emit(raw, size)
            if (last := splitter.flush()) is not None:
                emit(*last)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            signal_group(proc.pid, signal.SIGKILL)
            code = proc.wait()
        status = exit_status(code)
    finally:
        # Nothing of a one-off outlives it (this also ends the output of strays it left).
        signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(timeout=5)
    dyno.exited(status)
    return status, timed_out
