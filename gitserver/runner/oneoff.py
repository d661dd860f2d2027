"""One-off dynos: a claimed `NAME.NNNN` that `ps` lists while it runs, and `cedarbox run CMD`.

Both one-offs go through `one_off`: the release phase (gitserver.runner.release_phase, its
output streamed to the push) and `cedarbox run`, which runs in the current release's
environment with no server needed. The release's slug is unpacked into a private directory (a
one-off gets a fresh filesystem, as on Heroku), the command runs there with the release's
config vars, `.profile.d` sourced, `DYNO=run.N` and a `PORT`, attached to the caller's stdin,
stdout and stderr; its exit status becomes the command's. `start_detached` (the Platform
API's `attach: false`) runs one with its output in the app's log instead.
"""

from __future__ import annotations

import atexit
import os
import random
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from gitserver import cgroups
from gitserver.applog import AppLog
from gitserver.datadir import DataDir
from gitserver.errors import ReleaseNotFound, UsageError
from gitserver.processes import exit_status, signal_group, start_time
from gitserver.records import DynoOwner, DynoRecord, DynoState, Release
from gitserver.runner import releasedirs
from gitserver.runner.environment import dyno_argv, dyno_environment
from gitserver.runner.sandboxing import DynoSandbox
from gitserver.store import Store, open_store

# The caller's terminal settings reach the one-off (Heroku's `run` passes TERM, COLUMNS, LINES).
TERMINAL_VARS = ("TERM", "COLUMNS", "LINES")
_CLAIM_ATTEMPTS = 50
# The process groups of the detached one-offs this process runs (start_detached).
_DETACHED: set[int] = set()
_DETACHED_LOCK = threading.Lock()


@dataclass
class OneOff:
    """A claimed one-off dyno: its record in the store and its lines in the app's log."""

    store: Store
    log: AppLog
    record: DynoRecord

    @property
    def name(self) -> str:
        return self.record.name

    def started(self, pid: int) -> None:
        """The command runs as `pid`: record it as up (`ps` shows it)."""
        self.log.write(
            f"heroku[{self.name}]", f"Starting process with command `{self.record.command}`"
        )
        self.record = replace(
            self.record, state=DynoState.UP, since=time.time(), pid=pid, proc_start=start_time(pid)
        )
        self.store.save_dyno(self.record)
        self.log.write(f"heroku[{self.name}]", "State changed from starting to up")

    def exited(self, status: int) -> None:
        self.log.write(f"heroku[{self.name}]", f"Process exited with status {status}")
        self.log.write(f"heroku[{self.name}]", "State changed from up to complete")


@contextmanager
def one_off(
    store: Store, log: AppLog, *, app: str, kind: str, release_version: int, command: str
) -> Iterator[OneOff]:
    """Claim a free `KIND.NNNN` name for the block; its record is deleted when the block ends."""
    record = _claim_name(store, app, kind, release_version, command)
    try:
        yield OneOff(store, log, record)
    finally:
        store.delete_dyno(record.id)


def _claim_name(store: Store, app: str, kind: str, version: int, command: str) -> DynoRecord:
    """A free `KIND.NNNN` name, claimed in the store (two one-offs never share a name)."""
    for _ in range(_CLAIM_ATTEMPTS):
        record = DynoRecord(
            id=str(uuid.uuid4()),
            app=app,
            name=f"{kind}.{random.randint(1000, 9999)}",
            type=kind,
            release_version=version,
            state=DynoState.STARTING,
            since=time.time(),
            command=command,
            pid=None,
            proc_start=None,
            port=None,
            restarts=0,
            owner=DynoOwner.RUN,
        )
        if store.claim_dyno(record):
            return record
    raise UsageError("Too many one-off dynos are running.", hint="Wait for some to finish.")


def command_line(args: Sequence[str]) -> str:
    """Heroku CLI's rule: one argument is a shell command as is (`run "echo $PORT"`); several
    are quoted where needed (`run python -c "print(1)"`)."""
    if not args:
        raise UsageError("No command given.", hint="Usage: cedarbox run -a APP COMMAND …")
    if len(args) == 1:
        return args[0]
    return " ".join(shlex.quote(arg) for arg in args)


