"""`ps`, `ps:scale`, `ps:restart`, `ps:stop`, `logs` and `run`: the app's dynos.

These only write desired state; the supervisor of a running `cedarbox serve` acts on it, so
each says so when no server runs.
"""

from __future__ import annotations

import argparse
import sys

from gitserver.cli.output import note, print_json, print_table
from gitserver.cli.registry import Topic, app_option, arg, json_flag
from gitserver.configvars import parse_assignments
from gitserver.platform import Platform
from gitserver.settings import Settings
from gitserver.views import dyno_view, iso_time

topic = Topic()


def _formation_text(counts: dict[str, int], between: str = "=", sep: str = " ") -> str:
    return sep.join(f"{kind}{between}{n}" for kind, n in counts.items())


def _dynos_text(target: str) -> str:
    if not target:
        return "dynos"
    return f"dyno {target}" if "." in target else f"{target} dynos"


@topic.command(
    "ps",
    help="list the app's dynos",
    args=(app_option(), arg("type", nargs="?", help="only this process type"), json_flag()),
)
def _ps(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    release, counts = platform.formation(args.app)
    dynos = [d for d in platform.dynos(args.app) if not args.type or d.type == args.type]
    if args.json:
        print_json([dyno_view(d) for d in dynos])
        return 0
    rows = [
        (
            d.type,
            d.name,
            d.state + (f" ({d.detail})" if d.detail and d.state == "crashed" else ""),
            iso_time(d.since),
            f"v{d.release_version}" if d.release_version else "",
            d.command,
        )
        for d in dynos
    ]
    print_table(
        ("Type", "Name", "State", "Since", "Release", "Command"),
        rows,
        empty=f"No dynos on {args.app}.",
    )
    if platform.server() is None and any(counts.values()):
        note(
            f"cedarbox serve is not running: {_formation_text(counts)} starts when it runs "
            f"(v{release.version if release else '?'})."
        )
    return 0


@topic.command(
    "ps:scale",
    help="scale process types (web=2 worker+1)",
    args=(app_option(), arg("changes", nargs="*", metavar="TYPE=N"), json_flag()),
)
def _ps_scale(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    if not args.changes:
        _, counts = platform.formation(args.app)
        if args.json:
            print_json(counts)
        else:
            print(_formation_text(counts) or f"{args.app} has no process types to scale.")
        return 0
    counts = platform.scale(args.app, args.changes)
    if args.json:
        print_json(counts)
        return 0
    print(f"Scaling dynos... done, now running {_formation_text(counts, ' at ', ', ')}")
    if platform.server() is None:
        note("cedarbox serve is not running: the formation applies when it runs.")
    return 0


def _request_dynos(args: argparse.Namespace, settings: Settings, action: str, doing: str) -> int:
    """Leave a restart or stop request for the supervisor, and say what it will do."""
    platform = Platform.open(settings)
    platform.request_dynos(args.app, action, args.target)
    print(f"{doing} {_dynos_text(args.target)} on {args.app}... done")
    if platform.server() is None:
        note(f"cedarbox serve is not running: no dynos are running to {action}.")
    return 0


@topic.command(
    "ps:restart",
    "restart",
    help="restart dynos (all, a type or one)",
    args=(app_option(), arg("target", nargs="?", default="", metavar="TYPE|DYNO")),
)
def _ps_restart(args: argparse.Namespace, settings: Settings) -> int:
    return _request_dynos(args, settings, "restart", "Restarting")


@topic.command(
    "ps:stop",
    help="stop dynos (the formation restarts them)",
    args=(app_option(), arg("target", metavar="TYPE|DYNO")),
)
def _ps_stop(args: argparse.Namespace, settings: Settings) -> int:
    return _request_dynos(args, settings, "stop", "Stopping")


@topic.command(
    "logs",
    help="show the app's logs",
    args=(
        app_option(),
        arg("-n", "--num", type=int, default=100, help="lines to show (default 100)"),
        arg("-t", "--tail", action="store_true", help="keep following until Ctrl-C"),
        arg("-p", "--ps", "-d", "--dyno", dest="dyno", default="", help="web, web.1, router"),
        arg("-s", "--source", choices=("app", "heroku"), default="", help="only these"),
    ),
)
def _logs(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.applog import LogFilter, follow, last_lines

    path = Platform.open(settings).log_path(args.app)
    log_filter = LogFilter(dyno=args.dyno, source=args.source)
    for line in last_lines(path, max(args.num, 0), log_filter):
        print(line)
    if not args.tail:
        return 0
    sys.stdout.flush()
    try:
        for line in follow(path, log_filter):
            print(line, flush=True)
    except KeyboardInterrupt:
        pass
    return 0


@topic.command(
    "run",
    help="run a one-off command in the release",
    args=(
        app_option(),
        arg("-e", "--env", default="", help="extra variables: 'KEY=value;KEY2=value2'"),
        arg("-x", "--exit-code", action="store_true", help="(always: the exit code is passed on)"),
        arg("--no-tty", action="store_true", help="(accepted for heroku CLI compatibility)"),
        arg("words", nargs=argparse.REMAINDER, metavar="COMMAND"),
    ),
)
def _run(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.runner.oneoff import command_line, run_oneoff
    from gitserver.runner.sandboxing import DynoSandbox

    words = args.words[1:] if args.words[:1] == ["--"] else args.words
    extra = parse_assignments([p for p in args.env.split(";") if p]) if args.env else {}
    platform = Platform.open(settings)
    return run_oneoff(
        platform.store,
        platform.data,
        platform.release(args.app, None),
        command_line(words),
        git_url=platform.git_url(args.app),
        extra_env=extra,
        box=DynoSandbox.for_app(settings, args.app),
    )
