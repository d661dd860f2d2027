"""`cedarbox run CMD`: a one-off dyno in the current release's environment, no server needed.

The release's slug is unpacked into a private directory (a one-off gets a fresh filesystem, as
on Heroku), the command runs there with the release's config vars, `.profile.d` sourced,
`DYNO=run.N` and a `PORT`, attached to the caller's stdin, stdout and stderr; its exit status
becomes the command's. While it runs it is listed by `ps` as run.N.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitserver.applog import AppLog
from gitserver.errors import ReleaseNotFound, UsageError
from gitserver.platform import Platform
from gitserver.processes import exit_status, free_port, signal_group, start_time
from gitserver.records import DynoOwner, DynoRecord, DynoState
from gitserver.runner import releasedirs
from gitserver.runner.environment import dyno_argv, dyno_environment

# The caller's terminal settings reach the one-off (Heroku's `run` passes TERM, COLUMNS, LINES).
TERMINAL_VARS = ("TERM", "COLUMNS", "LINES")


def command_line(args: Sequence[str]) -> str:
    """Heroku CLI's rule: one argument is a shell command as is (`run "echo $PORT"`); several
    are quoted where needed (`run python -c "print(1)"`)."""
    if not args:
        raise UsageError("No command given.", hint="Usage: cedarbox run -a APP COMMAND …")
    if len(args) == 1:
        return args[0]
    return " ".join(shlex.quote(arg) for arg in args)


def run_oneoff(
    platform: Platform,
    app: str,
    command: str,
    *,
    extra_env: Mapping[str, str] | None = None,
) -> int:
    """Run `command` attached to this terminal; return its exit status."""
    release = platform.release(app, None)
    if not release.slug or release.slug_pruned or not Path(release.slug).is_file():
        raise ReleaseNotFound(
            f"{app} has no slug to run (v{release.version} came from no build).",
            hint=f"Push the app first: git push {platform.git_url(app)} main",
            code="NO_SLUG",
        )
    log = AppLog(platform.data.log(app))
    name, record_id = _claim_name(platform, app, release.version, command)
    scratch = Path(tempfile.mkdtemp(prefix=f"run-{app}-", dir=platform.data.work()))
    try:
        home = scratch / "app"
        releasedirs.unpack_to(Path(release.slug), home)
        env = dyno_environment(os.environ, release.config, home=home, dyno=name, port=free_port())
        env.update({k: os.environ[k] for k in TERMINAL_VARS if k in os.environ})
        env.update(extra_env or {})
        log.write(f"heroku[{name}]", f"Starting process with command `{command}`")
        status = _attached(platform, app, name, record_id, release.version, command, home, env)
        log.write(f"heroku[{name}]", f"Process exited with status {status}")
        log.write(f"heroku[{name}]", "State changed from up to complete")
        return status
    finally:
        platform.store.delete_dyno(record_id)
        shutil.rmtree(scratch, ignore_errors=True)


def _claim_name(platform: Platform, app: str, version: int, command: str) -> tuple[str, str]:
    """A free `run.NNNN` name, recorded so that `ps` lists the one-off."""
    for _ in range(50):
        record = DynoRecord(
            id=str(uuid.uuid4()),
            app=app,
            name=f"run.{random.randint(1000, 9999)}",
            type="run",
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
        if platform.store.claim_dyno(record):
            return record.name, record.id
    raise UsageError("Too many one-off dynos are running.", hint="Wait for some to finish.")


def _attached(
    platform: Platform,
    app: str,
    name: str,
    record_id: str,
    version: int,
    command: str,
    home: Path,
    env: dict[str, str],
) -> int:
    """Run attached to our stdin/stdout/stderr.

    On a terminal the command shares our process group, so Ctrl-C and job control reach it.
    Otherwise (CI, pipes) it gets a group of its own, which is killed when it exits: nothing
    a one-off starts outlives it, as on Heroku. SIGINT and SIGTERM are passed on to it.
    """
    interactive = os.isatty(0)
    proc = subprocess.Popen(
        dyno_argv(command), cwd=home, env=env, start_new_session=not interactive
    )
    platform.store.save_dyno(
        DynoRecord(
            id=record_id,
            app=app,
            name=name,
            type="run",
            release_version=version,
            state=DynoState.UP,
            since=time.time(),
            command=command,
            pid=proc.pid,
            proc_start=start_time(proc.pid),
            port=None,
            restarts=0,
            owner=DynoOwner.RUN,
        )
    )

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
