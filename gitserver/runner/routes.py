"""The route table: which up web dynos serve each app. The supervisor publishes, the router reads.

The table is replaced whole on each publish (never edited in place), so a reader always sees
one consistent moment of the formation. Safe to use from any thread.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """One web dyno that accepts connections, and its port on 127.0.0.1."""

    dyno: str
    port: int


@dataclass(frozen=True)
class Routes:
    """What the router needs of an app: its up web dynos, or why there are none."""

    targets: tuple[Route, ...]
    status: str  # "up", "starting", "crashed" or "none"


NO_ROUTES = Routes((), "none")


class RouteTable:
    """Every app's routes, published by the supervisor after each change."""

    def __init__(self) -> None:
        self._routes: Mapping[str, Routes] = {}
        self._change = threading.Condition()
        self._round_robin = itertools.count()

    def publish(self, routes: Mapping[str, Routes]) -> None:
        """Replace the table and wake requests waiting for an app's dynos to boot."""
        with self._change:
            self._routes = dict(routes)
            self._change.notify_all()

    def lookup(self, app: str) -> Routes:
        with self._change:
            return self._routes.get(app, NO_ROUTES)

    def wait_for_route(self, app: str, timeout: float) -> Routes:
        """The app's routes, waiting while its web dynos boot (Heroku queues such requests)."""
        deadline = time.monotonic() + timeout
        with self._change:
            while True:
                routes = self._routes.get(app, NO_ROUTES)
                left = deadline - time.monotonic()
                if routes.status != "starting" or left <= 0:
                    return routes
                self._change.wait(left)

    def pick(self, routes: Routes) -> Route:
        """The next target, round robin over every app's requests."""
        return routes.targets[next(self._round_robin) % len(routes.targets)]
