"""The supervisor inside `cedarbox serve`: make the running dynos match the desired state.

Desired state is in the store (each app's current release and its formation, restart and stop
requests); the CLI and hooks only ever write it. About every `reconcile_interval` seconds (every
50 ms while a dyno boots or stops) the supervisor compares it with the processes it runs:

- a dyno missing is started from its release's unpacked slug (runner.releasedirs);
- a dyno of an older release, or one asked to restart, is replaced: the new one starts, and the
  old one is stopped only once the new one is up (a web dyno is up when its port accepts), so
  there is no moment without a web process; if the new one crashes, it replaces the old anyway
  (the release is what runs, as on Heroku);
- a dyno whose process exits is crashed: restarted at once the first time, then after a cool-off
  that doubles each time (runner.formation.restart_delay); a web dyno not accepting on $PORT
  within `boot_timeout` is killed and crashed (Heroku's R10);
- a dyno no longer wanted gets SIGTERM, then SIGKILL after `stop_grace` seconds.

Every state change is written to the `dynos` table (what `ps` and the push's verification read)
and to the app's log in Heroku's words. On shutdown every dyno is stopped; on start, dynos left
by a server that died without stopping them are killed, then the formation is started again.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gitserver import trash
from gitserver.applog import AppLog
from gitserver.datadir import DataDir
from gitserver.errors import CedarboxError
from gitserver.formation import DynoSpec, desired_dynos, restart_delay, target_matches
from gitserver.processes import (
    accepts,
    exit_status,
    free_port,
    group_members,
    is_same_process,
    signal_group,
    spawn,
    start_time,
)
from gitserver.records import DynoOwner, DynoRecord, DynoRequest, DynoState, Release
from gitserver.runner import releasedirs
from gitserver.runner.environment import dyno_argv, dyno_environment
from gitserver.settings import Settings
from gitserver.store import Store, open_store

OWNER = DynoOwner.SUPERVISOR
FAST_TICK = 0.05  # while something boots or stops
STABLE_AFTER = 10 * 60  # a dyno up this long has its crash count forgotten
LOG_TRIM_EVERY = 30.0


@dataclass
class Dyno:
    """One dyno and, while it runs, its process."""

    id: str
    app: str
    name: str
    type: str
    release: int
    command: str
    generation: int  # the slot's restart generation it was started for
    state: str = "starting"
    since: float = field(default_factory=time.time)
    detail: str = ""
    restarts: int = 0
    crashes: int = 0  # in a row
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    proc_start: int | None = None
    started_at: float = 0.0  # monotonic, for the boot timeout
    retry_at: float | None = None  # monotonic: when to start (again); None: now
    stop_deadline: float | None = None
    killed: bool = False
    home: Path | None = None

    @property
    def is_web(self) -> bool:
        return self.type == "web"

    def record(self) -> DynoRecord:
        pid = self.proc.pid if self.proc else None
        return DynoRecord(
            id=self.id,
            app=self.app,
            name=self.name,
            type=self.type,
            release_version=self.release,
            state=DynoState(self.state),
            since=self.since,
            command=self.command,
            pid=pid,
            proc_start=self.proc_start if pid else None,
            port=self.port,
            restarts=self.restarts,
            owner=OWNER,
            detail=self.detail,
        )


@dataclass
class Slot:
    """A place in the formation (e.g. web.1): the dyno serving it, and its replacement."""

    app: str
    name: str
    current: Dyno | None = None
    incoming: Dyno | None = None
    generation: int = 0


@dataclass(frozen=True)
class Route:
    dyno: str
    port: int


@dataclass(frozen=True)
class Routes:
    """What the router needs of an app: its up web dynos, or why there are none."""

    targets: tuple[Route, ...]
    status: str  # "up", "starting", "crashed" or "none"


class Supervisor:
    """Runs in a thread of `cedarbox serve`; `routes` is safe to call from any thread."""

    def __init__(
        self,
        settings: Settings,
        *,
        host_env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.data = DataDir(settings.data_dir)
        self.host_env = dict(os.environ if host_env is None else host_env)
        self.clock = clock
        self.slots: dict[tuple[str, str], Slot] = {}
        self.stopping: list[Dyno] = []
        self._releases: dict[str, Release] = {}
        self._apps: set[str] = set()
        self._last_request = 0
        self._unpacking: dict[tuple[str, int], Future[Path]] = {}
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="unpack")
        self._routes: dict[str, Routes] = {}
        self._route_change = threading.Condition()
        self._round_robin = itertools.count()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._last_trim = 0.0

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._store = open_store(self.data.database)
        self._last_request = self._store.last_dyno_request_id()
        self._reap_orphans()
        self._sweep_trash()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def _sweep_trash(self) -> None:
        """Delete release trees whose background removal died with an earlier server."""
        run_root = self.data.root / "run"
        trash.sweep(run_root)
        if run_root.is_dir():
            for app_dir in run_root.iterdir():
                if app_dir.is_dir() and not app_dir.name.startswith(trash.PREFIX):
                    trash.sweep(app_dir)

    def wake(self) -> None:
        self._wake.set()

    def shutdown(self) -> None:
        """Stop every dyno (SIGTERM, SIGKILL after the grace period) and the thread."""
        self._halt.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        for slot in list(self.slots.values()):
            for dyno in (slot.incoming, slot.current):
                if dyno is not None:
                    self._stop(dyno)
        self.slots.clear()
        self._publish()
        deadline = self.clock() + self.settings.stop_grace + 2
        while self.stopping and self.clock() < deadline:
            self._advance_stopping()
            time.sleep(FAST_TICK)
        for dyno in self.stopping:  # still there after the grace: no orphans, whatever it takes
            if dyno.proc is not None:
                signal_group(dyno.proc.pid, signal.SIGKILL)
                dyno.proc.wait()
        self.stopping.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._store is not None:
            self._store.delete_dynos(owner=OWNER)
            self._store.close()

    def _run(self) -> None:
        """Tick every `reconcile_interval`, and at once (within FAST_TICK) when the database
        changed (a push, `ps:scale`, `config:set`…), a crashed dyno is due to restart, or while
        a dyno boots or stops."""
        next_tick = 0.0
        seen = None
        store = self._require_store()
        while not self._halt.is_set():
            now = self.clock()
            busy = self.stopping or any(
                (d.state == "starting" and d.proc is not None)
                or (d.proc is None and d.retry_at is not None and d.retry_at <= now)
                for d in self._dynos()
            )
            if busy or now >= next_tick or store.change_token() != seen:
                try:
                    self.tick()
                except Exception as exc:  # noqa: BLE001 - the loop must outlive any bad tick
                    self._log_internal(exc)
                next_tick = self.clock() + self.settings.reconcile_interval
                seen = store.change_token()  # after the tick: its own writes change it too
            self._wake.wait(FAST_TICK)
            self._wake.clear()

    # Router ------------------------------------------------------------------------------

    def routes(self, app: str) -> Routes:
        with self._route_change:
            return self._routes.get(app, Routes((), "none"))

    def wait_for_route(self, app: str, timeout: float) -> Routes:
        """The app's routes, waiting while its web dynos boot (Heroku queues such requests)."""
        deadline = time.monotonic() + timeout
        with self._route_change:
            while True:
                routes = self._routes.get(app, Routes((), "none"))
                left = deadline - time.monotonic()
                if routes.status != "starting" or left <= 0:
                    return routes
                self._route_change.wait(left)

    def pick(self, routes: Routes) -> Route:
        return routes.targets[next(self._round_robin) % len(routes.targets)]

    # One reconciliation ------------------------------------------------------------------

    def tick(self) -> None:
        store = self._require_store()
        desired = self._desired(store)
        self._apply_requests(store)
        wanted = {(app, spec.name): spec for app, specs in desired.items() for spec in specs}
        for key in sorted(set(self.slots) | set(wanted)):
            self._reconcile(key, wanted.get(key))
        if self.stopping:
            self._advance_stopping()
        self._publish()
        self._housekeeping()

    def _desired(self, store: Store) -> dict[str, list[DynoSpec]]:
        formations = store.all_formations()
        desired: dict[str, list[DynoSpec]] = {}
        self._releases = {}
        apps = store.list_apps()
        self._apps = {app.name for app in apps}
        for app in apps:
            release = store.current_release(app.name)
            if release is None or not release.slug:
                continue
            self._releases[app.name] = release
            desired[app.name] = desired_dynos(release.process_types, formations.get(app.name, {}))
        return desired

    def _apply_requests(self, store: Store) -> None:
        requests = store.dyno_requests_after(self._last_request)
        for request in requests:
            self._apply_request(request)
            self._last_request = request.id
        if requests:
            store.forget_dyno_requests(self._last_request)

    def _apply_request(self, request: DynoRequest) -> None:
        for slot in self.slots.values():
            if slot.app != request.app or not target_matches(request.target, slot.name):
                continue
            if request.action == "restart":
                slot.generation += 1
                self._log(slot.app, slot.name, "Restarting")
            elif request.action == "stop":
                for dyno in (slot.incoming, slot.current):
                    if dyno is not None:
                        self._stop(dyno)
                slot.current = slot.incoming = None

    def _reconcile(self, key: tuple[str, str], spec: DynoSpec | None) -> None:
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = Slot(app=key[0], name=key[1])
        now = self.clock()
        for dyno in (slot.current, slot.incoming):
            if dyno is not None:
                self._advance(dyno, now)
        if spec is None:  # scaled down, no web type any more, or the app is gone
            for dyno in (slot.incoming, slot.current):
                if dyno is not None:
                    self._stop(dyno)
            del self.slots[key]
            return
        release = self._releases[slot.app]
        wanted = (release.version, spec.command, slot.generation)
        current = slot.current
        if current is None:
            slot.current = self._new_dyno(slot, spec, release)
        elif (current.release, current.command, current.generation) != wanted:
            if current.state != "up":  # nothing to keep serving: replace at once
                self._stop(current)
                slot.current = self._new_dyno(slot, spec, release)
                if slot.incoming is not None:
                    self._stop(slot.incoming)
                    slot.incoming = None
            else:
                incoming = slot.incoming
                if (
                    incoming is None
                    or (
                        incoming.release,
                        incoming.command,
                        incoming.generation,
                    )
                    != wanted
                ):
                    if incoming is not None:
                        self._stop(incoming)
                    slot.incoming = self._new_dyno(slot, spec, release)
        for dyno in (slot.current, slot.incoming):
            due = dyno is not None and (dyno.retry_at is None or now >= dyno.retry_at)
            if due and dyno.proc is None and dyno.state in ("starting", "crashed"):
                self._launch(dyno, release)
        incoming = slot.incoming
        if incoming is not None and incoming.state in ("up", "crashed"):
            old, slot.current, slot.incoming = slot.current, incoming, None
            self._publish()  # route to the new dyno before the old one gets SIGTERM
            if old is not None:
                self._stop(old)

    def _new_dyno(self, slot: Slot, spec: DynoSpec, release: Release) -> Dyno:
        return Dyno(
            id=str(uuid.uuid4()),
            app=slot.app,
            name=spec.name,
            type=spec.type,
            release=release.version,
            command=spec.command,
            generation=slot.generation,
        )

    # Starting ----------------------------------------------------------------------------

    def _launch(self, dyno: Dyno, release: Release) -> None:
        base = self._unpacked(release)
        if base is None:
            return  # still unpacking; the next tick tries again
        if isinstance(base, CedarboxError):
            self._crash(dyno, base.message, self.clock())
            return
        run_root = self.data.run(dyno.app)
        home = releasedirs.release_dir(run_root, release.version) / f"{dyno.name}-{dyno.id[:8]}"
        try:
            dyno.home = releasedirs.fresh_copy(base, home)
        except OSError as exc:
            self._crash(dyno, f"could not prepare its directory: {exc}", self.clock())
            return
        dyno.port = free_port() if dyno.is_web else None
        env = dyno_environment(
            self.host_env, release.config, home=dyno.home, dyno=dyno.name, port=dyno.port
        )
        if dyno.state == "crashed":
            dyno.restarts += 1
            self._set_state(dyno, "starting")
        self._log(dyno.app, dyno.name, f"Starting process with command `{dyno.command}`")
        try:
            dyno.proc = spawn(dyno_argv(dyno.command), cwd=dyno.home, env=env)
        except OSError as exc:
            self._crash(dyno, f"could not start: {exc.strerror or exc}", self.clock())
            return
        dyno.proc_start = start_time(dyno.proc.pid)
        dyno.started_at = self.clock()
        dyno.retry_at = None
        threading.Thread(
            target=self._pump, args=(dyno.app, dyno.name, dyno.proc), daemon=True
        ).start()
        self._save(dyno)

    def _unpacked(self, release: Release) -> Path | CedarboxError | None:
        key = (release.app, release.version)
        future = self._unpacking.get(key)
        if future is None:
            base = releasedirs.release_dir(self.data.run(release.app), release.version) / "slug"
            if base.is_dir():
                return base
            future = self._unpacking[key] = self._executor.submit(
                releasedirs.unpacked_slug,
                self.data.run(release.app),
                release.version,
                release.slug,
            )
        if not future.done():
            return None
        del self._unpacking[key]
        error = future.exception()
        if error is None:
            return future.result()
        if isinstance(error, CedarboxError):
            return error
        return CedarboxError(f"Could not unpack the slug of v{release.version}: {error}")

    def _pump(self, app: str, name: str, proc: subprocess.Popen[bytes]) -> None:
        """The dyno's output, line by line, into the app's log as `app[web.1]`."""
        log = AppLog(self.data.log(app))
        assert proc.stdout is not None
        with proc.stdout:
            for raw in proc.stdout:
                log.write(f"app[{name}]", raw.decode("utf-8", "replace"))

    # Watching ----------------------------------------------------------------------------

    def _advance(self, dyno: Dyno, now: float) -> None:
        proc = dyno.proc
        if proc is None:
            return
        code = proc.poll()
        if code is not None:
            signal_group(proc.pid, signal.SIGKILL)  # whatever the main process left behind
            status = exit_status(code)
            self._log(dyno.app, dyno.name, f"Process exited with status {status}")
            dyno.proc = None
            self._crash(dyno, f"exited with status {status}", now)
            return
        if dyno.state == "starting":
            if not dyno.is_web or (dyno.port is not None and accepts(dyno.port)):
                dyno.detail = ""  # why it last crashed: kept until it is up again
                self._set_state(dyno, "up")
            elif now - dyno.started_at > self.settings.boot_timeout:
                timeout = _seconds(self.settings.boot_timeout)
                self._log(
                    dyno.app,
                    dyno.name,
                    "Error R10 (Boot timeout) -> Web process failed to bind to $PORT within "
                    f"{timeout} seconds of launch",
                )
                self._log(dyno.app, dyno.name, "Stopping process with SIGKILL")
                signal_group(proc.pid, signal.SIGKILL)
                status = exit_status(proc.wait())
                self._log(dyno.app, dyno.name, f"Process exited with status {status}")
                dyno.proc = None
                self._crash(dyno, f"did not bind to $PORT within {timeout} seconds (R10)", now)
        elif dyno.state == "up" and dyno.crashes and now - dyno.started_at > STABLE_AFTER:
            dyno.crashes = 0

    def _crash(self, dyno: Dyno, detail: str, now: float) -> None:
        dyno.crashes += 1
        dyno.detail = detail
        delay = restart_delay(
            dyno.crashes, self.settings.crash_backoff, self.settings.crash_backoff_max
        )
        dyno.retry_at = now + delay
        self._set_state(dyno, "crashed")

    # Stopping ----------------------------------------------------------------------------

    def _stop(self, dyno: Dyno) -> None:
        """SIGTERM now; `_advance_stopping` sends SIGKILL after the grace and cleans up."""
        if dyno.proc is None:
            if dyno.state == "crashed":
                self._set_state(dyno, "down", save=False)
            self._forget(dyno)
            return
        self._log(dyno.app, dyno.name, "Stopping all processes with SIGTERM")
        signal_group(dyno.proc.pid, signal.SIGTERM)
        dyno.stop_deadline = self.clock() + self.settings.stop_grace
        self._set_state(dyno, "down")
        self.stopping.append(dyno)

    def _advance_stopping(self) -> None:
        now = self.clock()
        for dyno in list(self.stopping):
            proc = dyno.proc
            assert proc is not None
            code = proc.poll()
            if code is not None and not group_members(proc.pid):
                self._log(dyno.app, dyno.name, f"Process exited with status {exit_status(code)}")
                self.stopping.remove(dyno)
                dyno.proc = None
                self._forget(dyno)
            elif not dyno.killed and now >= (dyno.stop_deadline or now):
                grace = _seconds(self.settings.stop_grace)
                self._log(
                    dyno.app,
                    dyno.name,
                    f"Error R12 (Exit timeout) -> At least one process failed to exit within "
                    f"{grace} seconds of SIGTERM",
                )
                self._log(dyno.app, dyno.name, "Stopping remaining processes with SIGKILL")
                signal_group(proc.pid, signal.SIGKILL)
                dyno.killed = True

    def _forget(self, dyno: Dyno) -> None:
        self._require_store().delete_dyno(dyno.id)
        if dyno.home is not None:
            shutil.rmtree(dyno.home, ignore_errors=True)

    # Bookkeeping -------------------------------------------------------------------------

    def _set_state(self, dyno: Dyno, state: str, *, save: bool = True) -> None:
        if state != dyno.state:
            self._log(dyno.app, dyno.name, f"State changed from {dyno.state} to {state}")
            dyno.state = state
            dyno.since = time.time()
        if save:
            self._save(dyno)

    def _save(self, dyno: Dyno) -> None:
        self._require_store().save_dyno(dyno.record())

    def _dynos(self) -> list[Dyno]:
        return [d for s in self.slots.values() for d in (s.current, s.incoming) if d is not None]

    def _publish(self) -> None:
        routes: dict[str, Routes] = {}
        by_app: dict[str, list[Dyno]] = {}
        for slot in self.slots.values():
            for dyno in (slot.current, slot.incoming):
                if dyno is not None and dyno.is_web:
                    by_app.setdefault(slot.app, []).append(dyno)
        for app, dynos in by_app.items():
            up = tuple(
                Route(d.name, d.port)
                for d in dynos
                if d.state == "up" and d.port is not None and d.proc is not None
            )
            if up:
                status = "up"
            elif any(d.state == "starting" for d in dynos):
                status = "starting"
            else:
                status = "crashed"
            routes[app] = Routes(up, status)
        with self._route_change:
            self._routes = routes
            self._route_change.notify_all()

    def _housekeeping(self) -> None:
        """Remove unpacked releases nothing runs from, and trim logs now and then.

        Releases newer than the current one are kept: a hook may be putting one in place.
        """
        in_use: dict[str, set[int]] = {}
        for dyno in [*self._dynos(), *self.stopping]:
            in_use.setdefault(dyno.app, set()).add(dyno.release)
        for app, _version in self._unpacking:
            in_use.setdefault(app, set()).add(_version)
        run_root = self.data.root / "run"
        if run_root.is_dir():
            for entry in run_root.iterdir():
                if entry.name.startswith(trash.PREFIX):
                    continue
                if entry.name not in self._apps:
                    if entry.name not in in_use:
                        trash.discard(entry)
                    continue
                release = self._releases.get(entry.name)
                current = release.version if release else 0
                keep = in_use.get(entry.name, set()) | {current}
                releasedirs.prune(entry, keep, newer_than=current)
        now = self.clock()
        if now - self._last_trim >= LOG_TRIM_EVERY:
            self._last_trim = now
            for app in self._releases:
                AppLog(self.data.log(app)).trim(self.settings.log_max_bytes)

    def _reap_orphans(self) -> None:
        """Kill dynos a previous server left running (it was killed before it could stop them)."""
        store = self._require_store()
        for record in store.dynos():
            if record.owner == OWNER:
                pgid = record.pid or 0
                if pgid and (is_same_process(record.pid, record.proc_start) or group_members(pgid)):
                    self._log(record.app, record.name, "Stopping a dyno left by a previous server")
                    signal_group(pgid, signal.SIGKILL)
                store.delete_dyno(record.id)
            elif not is_same_process(record.pid, record.proc_start):
                store.delete_dyno(record.id)  # a one-off whose `run` died without cleaning up

    def _log(self, app: str, dyno: str, text: str) -> None:
        AppLog(self.data.log(app)).write(f"heroku[{dyno}]", text)

    def _log_internal(self, exc: BaseException) -> None:
        # stderr: the server's stdout may be a pipe nobody reads after the first line.
        print(f"cedarbox supervisor: {exc!r}", file=sys.stderr, flush=True)
        traceback.print_exc()

    def _require_store(self) -> Store:
        assert self._store is not None, "Supervisor.start() first"
        return self._store


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
