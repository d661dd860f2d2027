"""A dyno's limits as Heroku reports them: R14 while over its memory quota, R15 when it is
killed for vastly exceeding it, and one line when it hits its process limit.

The supervisor reads each dyno's control group (gitserver/cgroups.py) every tick; `assess`
turns a reading into the `heroku[web.1]` lines and whether to stop the dyno, and is pure. The
kernel enforces the hard limit (twice the quota, Heroku's R15 point for standard-1X dynos):
an OOM kill in the group is the R15, after which the whole dyno is stopped, as on Heroku.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitserver import cgroups

R14_EVERY = 20.0  # seconds between R14 reports while a dyno stays over its quota (Heroku's)
MB = 1024 * 1024


@dataclass
class Watch:
    """What has been reported of one dyno's group so far."""

    group: cgroups.Group
    quota_mb: int
    limit_mb: int
    max_processes: int
    last_r14: float | None = None
    seen: cgroups.Events = field(default_factory=cgroups.Events)


@dataclass(frozen=True)
class Verdict:
    lines: tuple[str, ...] = ()
    kill: bool = False


def mem_line(used_bytes: int, quota_mb: int) -> str:
    """Heroku's `Process running mem=600M(117.2%)`."""
    used_mb = used_bytes // MB
    return f"Process running mem={used_mb}M({100 * used_bytes / (quota_mb * MB):.1f}%)"


def assess(watch: Watch, used_bytes: int, events: cgroups.Events, now: float) -> Verdict:
    """The lines one reading of the dyno's group earns, updating `watch`."""
    lines: list[str] = []
    kill = False
    if events.process_limit_hits > watch.seen.process_limit_hits and not (
        watch.seen.process_limit_hits
    ):
        lines.append(
            f"Error: process limit reached ({watch.max_processes} processes and threads): a "
            "fork was refused. Raise it with CEDARBOX_DYNO_MAX_PROCESSES on the cedarbox server."
        )
    if events.oom_kills > watch.seen.oom_kills:
        lines += [
            mem_line(watch.limit_mb * MB, watch.quota_mb),
            "Error R15 (Memory quota vastly exceeded)",
            "Stopping process with SIGKILL",
        ]
        kill = True
    elif used_bytes > watch.quota_mb * MB:
        if watch.last_r14 is None or now - watch.last_r14 >= R14_EVERY:
            lines += [mem_line(used_bytes, watch.quota_mb), "Error R14 (Memory quota exceeded)"]
            watch.last_r14 = now
    else:
        watch.last_r14 = None
    watch.seen = events
    return Verdict(tuple(lines), kill)


def limit_reason(events: cgroups.Events, *, max_processes: int, quota_mb: int) -> str:
    """Why a one-off (the release phase) failed, if a limit of its group's made it: '' if not."""
    if events.oom_kills:
        return (
            f" It ran out of memory: the limit is {2 * quota_mb} MB, twice the dyno quota "
            "CEDARBOX_DYNO_MEMORY_QUOTA_MB."
        )
    if events.process_limit_hits:
        return (
            f" It hit the limit of {max_processes} processes and threads "
            "(CEDARBOX_DYNO_MAX_PROCESSES)."
        )
    return ""


def check(watch: Watch, now: float) -> Verdict:
    """Read the group and assess it; a verdict to kill has already killed the group."""
    verdict = assess(watch, watch.group.memory_in_use(), watch.group.events(), now)
    if verdict.kill:
        watch.group.kill()
    return verdict
