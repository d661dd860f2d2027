"""`runtimes`, `runtimes:add`: the Python interpreters builds on this host can use."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from gitserver.cli.output import print_json, print_table
from gitserver.cli.registry import Topic, arg, json_flag
from gitserver.settings import Settings

topic = Topic()


@topic.command("runtimes", help="list Python runtimes on this host", args=(json_flag(),))
def _runtimes(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.buildpacks.python.runtimes import list_runtimes

    runtimes = list_runtimes(settings)
    if args.json:
        print_json([{**asdict(r), "path": str(r.path)} for r in runtimes])
        return 0
    rows = [(r.version, r.implementation, r.origin, r.path) for r in runtimes]
    print_table(("Version", "Implementation", "Found by", "Path"), rows, empty="No runtimes.")
    return 0


@topic.command(
    "runtimes:add",
    help="register a Python interpreter",
    args=(
        arg("version", help="its version, e.g. 3.12.4"),
        arg("path", type=Path, help="path of the interpreter"),
    ),
)
def _runtimes_add(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.buildpacks.python.registry import add_runtime

    runtime = add_runtime(settings, args.version, args.path)
    print(f"Registered Python {runtime.version} at {runtime.path}")
    return 0
