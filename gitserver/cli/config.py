"""`config`, `config:get`, `config:set`, `config:unset`: config vars (each change a release)."""

from __future__ import annotations

import argparse
import shlex

from gitserver.cli.output import print_json
from gitserver.cli.registry import Topic, app_option, arg, json_flag
from gitserver.cli.releases import release_done
from gitserver.configvars import parse_assignments
from gitserver.platform import Platform
from gitserver.settings import Settings

topic = Topic()


@topic.command(
    "config",
    help="show config vars",
    args=(
        app_option(),
        json_flag(),
        arg("-s", "--shell", action="store_true", help="KEY=value lines"),
    ),
)
def _config(args: argparse.Namespace, settings: Settings) -> int:
    config = Platform.open(settings).config(args.app)
    if args.json:
        print_json(config)
    elif args.shell:
        for key, value in config.items():
            print(f"{key}={shlex.quote(value)}")
    else:
        print(f"=== {args.app} Config Vars")
        width = max((len(k) for k in config), default=0) + 1
        for key, value in config.items():
            print(f"{key + ':':<{width}} {value}")
    return 0


@topic.command("config:get", help="print one config var's value", args=(app_option(), arg("key")))
def _config_get(args: argparse.Namespace, settings: Settings) -> int:
    print(Platform.open(settings).config(args.app).get(args.key, ""))
    return 0


@topic.command(
    "config:set",
    help="set config vars (new release)",
    args=(app_option(), arg("assignments", nargs="*", metavar="KEY=value"), json_flag()),
)
def _config_set(args: argparse.Namespace, settings: Settings) -> int:
    pairs = parse_assignments(args.assignments)
    release = Platform.open(settings).set_config(args.app, pairs)
    # Values are never echoed: CI logs keep this output.
    release_done(args, release, f"Setting {', '.join(pairs)} and restarting {args.app}")
    return 0


@topic.command(
    "config:unset",
    help="remove config vars (new release)",
    args=(app_option(), arg("keys", nargs="+", metavar="KEY"), json_flag()),
)
def _config_unset(args: argparse.Namespace, settings: Settings) -> int:
    release = Platform.open(settings).unset_config(args.app, args.keys)
    release_done(args, release, f"Unsetting {', '.join(args.keys)} and restarting {args.app}")
    return 0
