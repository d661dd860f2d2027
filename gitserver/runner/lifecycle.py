"""One dyno's life: start from its release's slug, watch it boot and run, crash, stop.

Every state change is written to the `dynos` table (what `ps` and the push's verification read)
and to the app's log in Heroku's words. The supervisor decides which dynos should run; this
module only carries out what it decides.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from gitserver.applog import AppLog
from gitserver.datadir import DataDir
from gitserver.errors import CedarboxError
from gitserver.formation import restart_delay
from gitserver.processes import (
    accepts,
    exit_status,
    group_members,
    signal_group,
    spawn,
    start_time,
)
from gitserver.records import Release
from gitserver.runner import quota, releasedirs
from gitserver.runner.dynos import Dyno, heroku_log, seconds
from gitserver.runner.environment import dyno_argv, dyno_environment
from gitserver.runner.quota import Watch
from gitserver.runner.sandboxing import DynoSandbox
from gitserver.runner.unpacker import SlugUnpacker
from gitserver.settings import Settings
from gitserver.store import Store

STABLE_AFTER = 10 * 60  # a dyno up this long has its crash count forgotten


class Spawn(Protocol):
    """How a dyno's process starts (processes.spawn: its own process group, output piped)."""

    def __call__(
        self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]
    ) -> subprocess.Popen[bytes]: ...


