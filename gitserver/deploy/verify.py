"""`Verifying deploy...`: the push waits until the new release's web dynos answer HTTP.

The hook reads the state the supervisor writes (the `dynos` table) and never starts a process.
A dyno is `up` once its port accepts (Heroku's rule), but a server can bind its port and still
never answer (gunicorn binds before its workers import the app), so the push also waits for an
HTTP answer (any status) to `HEAD /` sent straight to the dyno. With no server running for the
data directory nothing can answer yet: the push says so and ends. A crash or a timeout does
not fail the push (Heroku keeps the release too): it says plainly that the app did not answer
and shows the last lines of its log.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from gitserver.applog import LogFilter, last_lines
from gitserver.datadir import DataDir
from gitserver.formation import quantities
from gitserver.output import Output
from gitserver.processes import is_same_process
from gitserver.records import DynoRecord, Release
from gitserver.serverinfo import ServerRecord, running_server
from gitserver.settings import Settings
from gitserver.store import Store

POLL = 0.02  # one read of the dynos table: the push ends within 20 ms of the dyno answering
# Beyond the boot timeout: time for the supervisor to notice the release and unpack its slug.
MARGIN = 10.0
HTTP_TIMEOUT = 5.0
LOG_LINES = 10


@dataclass(frozen=True)
class Outcome:
    up: bool
    failed: DynoRecord | None = None  # the dyno that crashed, if one did
    timed_out: bool = False


def verify_deploy(
    store: Store, data: DataDir, settings: Settings, release: Release, out: Output, *, legacy: bool
) -> None:
    """Print the verification lines for `release` (nothing when it runs no web dyno)."""
    wanted = quantities(release.process_types, store.formation(release.app)).get("web", 0)
    if not wanted:
        return
    server = running_server(data.server_record)
    if server is None:
        out.line("Verifying deploy... skipped: no cedarbox server is running.")
        out.indent(f"v{release.version} starts when `cedarbox serve` runs on this data directory.")
        return
    timeout = settings.boot_timeout + MARGIN
    outcome = wait_for_web(store, release, wanted, timeout=timeout, server=server)
    if outcome.up:
        out.line("Verifying deploy... done.")
        return
    out.line("Verifying deploy... failed.")
    _explain(data, release, outcome, timeout, out, legacy=legacy)


def wait_for_web(
    store: Store,
    release: Release,
    wanted: int,
    *,
    timeout: float,
    server: ServerRecord | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> Outcome:
    """Poll the supervisor's records until `wanted` web dynos of the release (or a newer one)
    are up, one has crashed, the server went away or `timeout` passed."""
    deadline = clock() + timeout
    checked_server = clock()
    host = f"{release.app}.localhost"
    if server is not None and urlsplit(server.url).port:
        host += f":{urlsplit(server.url).port}"
    answered: set[str] = set()
    while clock() < deadline:
        web = [
            d
            for d in store.dynos(release.app)
            if d.type == "web" and d.owner == "supervisor" and d.release_version >= release.version
        ]
        crashed = next((d for d in web if d.state == "crashed" or d.restarts > 0), None)
        if crashed is not None:
            return Outcome(up=False, failed=crashed)
        for dyno in web:
            if dyno.state == "up" and dyno.port and dyno.id not in answered:
                wait = max(0.1, min(HTTP_TIMEOUT, deadline - clock()))
                if answers_http(dyno.port, host, timeout=wait):
                    answered.add(dyno.id)
        if len({d.name for d in web if d.id in answered}) >= wanted:
            return Outcome(up=True)
        if server is not None and clock() - checked_server > 1:
            checked_server = clock()
            if running_server_gone(server):
                break
        sleep(POLL)
    return Outcome(up=False, timed_out=True)


def answers_http(port: int, host: str, *, timeout: float) -> bool:
    """Whether an HTTP server on the port answers `HEAD /` (any status counts)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("HEAD", "/", headers={"Host": host, "User-Agent": "cedarbox-verify"})
        conn.getresponse().close()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def running_server_gone(server: ServerRecord) -> bool:
    return not is_same_process(server.pid, server.proc_start)


def _explain(
    data: DataDir, release: Release, outcome: Outcome, timeout: float, out: Output, *, legacy: bool
) -> None:
    app = release.app
    failed = outcome.failed
    if failed is not None:
        summary = f"{failed.name} crashed: it {failed.detail or 'exited'}."
    else:
        summary = (
            f"The web dynos of v{release.version} did not answer within {int(timeout)} seconds."
        )
    lines = [
        line.split(" ", 1)[-1]  # without the timestamp: the push is happening now
        for line in last_lines(data.log(app), LOG_LINES, LogFilter(dyno="web"))
    ]
    if failed is not None:
        what = f"v{release.version} is released, but its web process crashed before answering."
        after = "cedarbox restarts crashed dynos, waiting longer after each crash."
    else:
        what = f"v{release.version} is released and running, but nothing answered HTTP on $PORT."
        after = "Check that the web process listens on $PORT and answers HTTP."
    body = [
        what,
        *(["The last lines of its log:", *(f"  {line}" for line in lines)] if lines else []),
        after,
        f"See `cedarbox logs -a {app} --tail` and `cedarbox ps -a {app}`; then fix the app and",
        f"push again, or roll back with `cedarbox releases:rollback -a {app}`.",
    ]
    if legacy:
        out.bang("\n".join([summary, *body]))
    else:
        out.warning(summary, body)
