"""Control groups for app code: processes, memory and CPU of each build step, release phase,
dyno and one-off, and what each hit.

Groups nest under the server's own group in each hierarchy (from /proc/self/cgroup), in a
root of the data directory's own (`cedarbox-<digest of the data directory>`): one directory
per app, which holds the app's CPU share, and in it one group per step or dyno, which holds
its process and memory limits:

    <server's group>/cedarbox-1a2b3c4d5e/<app>/<unit>      e.g. …/myapp/web.1-0f3e9a2c

cgroup v1 (pids, memory and cpu hierarchies) is used where all three are writable, else
cgroup v2 where the server's group can hand those controllers down; else there are no groups
and `unavailable()` says why (the sandbox then limits processes per app uid with prlimit).

A sandboxed command joins its group before it can fork: the wrapped argv starts with a shell
that writes its own pid into the group's `cgroup.procs` files and execs the rest (sandbox.wrap).
Groups are removed when their step or dyno ends; `sweep` removes what a crash left behind.
The parsers are pure; the file system is touched only by `Backend` and `Group`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CONTROLLERS = ("pids", "memory", "cpu")
CGROUP_FS = Path("/sys/fs/cgroup")
CPU_SHARES = 1024  # v1: every app the same share (the kernel's default weight)
CPU_WEIGHT = 100  # v2: the same, in cpu.weight's units
_REMOVE_TIMEOUT = 5.0
STALE_AFTER = 60.0  # seconds: an empty group this old belongs to no live step or dyno


# Pure parts ------------------------------------------------------------------------------


def parse_keyed(text: str) -> dict[str, int]:
    """`key value` lines (pids.events, memory.events, memory.oom_control, memory.stat)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2:
            with contextlib.suppress(ValueError):
                values[words[0]] = int(words[1])
    return values


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/PID/cgroup: each controller's group path; cgroup v2's unified one under ''."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            paths[""] = path
        for name in controllers.split(","):
            if name:
                paths[name] = path
    return paths


@dataclass(frozen=True)
class Mount:
    """One cgroup mount of /proc/self/mountinfo: v1 (with its controllers) or v2."""

    version: int
    root: str  # the hierarchy's path mounted there
    point: Path
    controllers: tuple[str, ...]  # v1 only


def parse_mountinfo(text: str) -> list[Mount]:
    """The cgroup and cgroup2 mounts of a /proc/PID/mountinfo."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, point = fields[3], Path(fields[4].replace("\\040", " "))
        if tail[0] == "cgroup2":
            mounts.append(Mount(2, root, point, ()))
        elif tail[0] == "cgroup":
            names = tuple(o for o in tail[2].split(",") if o in CONTROLLERS)
            if names:
                mounts.append(Mount(1, root, point, names))
    return mounts


def group_dir(mount: Mount, path: str) -> Path:
    """Where group `path` (as /proc/self/cgroup names it) is in `mount`'s file system."""
    rel = os.path.relpath(path, mount.root) if mount.root != "/" else path.lstrip("/")
    if rel.startswith(".."):
        raise ValueError(f"{path} is outside the mount of {mount.root}")
    return mount.point / rel if rel not in ("", ".") else mount.point


def root_name(data_dir: Path) -> str:
    """The data directory's own root group: servers of other data directories keep theirs."""
    return "cedarbox-" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:10]


def unit_name(kind: str) -> str:
    """A group name for one step or dyno: `kind` (e.g. `build`, `web.1`) and a unique tail."""
    safe = "".join(c if c.isalnum() or c in ".-_" else "-" for c in kind) or "unit"
    return f"{safe}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Limits:
    """What one step or dyno may use: processes (threads count) and memory in bytes (None:
    no limit). The CPU share is the app's, the same for every app."""

    max_processes: int
    memory_bytes: int | None


@dataclass(frozen=True)
class Events:
    """What a group hit: forks refused at its process limit, processes the kernel's OOM
    killer ended at its memory limit."""

    process_limit_hits: int = 0
    oom_kills: int = 0


def events_v1(pids_events: str, oom_control: str) -> Events:
    return Events(
        parse_keyed(pids_events).get("max", 0), parse_keyed(oom_control).get("oom_kill", 0)
    )


def events_v2(pids_events: str, memory_events: str) -> Events:
    return Events(
        parse_keyed(pids_events).get("max", 0), parse_keyed(memory_events).get("oom_kill", 0)
    )


def working_set(usage: int, stat: Mapping[str, int]) -> int:
    """Memory in use as Heroku's `mem=` counts it: the usage without reclaimable file cache."""
    inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    return max(usage - inactive, 0)


