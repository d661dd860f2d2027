"""Finding a test server's processes through /proc, so crash tests kill only their own.

Every lookup is scoped: to the descendants of a server pid the test started, or to processes
whose command line, environment or working directory names the test's own data directory.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

HOOK_MODULE = "gitserver.receive.hook"


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    argv: tuple[str, ...]

    @property
    def cmdline(self) -> str:
        return " ".join(self.argv)


def _read(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name in stat may hold spaces and parentheses: fields follow the last ")".
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":  # a zombie has exited already: nothing to kill or wait for
        return None
    argv = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return Proc(pid=pid, ppid=int(fields[1]), argv=argv)


def all_procs() -> list[Proc]:
    procs = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (proc := _read(int(entry))) is not None:
            procs.append(proc)
    return procs


def descendants(root: int) -> list[Proc]:
    """Every live process below `root` (not `root` itself)."""
    procs = all_procs()
    children: dict[int, list[Proc]] = {}
    for proc in procs:
        children.setdefault(proc.ppid, []).append(proc)
    found: list[Proc] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child.pid)
    return found


def is_hook(proc: Proc, by_pid: dict[int, Proc]) -> bool:
    """The pre-receive hook itself, not a child it forked that has not exec'd yet."""
    parent = by_pid.get(proc.ppid)
    return HOOK_MODULE in proc.argv and not (parent is not None and HOOK_MODULE in parent.argv)


def is_pip(proc: Proc) -> bool:
    """A build's `python -m pip install …` (the hook's own children never run pip)."""
    return "-m" in proc.argv and "pip" in proc.argv and "install" in proc.argv


def find_hook(server_pid: int) -> Proc | None:
    procs = descendants(server_pid)
    by_pid = {p.pid: p for p in procs}
    return next((p for p in procs if is_hook(p, by_pid)), None)


def find_pip(server_pid: int) -> Proc | None:
    return next((p for p in descendants(server_pid) if is_pip(p)), None)


def wait_for(
    probe: Callable[[], Proc | None], until_false: Callable[[], bool], poll: float = 0.01
) -> Proc | None:
    """Poll `probe` until it finds a process; None once `until_false()` says stop looking."""
    while True:
        if (found := probe()) is not None:
            return found
        if not until_false():
            return None
        time.sleep(poll)


def kill(pid: int) -> bool:
    """SIGKILL `pid`; False if it had already gone."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def _mentions(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if needle in f.read():
                return True
        with open(f"/proc/{pid}/environ", "rb") as f:
            if needle in f.read():
                return True
        return os.readlink(f"/proc/{pid}/cwd").encode().startswith(needle)
    except OSError:
        return False


def using_data_dir(data_dir: Path, exclude: Iterable[int] = ()) -> list[Proc]:
    """Live processes that belong to `data_dir` (orphans of a killed server or hook included)."""
    needle = str(data_dir).encode()
    skip = {os.getpid(), *exclude}
    return [p for p in all_procs() if p.pid not in skip and _mentions(p.pid, needle)]


def settle(data_dir: Path, exclude: Iterable[int] = (), timeout: float = 30) -> list[Proc]:
    """Wait until nothing but `exclude` uses `data_dir`; return what is still alive then."""
    keep = list(exclude)
    deadline = time.monotonic() + timeout
    while (left := using_data_dir(data_dir, keep)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
