"""Sandboxes for app code: every build step, release phase, dyno and one-off runs in bubblewrap.

A `Policy` (the app, its identity, what it may write and read, its limits) becomes a `Launch`:
the argv and Popen keyword arguments that run a command inside `bwrap` with new mount, pid,
ipc, uts and user namespaces. The sandbox sees host `/usr`, `/etc` and the interpreters
read-only, only the policy's writable directories (a build's own directory, cache copy and
ENV_DIR; a dyno's own tree), a private `/tmp` and a `/proc` of its own pid namespace: no data
directory, no other app, no other process. `--die-with-parent` and the pid namespace end the
whole tree (`setsid` children included) with the step or dyno. The network is the host's.

As root (this machine, CI), each app gets an unprivileged uid of its own, allocated on demand,
deterministic from the app's name and recorded in `DATA_DIR/sandbox-uids.json`: bwrap sets up
the mounts as root, then `setpriv` drops to the app's uid with no capabilities and
`no_new_privs`, and `unshare --user` puts the command in a user namespace of its own. Its
limits are those of its control group (`Policy.cgroup`, gitserver/cgroups.py), which it joins
before bwrap starts; without one, `prlimit --nproc` counts the processes of the app's uid,
i.e. of that one sandbox and the app's others. Not as root,
the sandbox runs as the server's own user in a user namespace: apps are not separated from
each other by uid then, only by what each sandbox can see.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import json
import os
import random
import re
import shlex
import shutil
import socket
import subprocess
import sys
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gitserver import cgroups
from gitserver.errors import CedarboxError

# Per-app uids (and gids) live in this range; the firewall rule names the same range.
UID_BASE = 2_000_000
UID_SPAN = 1_000_000
UIDS_FILE = "sandbox-uids.json"
# Web dynos of sandboxed apps listen on a port from this range (outside Linux's ephemeral
# range 32768-60999), so one firewall rule keeps every sandboxed uid away from every dyno.
DYNO_PORTS = range(20000, 30000)
_HOST_TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


class SandboxUnavailable(CedarboxError):
    code = "SANDBOX_UNAVAILABLE"


@dataclass(frozen=True)
class Identity:
    """Who the sandboxed command is on the host: an app's own uid/gid (None: the server's)."""

    uid: int
    gid: int


@dataclass(frozen=True)
class Policy:
    """What one sandboxed command may do."""

    app: str
    identity: Identity | None
    writable: tuple[Path, ...]
    readonly: tuple[Path, ...]
    cwd: Path
    max_processes: int
    # A session of its own, away from the caller's terminal (no TIOCSTI into it): for a
    # one-off attached to a terminal. Never for dynos, whose process group is what stops them.
    new_session: bool = False
    # The sandbox dies with the thread that started it (PR_SET_PDEATHSIG). Off only for a
    # detached one-off, started by a request's thread that ends at once.
    die_with_parent: bool = True
    # The control group (gitserver/cgroups.py) it joins before it starts: its process limit
    # then replaces prlimit's, which counts all processes of the app's uid.
    cgroup: cgroups.Group | None = None


@dataclass(frozen=True)
class Mode:
    """The sandbox this host gives: enabled (bwrap works), with per-app uids (as root)."""

    enabled: bool
    per_app_uid: bool
    reason: str = ""  # why it is off

    def describe(self) -> str:
        if not self.enabled:
            return f"Sandbox: off ({self.reason}); app code runs unconfined as the server's user."
        if self.per_app_uid:
            return "Sandbox: bubblewrap, one unprivileged uid per app."
        return (
            "Sandbox: bubblewrap in a user namespace as the server's own user "
            "(not root: apps do not get uids of their own)."
        )


def mode(setting: str) -> Mode:
    """The sandbox for the `sandbox` setting ("auto" or "off"); raises SandboxUnavailable
    when it is on but this host cannot make one."""
    if setting.strip().lower() == "off":
        return Mode(enabled=False, per_app_uid=False, reason="CEDARBOX_SANDBOX=off")
    problem = _probe()
    if problem:
        raise SandboxUnavailable(
            f"Cannot sandbox app code on this host: {problem}.",
            hint="Install bubblewrap (apt-get install bubblewrap, or `make install`) and allow "
            "user namespaces (sysctl user.max_user_namespaces=15000), or run the server with "
            "CEDARBOX_SANDBOX=off to build and run apps unconfined.",
        )
    return Mode(enabled=True, per_app_uid=os.geteuid() == 0)


@cache
def _probe() -> str:
    """'' if bwrap can make a sandbox here, else what is missing."""
    for tool in ("bwrap", "prlimit", *(("setpriv", "unshare") if os.geteuid() == 0 else ())):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    probe = wrap(
        Policy(
            app="probe",
            identity=Identity(UID_BASE, UID_BASE) if os.geteuid() == 0 else None,
            writable=(),
            readonly=(),
            cwd=Path("/"),
            max_processes=64,
        ),
        ["true"],
    )
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap did not run ({exc})"
    if done.returncode != 0:
        return f"bwrap failed: {done.stderr.strip() or done.returncode}"
    return ""


def wrap(policy: Policy, argv: Sequence[str]) -> list[str]:
    """The argv that runs `argv` inside the policy's sandbox (the caller's Popen is unchanged:
    bwrap is the process it starts, and everything it starts dies with it)."""
    # bwrap itself ignores SIGTERM (a dyno's stop signals the whole process group): the
    # command gets it and decides, and SIGKILL after the grace still ends everything.
    bwrap = [
        "env",
        "--ignore-signal=TERM",
        "bwrap",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        # A cgroup namespace made from inside a group of gitserver/cgroups.py costs ~11 ms
        # (bench/sandbox.py); in one, the sandbox's /proc/self/cgroup names its own group, and
        # it has no cgroup file system to use it with.
        *([] if policy.cgroup is not None else ["--unshare-cgroup-try"]),
        *(["--die-with-parent"] if policy.die_with_parent else []),
        "--hostname",
        policy.app,
        "--ro-bind",
        "/usr",
        "/usr",
        "--ro-bind",
        "/etc",
        "/etc",
    ]
    if policy.identity is None:
        bwrap.insert(3, "--unshare-user")
    for name in _HOST_TOP_LEVEL:
        path = Path("/") / name
        if path.is_symlink():
            bwrap += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            bwrap += ["--ro-bind", str(path), str(path)]
    bwrap += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    made: set[Path] = {Path("/"), Path("/tmp")}
    readonly = [p for p in policy.readonly if p.exists() and not _under(p, ("/usr", "/etc"))]
    for path, option in [
        *((p, "--ro-bind") for p in _by_depth(readonly)),
        *((p, "--bind") for p in _by_depth([p for p in policy.writable if p.exists()])),
    ]:
        # bwrap would make the parents 0700 (root's); 0711 lets the app through, not list.
        for parent in reversed(path.parents):
            if parent not in made:
                bwrap += ["--perms", "0711", "--dir", str(parent)]
                made.add(parent)
        bwrap += [option, str(path), str(path)]
        made.add(path)
    if policy.new_session:
        bwrap.append("--new-session")
    bwrap += ["--chdir", str(policy.cwd), "--"]
    inner: list[str] = []
    if policy.identity is not None:
        uid, gid = policy.identity.uid, policy.identity.gid
        inner += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
            "unshare",
            "--user",
            "--map-current-user",
            "--",
        ]
    inner += ["env", "--default-signal=TERM"]
    if policy.cgroup is None:
        n = max(policy.max_processes, 1)
        inner += ["prlimit", f"--nproc={n}:{n}", "--"]
    return _joining(policy.cgroup) + bwrap + inner + list(argv)


def _joining(group: cgroups.Group | None) -> list[str]:
    """The argv prefix that puts the sandbox into `group` before it can fork: a shell writes
    its own pid into the group's cgroup.procs files (as the server's user, outside the
    sandbox, which cannot see them) and execs bwrap. One of the writes usually waits for an RCU
    grace period (~8 ms here: the kernel's cgroup_threadgroup_rwsem; a cgroup mount with
    `favordynmods` should avoid it, untested)."""
    if group is None:
        return []
    joins = " && ".join(f"echo $$ > {shlex.quote(str(p))}" for p in group.procs_files())
    return ["/bin/sh", "-c", f'{joins} && exec "$@"', "cedarbox-cgroup"]


def exec_problem(program: str, search_path: str) -> OSError | None:
    """The error exec would give for `program` (its own or its #! interpreter's), found here
    before the sandbox starts so that "could not be started" stays an OSError for the caller."""
    path = shutil.which(program, path=search_path) if "/" not in program else program
    if path is None or not os.path.exists(path):
        return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    if not os.path.isfile(path) or not os.stat(path).st_mode & 0o111:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
    except OSError as exc:
        return exc
    if first.startswith(b"#!"):
        words = first[2:].split()
        interpreter = words[0].decode("utf-8", "replace") if words else ""
        if not interpreter or not os.path.exists(interpreter):
            return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    return None


def readonly_roots(
    *,
    tool_wheels: Path | None = None,
    pip_env: Mapping[str, str] | None = None,
    extra: str = "",
) -> tuple[Path, ...]:
    """What app code needs to read besides /usr and /etc: the interpreters (pyenv, uv, this
    Python), the tool wheels, the local wheelhouses and indexes the server's own PIP_* settings
    name (`pip_env`: never an app's config vars), and the operator's `extra` (the
    sandbox_readonly setting, colon-separated paths)."""
    env = os.environ
    home = Path(env.get("HOME") or Path.home())
    roots = [
        Path(env.get("PYENV_ROOT") or home / ".pyenv"),
        home / ".local" / "share" / "uv" / "python",
        Path(sys.base_prefix),
        Path(sys.prefix),
        Path(sys.executable).resolve().parent.parent,
    ]
    if tool_wheels is not None:
        roots.append(tool_wheels)
    for source in (env, pip_env or {}):
        for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
            for word in source.get(name, "").split():
                path = word.removeprefix("file://")
                if path.startswith("/"):
                    roots.append(Path(path))
    roots += [Path(p) for p in extra.split(":") if p]
    return tuple(p for p in roots if p.is_absolute())


def app_identity(data_dir: Path, app: str) -> Identity:
    """The app's own uid (= gid): deterministic from its name, recorded, never shared."""
    path = data_dir / UIDS_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir / f".{UIDS_FILE}.lock"):
        try:
            uids: dict[str, int] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            uids = {}
        if app in uids:
            return Identity(uids[app], uids[app])
        taken = set(uids.values())
        uid = UID_BASE + 1 + zlib.crc32(app.encode()) % (UID_SPAN - 1)
        while uid in taken:
            uid = UID_BASE + 1 + (uid - UID_BASE) % (UID_SPAN - 1)
        uids[app] = uid
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(uids, indent=1, sort_keys=True))
        tmp.chmod(0o600)
        tmp.replace(path)
        return Identity(uid, uid)


