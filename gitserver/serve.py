"""`cedarbox serve`: the wiring of the HTTP front end, the supervisor and managed PostgreSQL.

Start: bind the front end (so its URL is known) → claim the data directory (one server per
directory) → managed PostgreSQL, if an add-on uses it (before the dynos, so that their
DATABASE_URLs answer) → the supervisor (every app's formation) → print the URL → serve.
Stop (Ctrl-C, SIGTERM): stop taking requests, then undo the start in reverse order, so that
no dyno is left behind. Nothing else imports this module.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import ExitStack

from gitserver import addons, cgroups, sandbox, serverinfo
from gitserver.errors import CedarboxError, UsageError
from gitserver.platform import Platform
from gitserver.runner.routes import RouteTable
from gitserver.runner.supervisor import Supervisor
from gitserver.settings import SECRET_VARIABLES, Settings
from gitserver.web.server import CedarboxServer

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

logger = logging.getLogger(__name__)


def serve(settings: Settings, announce: Callable[[CedarboxServer], None] | None = None) -> None:
    """Run the server until Ctrl-C or SIGTERM; print the URL first so people and tests find it.

    `announce` replaces the lines printed once the server is ready and once it has stopped
    (`--ephemeral` prints one JSON line, and nothing else on stdout).
    """
    if not settings.api_key and not _is_loopback(settings.host):
        raise UsageError(
            f"Refusing to listen on {settings.host} without an API key.",
            hint="Pass --api-key-file PATH (or set CEDARBOX_API_KEY); git then asks for it as "
            "the password.",
        )
    for name in SECRET_VARIABLES:  # read: no child process (git, hook, dyno) inherits it
        os.environ.pop(name, None)
    _configure_logging()
    signal.signal(signal.SIGTERM, _interrupt)
    routes = RouteTable()
    front = CedarboxServer(settings, routes)
    settings = front.settings  # with the port bound and the public URL
    # The wiring's own state handle; request threads open their own (SQLite connections
    # belong to one thread) and close it with the connection.
    platform = Platform.open(settings)
    started = False
    try:
        with ExitStack() as running:  # what started is stopped, last started first
            try:
                platform.refresh_hooks()
                _start_apps(running, platform, routes, front.url)
                started = True
                (announce or _announce)(front)
                front.serve_forever(poll_interval=0.2)
            except KeyboardInterrupt:
                pass
            finally:
                front.server_close()  # stop taking requests before the dynos stop
                for signum in (signal.SIGTERM, signal.SIGINT):  # a second one must not cut
                    signal.signal(signum, signal.SIG_IGN)  # the shutdown short
    finally:
        platform.close()
        if started and announce is None:
            print("cedarbox stopped", flush=True)


def _announce(front: CedarboxServer) -> None:
    print(f"cedarbox listening on {front.url}", flush=True)
    print(
        f"also over TLS: {front.https_url} (CA: {front.tls.ca.cert_path}; "
        "`cedarbox tls:trust` says how to trust it)",
        flush=True,
    )
    print(sandbox.status_line(front.settings.sandbox), flush=True)
    print(cgroups.status_line(front.settings.data_dir, front.settings.cgroups), flush=True)
    print(f"data directory: {front.settings.data_dir}", flush=True)


def _start_apps(running: ExitStack, platform: Platform, routes: RouteTable, url: str) -> None:
    """Claim the data directory and run every app's formation, each undo pushed on `running`."""
    serverinfo.claim(platform.data.server_record, url)
    running.callback(serverinfo.release_claim, platform.data.server_record)
    # The firewall rule this server added (sandbox.network_guard) goes when it stops, and
    # the control groups of its builds and dynos: those a crash left (of any data directory:
    # the empty ones over a minute old), now; its own, at stop.
    running.callback(sandbox.remove_network_guard)
    groups = cgroups.backend(platform.settings.data_dir, platform.settings.cgroups)
    if isinstance(groups, cgroups.Backend):
        groups.sweep()
        groups.sweep_others()
        running.callback(groups.sweep, roots_too=True)
    # Stopped even if its start failed: it may have got as far as running the cluster.
    running.callback(_stop_postgres, platform)
    try:
        addons.start_managed_if_used(platform)
    except CedarboxError as exc:
        logger.error("managed PostgreSQL did not start: %s", exc.message)
    supervisor = Supervisor(platform.settings, routes)
    running.callback(supervisor.shutdown)
    supervisor.start()


def _stop_postgres(platform: Platform) -> None:
    """After the dynos: they may use it until they stop."""
    try:
        addons.stop_managed(platform)
    except CedarboxError as exc:
        logger.error("managed PostgreSQL did not stop: %s", exc.message)


def _configure_logging() -> None:
    """Server diagnostics to stderr: stdout is for the lines people and tests read."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
    root = logging.getLogger("gitserver")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