# The file system -------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One step's or dyno's group: a directory per hierarchy (v2: one)."""

    version: int
    dirs: tuple[tuple[str, Path], ...]  # (controller, directory); v2: ("", directory)

    def dir(self, controller: str) -> Path:
        for name, path in self.dirs:
            if name in (controller, ""):
                return path
        raise KeyError(controller)

    def procs_files(self) -> tuple[Path, ...]:
        """The `cgroup.procs` files a process writes its pid into to join the group."""
        return tuple(dict.fromkeys(path / "cgroup.procs" for _, path in self.dirs))

    def events(self) -> Events:
        try:
            pids = _read(self.dir("pids") / "pids.events")
            if self.version == 1:
                return events_v1(pids, _read(self.dir("memory") / "memory.oom_control"))
            return events_v2(pids, _read(self.dir("memory") / "memory.events"))
        except OSError:
            return Events()

    def memory_in_use(self) -> int:
        """Bytes in use now (0 once the group is gone)."""
        memory = self.dir("memory")
        try:
            usage = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
            stat = parse_keyed(_read(memory / "memory.stat"))
            return working_set(int(_read(memory / usage)), stat)
        except (OSError, ValueError):
            return 0

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.procs_files():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in _read(path).split())
        return sorted(found)

    def kill(self) -> None:
        """SIGKILL everything in the group (an R15; what a step or dyno left behind)."""
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Kill what is left in it and remove it (it empties as its processes are reaped),
        then its app's and the root's directories if nothing else is in them (a new group
        makes them again)."""
        deadline = time.monotonic() + _REMOVE_TIMEOUT
        for _, path in self.dirs:
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        break
                    self.kill()
                    time.sleep(0.001)
            if _rmdir(path.parent):
                _rmdir(path.parent.parent)


@dataclass(frozen=True)
class Backend:
    """The hierarchies groups are made in: v1's pids, memory and cpu, or one v2 directory."""

    version: int
    roots: tuple[tuple[str, Path], ...]  # (controller, server's group/cedarbox-…); v2: ("", …)

    def describe(self) -> str:
        return f"cgroup v{self.version} (processes, memory and CPU share per app)"

    def create(self, app: str, kind: str, limits: Limits) -> Group:
        """A new group for one step or dyno of `app`, with its limits set."""
        name = unit_name(kind)
        dirs = []
        try:
            for controller, root in self.roots:
                app_dir = root / app
                for attempt in range(3):  # a sweep may remove an empty app directory meanwhile
                    try:
                        app_dir.mkdir(parents=True, exist_ok=True)
                        if self.version == 2:
                            _enable_controllers(root.parent)
                        self._set_share(controller, app_dir)
                        (app_dir / name).mkdir()
                        break
                    except FileNotFoundError:
                        if attempt == 2:
                            raise
                unit = app_dir / name
                dirs.append((controller, unit))
                self._set_limits(controller, unit, limits)
        except OSError:
            Group(self.version, tuple(dirs)).remove()
            raise
        return Group(self.version, tuple(dirs))

    def _set_share(self, controller: str, app_dir: Path) -> None:
        """Every app the same share; all apps together as much as one busy process per core
        of the host's (else, on a busy host, all builds and dynos would share one's worth)."""
        cores = os.cpu_count() or 1
        if self.version == 1 and controller == "cpu":
            _write(app_dir.parent / "cpu.shares", CPU_SHARES * cores)
            _write(app_dir / "cpu.shares", CPU_SHARES)
        elif self.version == 2:
            _enable_controllers(app_dir.parent)
            _write(app_dir.parent / "cpu.weight", min(CPU_WEIGHT * cores, 10000))
            _write(app_dir / "cpu.weight", CPU_WEIGHT)

    def _set_limits(self, controller: str, unit: Path, limits: Limits) -> None:
        if controller in ("pids", ""):
            _write(unit / "pids.max", max(limits.max_processes, 1))
        if controller == "memory" and limits.memory_bytes is not None:
            _write(unit / "memory.limit_in_bytes", limits.memory_bytes)
            with contextlib.suppress(OSError):  # no swap beyond it (when swap accounting is on)
                _write(unit / "memory.memsw.limit_in_bytes", limits.memory_bytes)
        elif controller == "" and limits.memory_bytes is not None:
            _write(unit / "memory.max", limits.memory_bytes)
            with contextlib.suppress(OSError):
                _write(unit / "memory.swap.max", 0)

    def sweep(self, *, roots_too: bool = False) -> int:
        """Remove the empty groups a stopped or crashed server left (busy ones stay: a build
        of the hook's may still run); `roots_too` at shutdown. Returns how many went."""
        removed = 0
        for _, root in self.roots:
            for app_dir in _subdirs(root):
                for unit in _subdirs(app_dir):
                    removed += _rmdir(unit)
                _rmdir(app_dir)
            if roots_too:
                _rmdir(root)
        return removed

    def sweep_others(self, *, older_than: float = STALE_AFTER) -> int:
        """Remove the empty groups other data directories' servers left when they were killed
        (their own next start would, if they ever start again). Only groups older than
        `older_than` seconds: a live server's new group is joined within milliseconds."""
        removed = 0
        now = time.time()
        for _, root in self.roots:
            for other in _subdirs(root.parent):
                if not other.name.startswith("cedarbox-") or other == root:
                    continue
                for app_dir in _subdirs(other):
                    for unit in _subdirs(app_dir):
                        if _age(unit, now) > older_than:
                            removed += _rmdir(unit)
                    if _age(app_dir, now) > older_than:
                        _rmdir(app_dir)
                if _age(other, now) > older_than:
                    _rmdir(other)
        return removed