def run_oneoff(
    store: Store,
    data: DataDir,
    release: Release,
    command: str,
    *,
    git_url: str,
    extra_env: Mapping[str, str] | None = None,
    box: DynoSandbox,
) -> int:
    """Run `command` from `release` attached to this terminal; return its exit status."""
    app = release.app
    slug = _require_slug(release, hint=f"Push the app first: git push {git_url} main")
    log = AppLog(data.log(app))
    with one_off(
        store, log, app=app, kind="run", release_version=release.version, command=command
    ) as dyno:
        scratch = Path(tempfile.mkdtemp(prefix=f"run-{app}-", dir=data.work()))
        try:
            home = scratch / "app"
            releasedirs.unpack_to(slug, home)
            env = dyno_environment(
                os.environ, release.config, home=home, dyno=dyno.name, port=box.port()
            )
            env.update({k: os.environ[k] for k in TERMINAL_VARS if k in os.environ})
            env.update(extra_env or {})
            with box.group(dyno.name) as group:
                argv = box.command(home, dyno_argv(command), terminal=os.isatty(0), group=group)
                status = _attached(dyno, argv, home, env)
            dyno.exited(status)
            return status
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _require_slug(release: Release, *, hint: str) -> Path:
    """The slug a one-off runs: refuse a release that has none (any more)."""
    if not release.slug or release.slug_pruned or not Path(release.slug).is_file():
        raise ReleaseNotFound(
            f"{release.app} has no slug to run (v{release.version} came from no build).",
            hint=hint,
            code="NO_SLUG",
        )
    return Path(release.slug)


def _attached(dyno: OneOff, argv: list[str], home: Path, env: dict[str, str]) -> int:
    """Run attached to our stdin/stdout/stderr.

    On a terminal the command shares our process group, so Ctrl-C and job control reach it.
    Otherwise (CI, pipes) it gets a group of its own, which is killed when it exits: nothing
    a one-off starts outlives it, as on Heroku. SIGINT and SIGTERM are passed on to it.
    """
    interactive = os.isatty(0)
    proc = subprocess.Popen(argv, cwd=home, env=env, start_new_session=not interactive)
    dyno.started(proc.pid)

    def forward(signum: int, frame: object) -> None:
        if interactive and signum == signal.SIGINT:
            return  # the terminal sent it to the command already
        if interactive:
            proc.send_signal(signum)
        else:
            signal_group(proc.pid, signal.Signals(signum))

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not interactive:
            signal_group(proc.pid, signal.SIGKILL)
    return exit_status(code)


def start_detached(
    store: Store,
    data: DataDir,
    release: Release,
    command: str,
    *,
    extra_env: Mapping[str, str] | None = None,
    box: DynoSandbox,
) -> DynoRecord:
    """Start `command` as a one-off whose output goes to the app's log (`app[run.N]`), as
    `heroku run:detached` does; return its record once it is up. A thread of this process
    waits for it, then removes its record and its scratch directory."""
    app = release.app
    slug = _require_slug(release, hint="Push the app first.")
    log = AppLog(data.log(app))
    record = _claim_name(store, app, "run", release.version, command)
    scratch = Path(tempfile.mkdtemp(prefix=f"run-{app}-", dir=data.work()))
    group = None
    try:
        home = scratch / "app"
        releasedirs.unpack_to(slug, home)
        env = dyno_environment(
            os.environ, release.config, home=home, dyno=record.name, port=box.port()
        )
        env.update(extra_env or {})
        group = box.new_group(record.name)
        proc = subprocess.Popen(
            box.command(home, dyno_argv(command), detached=True, group=group),
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except BaseException:
        store.delete_dyno(record.id)
        shutil.rmtree(scratch, ignore_errors=True)
        if group is not None:
            group.remove()
        raise
    dyno = OneOff(store, log, record)
    dyno.started(proc.pid)
    with _DETACHED_LOCK:
        _DETACHED.add(proc.pid)
    threading.Thread(
        target=_wait_detached,
        args=(proc, data, dyno.record, log, scratch, group),
        name=f"detached-{record.name}",
        daemon=True,
    ).start()
    return dyno.record


def _wait_detached(
    proc: subprocess.Popen[bytes],
    data: DataDir,
    record: DynoRecord,
    log: AppLog,
    scratch: Path,
    group: cgroups.Group | None,
) -> None:
    """Copy the one-off's output into the log until it exits, then forget it."""
    store = open_store(data.database)  # this thread's own connection
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            log.write(f"app[{record.name}]", raw.decode("utf-8", "replace").rstrip("\n"))
        status = exit_status(proc.wait())
        signal_group(proc.pid, signal.SIGKILL)  # nothing it started outlives it
        OneOff(store, log, record).exited(status)
    finally:
        with _DETACHED_LOCK:
            _DETACHED.discard(proc.pid)
        store.delete_dyno(record.id)
        store.close()
        shutil.rmtree(scratch, ignore_errors=True)
        if group is not None:
            group.remove()


@atexit.register
def _stop_detached() -> None:
    """When the server process exits, its detached one-offs stop with it (their records are
    then forgotten by the next server's reap_orphans)."""
    with _DETACHED_LOCK:
        for pgid in _DETACHED:
            signal_group(pgid, signal.SIGKILL)