class Lifecycle:
    """Starts, watches and stops dynos; `stopping` holds those between SIGTERM and exit."""

    def __init__(
        self,
        settings: Settings,
        data: DataDir,
        store: Store,
        *,
        host_env: Mapping[str, str],
        clock: Callable[[], float],
        spawn: Spawn = spawn,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.data = data
        self.store = store
        self.host_env = host_env
        self.clock = clock
        self.spawn = spawn
        self.unpacker = SlugUnpacker(data, on_ready=wake)  # an unpacked slug: start its dynos
        self.stopping: list[Dyno] = []

    # Starting ----------------------------------------------------------------------------

    def launch(self, dyno: Dyno, release: Release) -> None:
        """Start the dyno's process in a fresh copy of the slug (once the slug is unpacked)."""
        base = self.unpacker.unpacked(release)
        if base is None:
            return  # still unpacking; the next tick tries again
        if isinstance(base, CedarboxError):
            self.crash(dyno, base.message, self.clock())
            return
        run_root = self.data.run(dyno.app)
        home = releasedirs.release_dir(run_root, release.version) / f"{dyno.name}-{dyno.id[:8]}"
        try:
            taken = releasedirs.take_spare_home(base, home)  # made while the push finished
            dyno.home = home if taken else releasedirs.fresh_copy(base, home)
        except OSError as exc:
            self.crash(dyno, f"could not prepare its directory: {exc}", self.clock())
            return
        group = None
        try:
            box = DynoSandbox.for_app(self.settings, dyno.app)
            dyno.port = box.port() if dyno.is_web else None
            group = box.new_group(dyno.name)
            argv = box.command(dyno.home, dyno_argv(dyno.command), group=group)
        except (CedarboxError, OSError, subprocess.CalledProcessError) as exc:
            if group is not None:
                group.remove()
            self.crash(dyno, f"could not be sandboxed: {exc}", self.clock())
            return
        if group is not None:
            dyno.quota = Watch(group, box.memory_quota_mb, box.memory_limit_mb, box.max_processes)
        env = dyno_environment(
            self.host_env, release.config, home=dyno.home, dyno=dyno.name, port=dyno.port
        )
        if dyno.state == "crashed":
            dyno.restarts += 1
            self.set_state(dyno, "starting")
        self.log(dyno, f"Starting process with command `{dyno.command}`")
        try:
            dyno.proc = self.spawn(argv, cwd=dyno.home, env=env)
        except OSError as exc:
            self.release_group(dyno)
            self.crash(dyno, f"could not start: {exc.strerror or exc}", self.clock())
            return
        dyno.proc_start = start_time(dyno.proc.pid)
        dyno.started_at = self.clock()
        dyno.retry_at = None
        threading.Thread(
            target=self._pump, args=(dyno.app, dyno.name, dyno.proc), daemon=True
        ).start()
        self.save(dyno)

    def _pump(self, app: str, name: str, proc: subprocess.Popen[bytes]) -> None:
        """The dyno's output, line by line, into the app's log as `app[web.1]`."""
        log = AppLog(self.data.log(app))
        assert proc.stdout is not None
        with proc.stdout:
            for raw in proc.stdout:
                log.write(f"app[{name}]", raw.decode("utf-8", "replace"))

    # Watching ----------------------------------------------------------------------------

    def advance(self, dyno: Dyno, now: float) -> None:
        """Notice an exit, a web dyno accepting on its port, or a boot timeout (R10)."""
        proc = dyno.proc
        if proc is None:
            return
        code = proc.poll()
        self.check_quota(dyno, now)
        if code is not None:
            signal_group(proc.pid, signal.SIGKILL)  # whatever the main process left behind
            self.release_group(dyno)
            status = exit_status(code)
            self.log(dyno, f"Process exited with status {status}")
            dyno.proc = None
            self.crash(dyno, f"exited with status {status}", now)
            return
        if dyno.state == "starting":
            if not dyno.is_web or (dyno.port is not None and accepts(dyno.port)):
                dyno.detail = ""  # why it last crashed: kept until it is up again
                self.set_state(dyno, "up")
            elif now - dyno.started_at > self.settings.boot_timeout:
                timeout = seconds(self.settings.boot_timeout)
                self.log(
                    dyno,
                    "Error R10 (Boot timeout) -> Web process failed to bind to $PORT within "
                    f"{timeout} seconds of launch",
                )
                self.log(dyno, "Stopping process with SIGKILL")
                signal_group(proc.pid, signal.SIGKILL)
                status = exit_status(proc.wait())
                self.release_group(dyno)
                self.log(dyno, f"Process exited with status {status}")
                dyno.proc = None
                self.crash(dyno, f"did not bind to $PORT within {timeout} seconds (R10)", now)
        elif dyno.state == "up" and dyno.crashes and now - dyno.started_at > STABLE_AFTER:
            dyno.crashes = 0

    def boot_settled(self, dyno: Dyno, now: float) -> bool:
        """Whether `advance` would move the booting dyno on now: its process exited, it is
        not a web dyno, its port accepts, or its boot timeout passed. Cheap (one connect)."""
        proc = dyno.proc
        if proc is None or dyno.state != "starting":
            return False
        return (
            proc.poll() is not None
            or not dyno.is_web
            or (dyno.port is not None and accepts(dyno.port))
            or now - dyno.started_at > self.settings.boot_timeout
        )

    def crash(self, dyno: Dyno, detail: str, now: float) -> None:
        """Mark it crashed; it starts again after a cool-off that grows with each crash."""
        dyno.crashes += 1
        dyno.detail = detail
        delay = restart_delay(
            dyno.crashes, self.settings.crash_backoff, self.settings.crash_backoff_max
        )
        dyno.retry_at = now + delay
        self.set_state(dyno, "crashed")

    # Stopping ----------------------------------------------------------------------------

    def stop(self, dyno: Dyno) -> None:
        """SIGTERM now; `advance_stopping` sends SIGKILL after the grace and cleans up."""
        if dyno.proc is None:
            if dyno.state == "crashed":
                self.set_state(dyno, "down", save=False)
            self._forget(dyno)
            return
        self.log(dyno, "Stopping all processes with SIGTERM")
        signal_group(dyno.proc.pid, signal.SIGTERM)
        dyno.stop_deadline = self.clock() + self.settings.stop_grace
        self.set_state(dyno, "down")
        self.stopping.append(dyno)

    def advance_stopping(self) -> None:
        """Forget the dynos whose process group is gone; SIGKILL those past the grace (R12)."""
        now = self.clock()
        for dyno in list(self.stopping):
            proc = dyno.proc
            assert proc is not None
            code = proc.poll()
            if code is not None and not group_members(proc.pid):
                self.release_group(dyno)
                self.log(dyno, f"Process exited with status {exit_status(code)}")
                self.stopping.remove(dyno)
                dyno.proc = None
                self._forget(dyno)
            elif not dyno.killed and now >= (dyno.stop_deadline or now):
                grace = seconds(self.settings.stop_grace)
                self.log(
                    dyno,
                    f"Error R12 (Exit timeout) -> At least one process failed to exit within "
                    f"{grace} seconds of SIGTERM",
                )
                self.log(dyno, "Stopping remaining processes with SIGKILL")
                signal_group(proc.pid, signal.SIGKILL)
                dyno.killed = True

    def finish_stopping(self, poll: float) -> None:
        """At shutdown: wait out the grace (and a little), then SIGKILL whatever is left, so
        that no dyno outlives the server."""
        deadline = self.clock() + self.settings.stop_grace + 2
        while self.stopping and self.clock() < deadline:
            self.advance_stopping()
            time.sleep(poll)
        for dyno in self.stopping:
            if dyno.proc is not None:
                signal_group(dyno.proc.pid, signal.SIGKILL)
                dyno.proc.wait()
            self.release_group(dyno)
        self.stopping.clear()

    # Limits ------------------------------------------------------------------------------

    def check_quota(self, dyno: Dyno, now: float) -> None:
        """R14 while over its memory quota; R15 (and SIGKILL) when the kernel had to kill in
        it; one line when it hit its process limit (runner/quota.py)."""
        if dyno.quota is not None:
            for line in quota.check(dyno.quota, now).lines:
                self.log(dyno, line)

    def release_group(self, dyno: Dyno) -> None:
        """Remove the dyno's control group once its process has exited."""
        if dyno.quota is not None:
            dyno.quota.group.remove()
            dyno.quota = None

    def _forget(self, dyno: Dyno) -> None:
        self.store.delete_dyno(dyno.id)
        if dyno.home is not None:
            shutil.rmtree(dyno.home, ignore_errors=True)

    # Bookkeeping -------------------------------------------------------------------------

    def set_state(self, dyno: Dyno, state: str, *, save: bool = True) -> None:
        if state != dyno.state:
            self.log(dyno, f"State changed from {dyno.state} to {state}")
            dyno.state = state
            dyno.since = time.time()
        if save:
            self.save(dyno)

    def save(self, dyno: Dyno) -> None:
        self.store.save_dyno(dyno.record())

    def log(self, dyno: Dyno, text: str) -> None:
        heroku_log(self.data, dyno.app, dyno.name, text)
