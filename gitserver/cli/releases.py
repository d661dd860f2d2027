"""`releases`, `releases:info`, `releases:rollback`, and `stack:set` (what the next build uses)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from gitserver.cli.output import print_fields, print_json, print_table
from gitserver.cli.registry import Handler, Topic, app_option, arg, json_flag
from gitserver.platform import Platform
from gitserver.records import Release
from gitserver.settings import STACKS, Settings
from gitserver.views import iso_time, release_view

topic = Topic()


def _version(text: str) -> int:
    """`v3` or `3` as a release version."""
    digits = text[1:] if text.lower().startswith("v") else text
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a release version like v3")
    return int(digits)


def _release_command(name: str, help: str, default: str) -> Callable[[Handler], Handler]:
    """`releases:info` and `releases:rollback` take `-a APP [vN] [--json]`."""
    release = arg("release", nargs="?", type=_version, help=f"vN (default: {default})")
    return topic.command(name, help=help, args=(app_option(), release, json_flag()))


def release_done(args: argparse.Namespace, release: Release, doing: str) -> None:
    """What a command that made a release prints: its JSON view, or `doing... done, vN`."""
    if getattr(args, "json", False):
        print_json(release_view(release))
    else:
        print(f"{doing}... done, v{release.version}")


@topic.command("releases", help="list releases", args=(app_option(), json_flag()))
def _releases(args: argparse.Namespace, settings: Settings) -> int:
    releases = Platform.open(settings).releases(args.app)
    if args.json:
        print_json([release_view(r) for r in releases])
        return 0
    if releases:
        print(f"=== {args.app} Releases - Current: v{releases[0].version}")
    rows = [(f"v{r.version}", r.description, r.user, iso_time(r.created_at)) for r in releases]
    print_table(
        ("Version", "Description", "By", "When"), rows, empty=f"{args.app} has no releases."
    )
    return 0


@_release_command("releases:info", help="show a release", default="current")
def _releases_info(args: argparse.Namespace, settings: Settings) -> int:
    release = Platform.open(settings).release(args.app, args.release)
    info = release_view(release)
    if args.json:
        print_json(info)
        return 0
    print(f"=== Release v{release.version}")
    keys = ("description", "by", "when", "build", "slug")
    print_fields({key: info[key] or "" for key in keys}, width=12)
    print(f"=== v{release.version} Config vars")
    for key, value in release.config.items():
        print(f"{key}: {value}")
    return 0


@_release_command("releases:rollback", help="roll back to a release", default="the one before")
def _releases_rollback(args: argparse.Namespace, settings: Settings) -> int:
    release = Platform.open(settings).rollback(args.app, args.release)
    release_done(args, release, f"Rolling back {args.app}")
    if not args.json:
        print("Note: a rollback does not roll back database migrations or add-ons.")
    return 0


@topic.command(
    "stack:set",
    help="change the stack of the next build",
    args=(app_option(), arg("stack", help=f"one of: {', '.join(STACKS)}")),
)
def _stack_set(args: argparse.Namespace, settings: Settings) -> int:
    app = Platform.open(settings).set_stack(args.app, args.stack)
    print(f"Setting stack to {app.stack}... done")
    print(f"You will need to redeploy {app.name} for the change to take effect.")
    print(f"Run `git push cedarbox main` to trigger a new build on {app.name}.")
    return 0
