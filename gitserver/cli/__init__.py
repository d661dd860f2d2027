"""The `cedarbox` command line: heroku CLI verbs over the local platform, one error boundary."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gitserver.cli import (
    addons,
    apps,
    builds,
    config,
    env,
    keys,
    ps,
    releases,
    runtimes,
    serve,
    tls,
)
from gitserver.cli.registry import build_parser as _build_parser
from gitserver.errors import CedarboxError
from gitserver.settings import Settings

# In this order `cedarbox --help` lists the commands.
TOPICS = (
    serve.topic,
    apps.topic,
    builds.topic,
    config.topic,
    releases.topic,
    ps.topic,
    runtimes.topic,
    addons.topic,
    tls.topic,
    env.topic,
    keys.topic,
)


def build_parser() -> argparse.ArgumentParser:
    return _build_parser(TOPICS, description=__doc__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a CedarboxError becomes ` !    message` (and hint) and exit code 1."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 0
        settings = Settings.from_env(
            data_dir=getattr(args, "data_dir", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            api_key=serve.api_key_from(args),
            auto_create=False if getattr(args, "no_auto_create", False) else None,
            postgres_admin_url=getattr(args, "postgres_admin_url", None),
        )
        result: int = args.handler(args, settings)
        return result
    except CedarboxError as exc:
        print(f" !    {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f" !    {exc.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
