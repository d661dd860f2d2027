"""`cedarbox serve`: the git server, supervisor and router in one process."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitserver.cli.registry import Topic, arg
from gitserver.errors import UsageError
from gitserver.settings import Settings

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
    ),
)
def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # The options above reach the server through Settings (see cli.main).
    from gitserver.serve import serve

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
