"""`builds`, `builds:info`, `builds:output`, `build` (local, no git), `builds:cache:purge`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitserver.cli.output import print_json, print_table
from gitserver.cli.registry import Topic, app_option, arg, json_flag
from gitserver.platform import Platform
from gitserver.settings import STACKS, Settings
from gitserver.views import build_view, iso_time

topic = Topic()

_BUILD_ID = arg("build", nargs="?", help="build id (default: the latest)")


@topic.command("builds", help="list an app's builds", args=(app_option(), json_flag()))
def _builds(args: argparse.Namespace, settings: Settings) -> int:
    builds = Platform.open(settings).builds(args.app)
    if args.json:
        print_json([build_view(b) for b in builds])
        return 0
    rows = [
        (
            b.id,
            b.status + (f" ({b.failure_code})" if b.failure_code else ""),
            b.source_version[:7],
            iso_time(b.started_at),
            f"v{b.release_version}" if b.release_version else "",
        )
        for b in builds
    ]
    print_table(("Id", "Status", "Version", "Started", "Release"), rows, empty="No builds yet.")
    return 0


@topic.command(
    "builds:info",
    help="show a build's JSON report",
    args=(app_option(), _BUILD_ID, json_flag("(the report is always JSON)")),
)
def _builds_info(args: argparse.Namespace, settings: Settings) -> int:
    path = Platform.open(settings).build_file(args.app, args.build, ".json")
    print(path.read_text().rstrip())
    return 0


@topic.command("builds:output", help="replay a build's transcript", args=(app_option(), _BUILD_ID))
def _builds_output(args: argparse.Namespace, settings: Settings) -> int:
    path = Platform.open(settings).build_file(args.app, args.build, ".log")
    sys.stdout.buffer.write(path.read_bytes())
    return 0


@topic.command(
    "build",
    help="build a directory locally (no git)",
    args=(
        arg("directory", type=Path),
        arg("--stack", choices=STACKS, default=None),
        arg("--slug", type=Path, default=None, help="write the slug here"),
        arg("--report", type=Path, default=None, help="write the JSON build report here"),
    ),
)
def _build(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.localbuild import build_directory

    result = build_directory(
        settings, args.directory, stack=args.stack, slug=args.slug, report=args.report
    )
    return 0 if result.succeeded else 1


@topic.command(
    "builds:cache:purge",
    help="empty the build cache",
    args=(
        app_option(),
        arg("--confirm", default=None, help="accepted for heroku CLI compatibility"),
    ),
)
def _cache_purge(args: argparse.Namespace, settings: Settings) -> int:
    purged = Platform.open(settings).purge_cache(args.app)
    print(f"Purging build cache for {args.app}... done" + ("" if purged else " (it was empty)"))
    return 0