@cache
def backend(data_dir: Path, setting: str = "auto") -> Backend | str:
    """This host's groups for the data directory, or why there are none (said plainly).
    `setting` is the cgroups setting: "off" makes none."""
    if setting.strip().lower() == "off":
        return "CEDARBOX_CGROUPS=off"
    try:
        mounts = parse_mountinfo(_read(Path("/proc/self/mountinfo")))
        mine = parse_proc_cgroup(_read(Path("/proc/self/cgroup")))
    except OSError as exc:
        return f"cannot read this process's cgroups ({exc})"
    name = root_name(data_dir)
    v1 = _v1(mounts, mine, name)
    if isinstance(v1, Backend):
        return v1
    v2 = _v2(mounts, mine, name)
    if isinstance(v2, Backend):
        return v2
    return f"no usable cgroup (v1: {v1}; v2: {v2})"


def _v1(mounts: list[Mount], mine: Mapping[str, str], name: str) -> Backend | str:
    roots = []
    for controller in CONTROLLERS:
        mount = next((m for m in mounts if m.version == 1 and controller in m.controllers), None)
        if mount is None or controller not in mine:
            return f"no {controller} hierarchy"
        try:
            base = group_dir(mount, mine[controller])
        except ValueError as exc:
            return str(exc)
        if not os.access(base, os.W_OK):
            return f"{base} is not writable"
        roots.append((controller, base / name))
    backend = Backend(1, tuple(roots))
    return _tried(backend)


def _v2(mounts: list[Mount], mine: Mapping[str, str], name: str) -> Backend | str:
    mount = next((m for m in mounts if m.version == 2), None)
    if mount is None or "" not in mine:
        return "not mounted"
    try:
        base = group_dir(mount, mine[""])
        available = _read(base / "cgroup.controllers").split()
    except (ValueError, OSError) as exc:
        return str(exc)
    missing = [c for c in CONTROLLERS if c not in available]
    if missing:
        return f"{base} offers no {', '.join(missing)} controller"
    if not os.access(base, os.W_OK):
        return f"{base} is not writable (it needs root or a delegated group)"
    return _tried(Backend(2, (("", base / name),)))


def _tried(backend: Backend) -> Backend | str:
    """The backend if a group can be made and limited in it (one probe per process)."""
    try:
        backend.create("probe", "probe", Limits(max_processes=8, memory_bytes=64 << 20)).remove()
        for _, root in backend.roots:  # the probe leaves nothing (a busy root stays)
            _rmdir(root / "probe")
            _rmdir(root)
    except OSError as exc:
        return f"cannot make a group ({exc.strerror or exc})"
    return backend


def status_line(data_dir: Path, setting: str = "auto") -> str:
    """What `cedarbox serve` says at start about limits."""
    found = backend(data_dir, setting)
    if isinstance(found, str):
        return (
            f"limits: {found}; processes are limited per app uid (prlimit), memory and CPU are not."
        )
    return f"limits: {found.describe()}."


def unavailable(data_dir: Path, setting: str = "auto") -> str:
    """'' when groups can be made, else why not."""
    found = backend(data_dir, setting)
    return found if isinstance(found, str) else ""


def new_group(
    data_dir: Path, app: str, kind: str, limits: Limits, setting: str = "auto"
) -> Group | None:
    """A group for one step or dyno of `app` (None where there are none); OSError when the
    host has groups but this one cannot be made."""
    found = backend(data_dir, setting)
    return None if isinstance(found, str) else found.create(app, kind, limits)


@contextlib.contextmanager
def group_for(data_dir: Path, app: str, kind: str, limits: Limits) -> Iterator[Group | None]:
    """`new_group` for the block, removed after it."""
    group = new_group(data_dir, app, kind, limits)
    try:
        yield group
    finally:
        if group is not None:
            group.remove()


def _enable_controllers(parent: Path) -> None:
    """v2: let `parent`'s children use pids, memory and cpu (its subtree_control)."""
    control = parent / "cgroup.subtree_control"
    if set(CONTROLLERS) - set(_read(control).split()):
        _write(control, " ".join("+" + c for c in CONTROLLERS))


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except OSError:
        return []


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0


def _rmdir(path: Path) -> int:
    try:
        path.rmdir()
    except OSError:
        return 0
    return 1


def _read(path: Path) -> str:
    with open(path) as f:
        return f.read()


def _write(path: Path, value: object) -> None:
    with open(path, "w") as f:
        f.write(str(value))
