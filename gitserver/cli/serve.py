"""`cedarbox serve`: the git server, supervisor and router in one process.

`--ephemeral` runs one for a CI job or a test session: a fresh temporary data directory, a
free port, a random API key, one JSON line on stdout once it is ready, and nothing left
behind when it stops (dynos, managed PostgreSQL and files).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from gitserver.cli.registry import Topic, arg
from gitserver.errors import CedarboxError, UsageError
from gitserver.settings import Settings

if TYPE_CHECKING:  # the server is imported only when `serve` runs
    from gitserver.web.server import CedarboxServer

topic = Topic()


@topic.command(
    "serve",
    help="run the git server",
    args=(
        arg("--host", default=None, help="address to bind (default 127.0.0.1)"),
        arg("--port", type=int, default=None, help="port (default 5000; 0 picks one)"),
        arg(
            "--api-key-file",
            default=None,
            metavar="PATH",
            help="require the key in this file as the HTTP password (or CEDARBOX_API_KEY)",
        ),
        arg("--api-key", default=None, help=argparse.SUPPRESS),
        arg(
            "--no-auto-create",
            action="store_true",
            help="refuse pushes to apps that do not exist",
        ),
        arg(
            "--postgres-admin-url",
            default=None,
            help="external PostgreSQL for heroku-postgresql (env CEDARBOX_POSTGRES_ADMIN_URL)",
        ),
        arg(
            "--ephemeral",
            action="store_true",
            help="a temporary data directory, a free port and a random API key, all removed "
            "on exit; prints one JSON line (url, data_dir, api_key, pid) once ready",
        ),
    ),
)
def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # The options above reach the server through Settings (see cli.main).
    from gitserver.serve import serve

    if args.ephemeral:
        return _serve_ephemeral(args, settings)
    serve(settings)
    return 0


def api_key_from(args: argparse.Namespace) -> str | None:
    """The key of `--api-key-file PATH`; None without it (CEDARBOX_API_KEY then applies).

    `--api-key KEY` is refused: every local user sees a process's arguments (`ps`).
    """
    if getattr(args, "api_key", None) is not None:
        raise UsageError(
            "--api-key would show the key to every user of this machine (in `ps`).",
            hint="Put the key in a file only you can read and pass --api-key-file PATH, or set "
            "CEDARBOX_API_KEY.",
        )
    path = getattr(args, "api_key_file", None)
    if path is None:
        return None
    try:
        key_file = Path(path).expanduser()
        if key_file.stat().st_mode & 0o077:
            raise UsageError(
                f"The API key file {path} can be read by other users.",
                hint=f"Make it yours alone: chmod 600 {path}",
            )
        key = key_file.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"Cannot read the API key file {path}: {getattr(exc, 'strerror', None) or exc}.",
            hint="Pass --api-key-file with a readable file that holds the key on one line.",
        ) from None
    if not key or "\n" in key:
        raise UsageError(
            f"The API key file {path} must hold the key on one line.",
            hint="Write the key alone into the file, e.g. `openssl rand -hex 32 > FILE`.",
        )
    return key


def _serve_ephemeral(args: argparse.Namespace, settings: Settings) -> int:
    """Serve from a temporary data directory, removed with everything in it on exit."""
    from gitserver.serve import serve

    if getattr(args, "data_dir", None) is not None:
        raise UsageError(
            "--ephemeral makes a temporary data directory of its own; --data-dir conflicts.",
            hint="Drop --data-dir (or drop --ephemeral to serve that directory).",
        )
    # From here on SIGTERM unwinds (as `serve` makes it do once running): the directory made
    # next must go even if the server is stopped while it starts.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        data_dir = Path(tempfile.mkdtemp(prefix="cedarbox-ephemeral-"))
    except OSError as exc:
        raise CedarboxError(
            f"Cannot create a temporary data directory: {exc.strerror or exc}.",
            hint="Point TMPDIR at a writable directory with free space.",
            code="SERVER_START_FAILED",
        ) from None
    # Only the flags count here: a CEDARBOX_PORT or CEDARBOX_API_KEY meant for a long-lived
    # server must not make a throwaway one predictable.
    ephemeral = settings.with_(
        data_dir=data_dir,
        port=0 if args.port is None else args.port,
        api_key=api_key_from(args) or secrets.token_urlsafe(24),
    )
    try:
        serve(ephemeral, announce=_announce_json)
    except OSError as exc:  # binding the port, mostly: the one start failure with no type
        raise CedarboxError(
            f"Cannot start the ephemeral server on {ephemeral.host}:{ephemeral.port}: "
            f"{exc.strerror or exc}.",
            hint="Leave out --port (a free one is picked) or choose a free port.",
            code="SERVER_START_FAILED",
        ) from None
    finally:
        remove_data_dir(data_dir)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def server_info(front: CedarboxServer) -> dict[str, object]:
    """What `--ephemeral` prints once ready, as one JSON object."""
    return {
        "url": front.url,
        "https_url": front.https_url,  # the same port over TLS
        "data_dir": str(front.settings.data_dir),
        "api_key": front.settings.api_key,
        "pid": os.getpid(),
    }


def _announce_json(front: CedarboxServer) -> None:
    print(json.dumps(server_info(front)), flush=True)


def remove_data_dir(data_dir: Path) -> None:
    """The data directory, and the managed cluster's files where they live outside it.

    As root the cluster's PGDATA may sit in the `postgres` user's home (gitserver/postgres.py),
    named in DATA_DIR/postgres/cluster.json; `serve` has stopped the cluster by now.
    """
    try:
        pgdata = Path(json.loads((data_dir / "postgres" / "cluster.json").read_text())["pgdata"])
    except (OSError, ValueError, KeyError, TypeError):
        pgdata = None
    if pgdata is not None and not pgdata.is_relative_to(data_dir):
        shutil.rmtree(pgdata.parent, ignore_errors=True)  # `<home>/cedarbox/<digest>`
    shutil.rmtree(data_dir, ignore_errors=True)
