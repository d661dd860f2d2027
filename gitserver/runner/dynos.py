"""The supervisor's picture of what runs: dynos, the formation slots they fill, their routes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gitserver.applog import AppLog
from gitserver.datadir import DataDir
from gitserver.records import DynoOwner, DynoRecord, DynoState
from gitserver.runner.quota import Watch
from gitserver.runner.routes import Route, Routes

OWNER = DynoOwner.SUPERVISOR  # the `owner` of the supervisor's dyno records


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
    quota: Watch | None = None  # its control group's limits, while its process runs

    @property
    def is_web(self) -> bool:
        return self.type == "web"

    @property
    def wanted(self) -> tuple[int, str, int]:
        """What it was started as: a dyno whose slot wants otherwise is replaced."""
        return (self.release, self.command, self.generation)

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


def routes_of(slots: Iterable[Slot]) -> dict[str, Routes]:
    """Each app with web dynos: the up ones to route to, or whether they boot or crashed."""
    by_app: dict[str, list[Dyno]] = {}
    for slot in slots:
        for dyno in (slot.current, slot.incoming):
            if dyno is not None and dyno.is_web:
                by_app.setdefault(slot.app, []).append(dyno)
    routes: dict[str, Routes] = {}
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
    return routes


def heroku_log(data: DataDir, app: str, dyno: str, text: str) -> None:
    """A platform line in the app's log, in Heroku's words: `heroku[web.1]: …`."""
    AppLog(data.log(app)).write(f"heroku[{dyno}]", text)


def seconds(value: float) -> str:
    """`0.5` → "0.5", `60.0` → "60": durations as Heroku's messages print them."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
