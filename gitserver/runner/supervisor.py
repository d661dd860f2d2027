"""The supervisor inside `cedarbox serve`: make the running dynos match the desired state.

Desired state is in the store (each app's current release and its formation, restart and stop
requests); the CLI and hooks only ever write it. About every `reconcile_interval` seconds, and
at once when a push nudges it (runner.wakeup), the store changed (seen within 50 ms), a slug
finished unpacking, a booting dyno's port accepts (tried every 10 ms) or a dyno stops (every
50 ms), the supervisor compares it with the processes it runs. A push also asks it to unpack
its slug (runner.unpacker) before the release exists, so the release's dynos start at once:

- a dyno missing is started from its release's unpacked slug (runner.releasedirs);
- a dyno of an older release, or one asked to restart, is replaced: the new one starts, and the
  old one is stopped only once the new one is up (a web dyno is up when its port accepts), so
  there is no moment without a web process; if the new one crashes, it replaces the old anyway
  (the release is what runs, as on Heroku);
- a dyno whose process exits is crashed: restarted at once the first time, then after a cool-off
  that doubles each time (formation.restart_delay); a web dyno not accepting on $PORT within
  `boot_timeout` is killed and crashed (Heroku's R10);
- a dyno no longer wanted gets SIGTERM, then SIGKILL after `stop_grace` seconds.

How one dyno starts, runs and stops is runner.lifecycle; after each tick the up web dynos are
published in the route table (runner.routes) the router reads. On shutdown every dyno is
stopped; on start, dynos left by a server that died without stopping them are killed
(runner.orphans), then the formation is started again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping

from gitserver.datadir import DataDir
from gitserver.formation import DynoSpec, desired_dynos, target_matches
from gitserver.processes import spawn
from gitserver.records import DynoRequest, Release
from gitserver.runner.changewatch import ChangeWatch
from gitserver.runner.dynos import OWNER, Dyno, Slot, heroku_log, routes_of
from gitserver.runner.housekeeping import Housekeeper
from gitserver.runner.lifecycle import Lifecycle, Spawn
from gitserver.runner.orphans import reap_orphans
from gitserver.runner.routes import RouteTable
from gitserver.runner.wakeup import Wakeup
from gitserver.settings import Settings
from gitserver.store import open_store

FAST_TICK = 0.05  # how often the loop looks for changes, and ticks while a dyno stops
BOOT_POLL = 0.01  # how often a booting web dyno's port is tried: it is up as soon as it accepts

logger = logging.getLogger(__name__)


class Supervisor:
    """Runs in a thread of `cedarbox serve`, publishing into `routes` for the router."""

    def __init__(
        self,
        settings: Settings,
        routes: RouteTable,
        *,
        host_env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        spawn: Spawn = spawn,
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.data = DataDir(settings.data_dir)
        self.clock = clock
        self.store = open_store(self.data.database)
        self._wake = Wakeup(self.data)  # a push's nudge, or a slug unpacked in a thread
        self.lifecycle = Lifecycle(
            settings,
            self.data,
            self.store,
            host_env=dict(os.environ if host_env is None else host_env),
            clock=clock,
            spawn=spawn,
            wake=self._wake.set,
        )
        self.housekeeper = Housekeeper(self.data, settings.log_max_bytes, clock)
        self.slots: dict[tuple[str, str], Slot] = {}
        self._releases: dict[str, Release] = {}  # each deployed app's current release
        self._apps: set[str] = set()
        self._last_request = 0
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    # Start and stop -----------------------------------------------------------------------

    def start(self) -> None:
        self._last_request = self.store.last_dyno_request_id()
        reap_orphans(self.store, self.data)
        self.housekeeper.sweep_trash()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop every dyno (SIGTERM, SIGKILL after the grace period), the thread, the store."""
        self._halt.set()
        self._wake.set()
        started = self._thread is not None
        if self._thread is not None:
            self._thread.join()
        for slot in list(self.slots.values()):
            self._stop_slot(slot)
        self.slots.clear()
        self._publish()
        self.lifecycle.finish_stopping(FAST_TICK)
        self.lifecycle.unpacker.shutdown()
        self._wake.close()
        if started:  # a supervisor that never ran must not forget another server's dynos
            self.store.delete_dynos(owner=OWNER)
        self.store.close()

    def _run(self) -> None:
        """Tick every `reconcile_interval`, and at once when woken (a push's release, a slug
        unpacked), and within FAST_TICK when the database changed (`ps:scale`, `config:set`…),
        a crashed dyno is due to restart, a booting dyno can move on or while a dyno stops."""
        next_tick = 0.0
        watch = ChangeWatch(self.store)
        woken = False
        while not self._halt.is_set():
            now = self.clock()
            if woken or self._busy(now) or now >= next_tick or watch.changed():
                try:
                    self.tick()
                except Exception:  # the loop must outlive any bad tick
                    logger.exception("a reconciliation failed; the next tick tries again")
                next_tick = self.clock() + self.settings.reconcile_interval
                watch.seen()
            requests = self._wake.wait(BOOT_POLL if self._booting() else FAST_TICK)
            woken = requests is not None
            for request in requests or ():  # a push's slug, before its release exists
                self.lifecycle.unpacker.prepare(request.app, request.slug_name)

    def _busy(self, now: float) -> bool:
        """Something to do before the next regular tick: a dyno stopping, due, or booting
        and ready to move on (up, exited or past its boot timeout)."""
        return bool(self.lifecycle.stopping) or any(
            self.lifecycle.boot_settled(d, now)
            or (d.proc is None and d.retry_at is not None and d.retry_at <= now)
            for d in self._running()
        )

    def _booting(self) -> bool:
        return any(d.state == "starting" and d.proc is not None for d in self._running())

    # One reconciliation ------------------------------------------------------------------

    def tick(self) -> None:
        desired = self._desired()
        self._apply_requests()
        wanted = {(app, spec.name): spec for app, specs in desired.items() for spec in specs}
        for key in sorted(set(self.slots) | set(wanted)):
            self._reconcile(key, wanted.get(key))
        if self.lifecycle.stopping:
            self.lifecycle.advance_stopping()
        self._publish()
        self._tidy()

    def _desired(self) -> dict[str, list[DynoSpec]]:
        formations = self.store.all_formations()
        desired: dict[str, list[DynoSpec]] = {}
        self._releases = {}
        apps = self.store.list_apps()
        self._apps = {app.name for app in apps}
        for app in apps:
            release = self.store.current_release(app.name)
            if release is None or not release.slug:
                continue
            self._releases[app.name] = release
            desired[app.name] = desired_dynos(release.process_types, formations.get(app.name, {}))
        return desired

    def _apply_requests(self) -> None:
        requests = self.store.dyno_requests_after(self._last_request)
        for request in requests:
            self._apply_request(request)
            self._last_request = request.id
        if requests:
            self.store.forget_dyno_requests(self._last_request)

    def _apply_request(self, request: DynoRequest) -> None:
        for slot in self.slots.values():
            if slot.app != request.app or not target_matches(request.target, slot.name):
                continue
            if request.action == "restart":
                slot.generation += 1
                heroku_log(self.data, slot.app, slot.name, "Restarting")
            elif request.action == "stop":
                self._stop_slot(slot)
                slot.current = slot.incoming = None

    def _reconcile(self, key: tuple[str, str], spec: DynoSpec | None) -> None:
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = Slot(app=key[0], name=key[1])
        now = self.clock()
        for dyno in (slot.current, slot.incoming):
            if dyno is not None:
                self.lifecycle.advance(dyno, now)
        if spec is None:  # scaled down, no web type any more, or the app is gone
            self._stop_slot(slot)
            del self.slots[key]
            return
        release = self._releases[slot.app]
        wanted = (release.version, spec.command, slot.generation)
        current = slot.current
        if current is None:
            slot.current = self._new_dyno(slot, spec, release)
        elif current.wanted != wanted:
            if current.state != "up":  # nothing to keep serving: replace at once
                self.lifecycle.stop(current)
                slot.current = self._new_dyno(slot, spec, release)
                if slot.incoming is not None:
                    self.lifecycle.stop(slot.incoming)
                    slot.incoming = None
            elif slot.incoming is None or slot.incoming.wanted != wanted:
                if slot.incoming is not None:
                    self.lifecycle.stop(slot.incoming)
                slot.incoming = self._new_dyno(slot, spec, release)
        for dyno in (slot.current, slot.incoming):
            if dyno is None or dyno.proc is not None or dyno.state not in ("starting", "crashed"):
                continue
            if dyno.retry_at is None or now >= dyno.retry_at:
                self.lifecycle.launch(dyno, release)
        incoming = slot.incoming
        if incoming is not None and incoming.state in ("up", "crashed"):
            old, slot.current, slot.incoming = slot.current, incoming, None
            self._publish()  # route to the new dyno before the old one gets SIGTERM
            if old is not None:
                self.lifecycle.stop(old)

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

    def _stop_slot(self, slot: Slot) -> None:
        """Stop the slot's dynos, the replacement first."""
        for dyno in (slot.incoming, slot.current):
            if dyno is not None:
                self.lifecycle.stop(dyno)

    # Bookkeeping -------------------------------------------------------------------------

    def _running(self) -> list[Dyno]:
        return [d for s in self.slots.values() for d in (s.current, s.incoming) if d is not None]

    def _publish(self) -> None:
        self.routes.publish(routes_of(self.slots.values()))

    def _tidy(self) -> None:
        in_use: dict[str, set[int]] = {}
        for dyno in [*self._running(), *self.lifecycle.stopping]:
            in_use.setdefault(dyno.app, set()).add(dyno.release)
        for app, version in self.lifecycle.unpacker.in_progress():
            in_use.setdefault(app, set()).add(version)
        current = {app: release.version for app, release in self._releases.items()}
        self.housekeeper.tidy(current, self._apps, in_use)
