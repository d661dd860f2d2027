"""OS processes of dynos: spawn in a process group of its own, signal the group, find strays."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start a dyno's process as the leader of a new session (so a process group of its own):
    stdin from /dev/null, stdout and stderr merged into one pipe."""
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
    )


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send `sig` to every process of the group; False if none is left."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _stat_fields(int(entry.name))
        if stat and stat[0] != "Z" and int(stat[2]) == pgid:
            members.append(int(entry.name))
    return members


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot): with the pid, an identity
    that survives pid reuse."""
    stat = _stat_fields(pid)
    return int(stat[19]) if stat else None


def is_same_process(pid: int | None, started: int | None) -> bool:
    return bool(pid) and started is not None and start_time(pid or 0) == started


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on the port (Heroku's boot check)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def exit_status(returncode: int) -> int:
    """Heroku's `Process exited with status N`: signals as 128 + signal number."""
    return 128 - returncode if returncode < 0 else returncode


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: [state, ppid, pgrp, ...]."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()
