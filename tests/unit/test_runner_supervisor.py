"""The supervisor on its own (no HTTP server): SIGKILL after the grace, shutdown, crash backoff.

Real processes from a real slug; settings shortened so that each case takes about a second.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from gitserver.pipeline.slug import write_slug
from gitserver.processes import group_members
from gitserver.runner.routes import RouteTable
from gitserver.runner.supervisor import Supervisor
from gitserver.settings import Settings
from gitserver.store import Store, open_store

PROCFILE = {
    "web": "python3 -m http.server $PORT --bind 127.0.0.1",
    # Ignores SIGTERM (the disposition is inherited by sleep): only SIGKILL ends it.
    "stubborn": "trap '' TERM; sleep 600",
    "crasher": "echo failing; exit 3",
}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Supervisor, Store]]:
    settings = Settings.from_env(
        {},
        data_dir=tmp_path / "data",
        stop_grace=0.5,
        crash_backoff=0.3,
        crash_backoff_max=0.6,
        boot_timeout=10.0,
    )
    store = open_store(settings.data_dir / "state.db")
    store.create_app("shop", "heroku-24")
    source = tmp_path / "source"
    source.mkdir()
    (source / "Procfile").write_text("".join(f"{k}: {v}\n" for k, v in PROCFILE.items()))
    slug = tmp_path / "slug.tar.gz"
    write_slug(source, slug)
    store.create_release(
        "shop", "Deploy", build_id=None, slug=str(slug), process_types=dict(PROCFILE)
    )
    supervisor = Supervisor(
        settings, RouteTable(), host_env={"PATH": "/usr/local/bin:/usr/bin:/bin"}
    )
    supervisor.start()
    try:
        yield supervisor, store
    finally:
        supervisor.shutdown()
        store.close()


def wait_for(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def states(store: Store) -> dict[str, str]:
    return {d.name: d.state for d in store.dynos("shop")}


def log_text(supervisor: Supervisor) -> str:
    return supervisor.data.log("shop").read_text()


def test_a_dyno_ignoring_sigterm_is_killed_after_the_grace(
    running: tuple[Supervisor, Store],
) -> None:
    supervisor, store = running
    wait_for(lambda: states(store) == {"web.1": "up"})
    assert supervisor.routes.lookup("shop").status == "up"
    store.set_formation("shop", {"stubborn": 1})
    wait_for(lambda: states(store).get("stubborn.1") == "up")
    pgid = next(d.pid for d in store.dynos("shop") if d.name == "stubborn.1")
    assert pgid and group_members(pgid)
    store.set_formation("shop", {"stubborn": 0})
    wait_for(lambda: "stubborn.1" not in states(store), 10)
    assert not group_members(pgid)
    text = log_text(supervisor)
    assert "heroku[stubborn.1]: Stopping all processes with SIGTERM" in text
    assert (
        "heroku[stubborn.1]: Error R12 (Exit timeout) -> At least one process failed to exit "
        "within 0.5 seconds of SIGTERM"
    ) in text
    assert "heroku[stubborn.1]: Stopping remaining processes with SIGKILL" in text
    assert "heroku[stubborn.1]: Process exited with status 137" in text


def test_shutdown_stops_even_stubborn_dynos(running: tuple[Supervisor, Store]) -> None:
    supervisor, store = running
    store.set_formation("shop", {"stubborn": 2})
    wait_for(lambda: states(store) == {"web.1": "up", "stubborn.1": "up", "stubborn.2": "up"})
    pids = [d.pid for d in store.dynos("shop")]
    started = time.monotonic()
    supervisor.shutdown()
    assert time.monotonic() - started < 5
    assert all(pid and not group_members(pid) for pid in pids)
    assert store.dynos("shop") == []
    supervisor.shutdown = lambda: None  # type: ignore[method-assign]  # the fixture's call


def test_crashes_restart_at_once_then_with_growing_delays(
    running: tuple[Supervisor, Store],
) -> None:
    supervisor, store = running
    store.set_formation("shop", {"web": 0, "crasher": 1})
    wait_for(lambda: any(d.restarts >= 3 for d in store.dynos("shop")), 15)
    # From each exit to the next start: the restart policy (noticing an exit of a dyno that
    # was up already takes up to one reconcile interval, which is not what this checks).
    events = [
        (line.split(" ", 1)[0], "exit" if "Process exited" in line else "start")
        for line in log_text(supervisor).splitlines()
        if "heroku[crasher.1]: Starting process" in line
        or "heroku[crasher.1]: Process exited" in line
    ]
    gaps = [
        datetime.fromisoformat(b[0]).timestamp() - datetime.fromisoformat(a[0]).timestamp()
        for a, b in itertools.pairwise(events)
        if (a[1], b[1]) == ("exit", "start")
    ][:3]
    # The policy itself (at once, then doubling up to the maximum) is test_formation's; here
    # only what holds under any load: a restart never comes sooner than its cool-off.
    # (No upper bounds: a loaded machine may start a process late; timing targets are bench's.)
    assert len(gaps) == 3
    assert gaps[1] >= 0.3 - 0.02  # the second crash waits the backoff (0.3 s)
    assert gaps[2] >= 0.6 - 0.02  # the third waits it doubled, the maximum (0.6 s)
    assert "app[crasher.1]: failing" in log_text(supervisor)
    assert supervisor.routes.lookup("shop").status == "none"  # no web dyno: H14
