"""`cedarbox serve`: the git server, supervisor and router in one process."""

from __future__ import annotations

import argparse

from gitserver.cli.registry import Topic, arg
from gitserver.settings import Settings

topic = Topic()


@topic.command(
    "serve",
    help="run the git server",
    args=(
        arg("--host", default=None, help="address to bind (default 127.0.0.1)"),
        arg("--port", type=int, default=None, help="port (default 5000; 0 picks one)"),
        arg("--api-key", default=None, help="require this key as the HTTP password"),
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