def give(identity: Identity | None, paths: Sequence[Path]) -> None:
    """Make `paths` (recursively, never following links) the app's, so it can write them.

    Only what is not the app's yet is changed (`find`, then `chown` on those): a tree the app
    owns already costs one walk, and its files keep their ctimes."""
    if identity is None:
        return
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        uid, gid = str(identity.uid), str(identity.gid)
        not_the_apps = ["(", "!", "-uid", uid, "-o", "!", "-gid", gid, ")"]
        chown = ["-exec", "chown", "-h", f"{uid}:{gid}", "--", "{}", "+"]
        subprocess.run(
            ["find", "-P", *existing, *not_the_apps, *chown], check=True, capture_output=True
        )


def dyno_port(host: str = "127.0.0.1") -> int:
    """A free port in DYNO_PORTS (where the firewall keeps other apps out)."""
    for _ in range(200):
        port = random.choice(DYNO_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise SandboxUnavailable(
        f"No free port in {DYNO_PORTS.start}-{DYNO_PORTS.stop - 1} for a dyno.",
        hint="Stop some dynos (ps:scale) or free ports in that range.",
    )


GUARD_COMMENT = "cedarbox-guard"  # each process's rule is tagged `cedarbox-guard pid=N`
_GUARD_TOOLS = ("iptables", "ip6tables")


def guard_rule(owner: int) -> list[str]:
    """The OUTPUT rule (after -C/-I/-D) that keeps every sandboxed uid from connecting to any
    dyno port over loopback, tagged with the pid of the process that owns it."""
    last = DYNO_PORTS.stop - 1
    return [
        "OUTPUT",
        "-o",
        "lo",
        "-p",
        "tcp",
        "--dport",
        f"{DYNO_PORTS.start}:{last}",
        "-m",
        "owner",
        "--uid-owner",
        f"{UID_BASE}-{UID_BASE + UID_SPAN - 1}",
        "-m",
        "comment",
        "--comment",
        f"{GUARD_COMMENT} pid={owner}",
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ]


def guard_owners(listing: str) -> list[int]:
    """The pids named by cedarbox's guard rules in an `iptables -S OUTPUT` listing."""
    found = re.findall(rf'--comment "?{GUARD_COMMENT} pid=(\d+)"?', listing)
    return [int(pid) for pid in found]


@cache
def network_guard() -> str:
    """Install this process's own guard rule (guard_rule; the router, the server's uid, still
    reaches dynos), once; it is removed when the process exits (remove_network_guard, also
    at exit), so it stays exactly while some server needs it. Rules of processes that died
    without removing theirs are removed first. Returns '' when it is in place, else why not
    (said plainly at start)."""
    if os.geteuid() != 0:
        return "not root: dynos of different apps can connect to each other over loopback"
    problems = []
    for tool in _GUARD_TOOLS:
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not installed")
            continue
        try:
            _remove_stale_guards(tool)
            rule = guard_rule(os.getpid())
            if subprocess.run([tool, "-w", "-C", *rule], capture_output=True).returncode != 0:
                added = subprocess.run([tool, "-w", "-I", *rule], capture_output=True, text=True)
                if added.returncode != 0:
                    problems.append(f"{tool}: {added.stderr.strip()}")
        except OSError as exc:
            problems.append(f"{tool}: {exc}")
    atexit.register(remove_network_guard)
    if "iptables is not installed" in problems or any(p.startswith("iptables:") for p in problems):
        return (
            "dynos of different apps can connect to each other over loopback ("
            + "; ".join(problems)
            + "; install iptables)"
        )
    return ""


def remove_network_guard(owner: int | None = None) -> None:
    """Delete the guard rule of `owner` (this process): other servers' rules stay."""
    if os.geteuid() != 0:
        return
    rule = guard_rule(os.getpid() if owner is None else owner)
    for tool in _GUARD_TOOLS:
        if shutil.which(tool) is None:
            continue
        for _ in range(10):  # each -D removes one copy
            with contextlib.suppress(OSError):
                if subprocess.run([tool, "-w", "-D", *rule], capture_output=True).returncode:
                    break


def _remove_stale_guards(tool: str) -> None:
    listing = subprocess.run([tool, "-w", "-S", "OUTPUT"], capture_output=True, text=True).stdout
    for pid in set(guard_owners(listing)):
        if pid != os.getpid() and not _alive(pid):
            remove_network_guard(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status_line(setting: str) -> str:
    """What `cedarbox serve` says at start: the sandbox it has, and what it lacks."""
    try:
        current = mode(setting)
    except SandboxUnavailable as exc:
        return f"sandbox: unavailable, builds are refused: {exc.message} {exc.hint}"
    line = "sandbox: " + current.describe().removeprefix("Sandbox: ")
    if current.enabled and current.per_app_uid:
        problem = network_guard()
        line += (
            f" Network isolation between apps is off: {problem}."
            if problem
            else " Dynos cannot connect to each other (only the router reaches them)."
        )
    elif current.enabled:
        line += " Network isolation between apps is off (it needs root)."
    return line


def _by_depth(paths: Sequence[Path]) -> list[Path]:
    """Each path once, parents before children (a later bind would hide an earlier one)."""
    return sorted(set(paths), key=lambda p: (len(p.parts), str(p)))


def _under(path: Path, roots: Sequence[str]) -> bool:
    return any(path == Path(r) or Path(r) in path.parents for r in roots)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
