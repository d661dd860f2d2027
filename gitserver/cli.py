"""The `cedarbox` command line: heroku CLI verbs over the local platform, one error boundary."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from gitserver import __version__
from gitserver.configvars import parse_assignments
from gitserver.errors import CedarboxError, UsageError
from gitserver.platform import Platform
from gitserver.records import Addon, App, DynoRecord, Release
from gitserver.settings import STACKS, Settings

Handler = Callable[[argparse.Namespace, Settings], int]
_COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        _COMMANDS[name] = func
        return func

    return register


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so main() owns the exit codes."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, hint=f"See `{self.prog} --help`.")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", default=argparse.SUPPRESS, help="data directory (env CEDARBOX_DATA_DIR)"
    )
    parser = _Parser(prog="cedarbox", description=__doc__, parents=[common])
    parser.add_argument("--version", action="version", version=f"cedarbox {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("serve", parents=[common], help="run the git server")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 5000; 0 picks one)")
    p.add_argument("--api-key", default=None, help="require this key as the HTTP password")
    p.add_argument(
        "--no-auto-create", action="store_true", help="refuse pushes to apps that do not exist"
    )
    p.add_argument(
        "--postgres-admin-url",
        default=None,
        help="external PostgreSQL for heroku-postgresql (env CEDARBOX_POSTGRES_ADMIN_URL)",
    )

    p = sub.add_parser("apps", parents=[common], help="list apps")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("apps:create", parents=[common], help="create an app")
    p.add_argument("name", nargs="?")
    p.add_argument("--stack", choices=STACKS, default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("apps:info", parents=[common], help="show an app")
    _app_option(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("apps:destroy", parents=[common], help="destroy an app and all its data")
    p.add_argument("name", nargs="?")
    _app_option(p, required=False)
    p.add_argument("--confirm", default=None, help="the app's name, to confirm")

    p = sub.add_parser("builds", parents=[common], help="list an app's builds")
    _app_option(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("builds:info", parents=[common], help="show a build's JSON report")
    _app_option(p)
    p.add_argument("build", nargs="?", help="build id (default: the latest)")
    p.add_argument("--json", action="store_true", help="(the report is always JSON)")

    p = sub.add_parser("builds:output", parents=[common], help="replay a build's transcript")
    _app_option(p)
    p.add_argument("build", nargs="?", help="build id (default: the latest)")

    p = sub.add_parser("build", parents=[common], help="build a directory locally (no git)")
    p.add_argument("directory", type=Path)
    p.add_argument("--stack", choices=STACKS, default=None)
    p.add_argument("--slug", type=Path, default=None, help="write the slug here")
    p.add_argument("--report", type=Path, default=None, help="write the JSON build report here")

    p = sub.add_parser("builds:cache:purge", parents=[common], help="empty the build cache")
    _app_option(p)
    p.add_argument("--confirm", default=None, help="accepted for heroku CLI compatibility")

    p = sub.add_parser("config", parents=[common], help="show config vars")
    _app_option(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("-s", "--shell", action="store_true", help="KEY=value lines")

    p = sub.add_parser("config:get", parents=[common], help="print one config var's value")
    _app_option(p)
    p.add_argument("key")

    p = sub.add_parser("config:set", parents=[common], help="set config vars (new release)")
    _app_option(p)
    p.add_argument("assignments", nargs="*", metavar="KEY=value")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("config:unset", parents=[common], help="remove config vars (new release)")
    _app_option(p)
    p.add_argument("keys", nargs="+", metavar="KEY")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("releases", parents=[common], help="list releases")
    _app_option(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("releases:info", parents=[common], help="show a release")
    _app_option(p)
    p.add_argument("release", nargs="?", type=_version, help="vN (default: current)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("releases:rollback", parents=[common], help="roll back to a release")
    _app_option(p)
    p.add_argument("release", nargs="?", type=_version, help="vN (default: the one before)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("stack:set", parents=[common], help="change the stack of the next build")
    _app_option(p)
    p.add_argument("stack", help=f"one of: {', '.join(STACKS)}")

    p = sub.add_parser("ps", parents=[common], help="list the app's dynos")
    _app_option(p)
    p.add_argument("type", nargs="?", help="only this process type")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ps:scale", parents=[common], help="scale process types (web=2 worker+1)")
    _app_option(p)
    p.add_argument("changes", nargs="*", metavar="TYPE=N")
    p.add_argument("--json", action="store_true")

    for verb in ("ps:restart", "restart"):
        p = sub.add_parser(verb, parents=[common], help="restart dynos (all, a type or one)")
        _app_option(p)
        p.add_argument("target", nargs="?", default="", metavar="TYPE|DYNO")

    p = sub.add_parser("ps:stop", parents=[common], help="stop dynos (the formation restarts them)")
    _app_option(p)
    p.add_argument("target", metavar="TYPE|DYNO")

    p = sub.add_parser("logs", parents=[common], help="show the app's logs")
    _app_option(p)
    p.add_argument("-n", "--num", type=int, default=100, help="lines to show (default 100)")
    p.add_argument("-t", "--tail", action="store_true", help="keep following until Ctrl-C")
    p.add_argument("-p", "--ps", "-d", "--dyno", dest="dyno", default="", help="web, web.1, router")
    p.add_argument("-s", "--source", choices=("app", "heroku"), default="", help="only these")

    p = sub.add_parser("run", parents=[common], help="run a one-off command in the release")
    _app_option(p)
    p.add_argument("-e", "--env", default="", help="extra variables: 'KEY=value;KEY2=value2'")
    p.add_argument(
        "-x", "--exit-code", action="store_true", help="(always: the exit code is passed on)"
    )
    p.add_argument("--no-tty", action="store_true", help="(accepted for heroku CLI compatibility)")
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND")

    p = sub.add_parser("runtimes", parents=[common], help="list Python runtimes on this host")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("runtimes:add", parents=[common], help="register a Python interpreter")
    p.add_argument("version", help="its version, e.g. 3.12.4")
    p.add_argument("path", type=Path, help="path of the interpreter")

    p = sub.add_parser("addons", parents=[common], help="list add-ons (of one app or all)")
    _app_option(p, required=False)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("addons:create", parents=[common], help="provision an add-on (new release)")
    _app_option(p)
    p.add_argument("service", metavar="SERVICE[:PLAN]", help="heroku-postgresql[:plan]")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("addons:destroy", parents=[common], help="destroy an add-on and its data")
    _app_option(p)
    p.add_argument("name", help="add-on name (or its config var, e.g. HEROKU_POSTGRESQL_RED)")
    p.add_argument("--confirm", default=None, metavar="APP")

    p = sub.add_parser("addons:info", parents=[common], help="show an add-on")
    _app_option(p)
    p.add_argument("name")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("pg:psql", parents=[common], help="open psql on the app's database")
    _app_option(p)
    p.add_argument("name", nargs="?", help="add-on (default: the one behind DATABASE_URL)")
    p.add_argument("-c", "--command", dest="sql", default=None, help="run this SQL and exit")

    p = sub.add_parser("pg:reset", parents=[common], help="empty the app's database")
    _app_option(p)
    p.add_argument("name", nargs="?", help="add-on (default: the one behind DATABASE_URL)")
    p.add_argument("--confirm", default=None, metavar="APP")
    return parser


def _app_option(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("-a", "--app", required=required, help="app name")


def _version(text: str) -> int:
    digits = text[1:] if text.lower().startswith("v") else text
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a release version like v3")
    return int(digits)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            build_parser().print_help()
            return 0
        settings = Settings.from_env(
            data_dir=getattr(args, "data_dir", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            api_key=getattr(args, "api_key", None),
            auto_create=False if getattr(args, "no_auto_create", False) else None,
            postgres_admin_url=getattr(args, "postgres_admin_url", None),
        )
        return _COMMANDS[args.command](args, settings)
    except CedarboxError as exc:
        print(f" !    {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f" !    {exc.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# Commands -------------------------------------------------------------------------------


@command("serve")
def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.serve import serve

    serve(settings)
    return 0


@command("apps")
def _apps(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    apps = platform.store.list_apps()
    if args.json:
        _print_json([_app_json(platform, a) for a in apps])
        return 0
    rows = [(a.name, a.stack, _when(a.created_at), platform.git_url(a.name)) for a in apps]
    _print_table(("Name", "Stack", "Created", "Git URL"), rows, empty="You have no apps.")
    return 0


@command("apps:create")
def _apps_create(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    app = platform.create_app(args.name, args.stack)
    if args.json:
        _print_json(_app_json(platform, app))
    else:
        print(f"Creating {app.name}... done, stack is {app.stack}")
        print(f"{platform.web_url(app.name)} | {platform.git_url(app.name)}")
    return 0


@command("apps:info")
def _apps_info(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    info = _app_json(platform, platform.get_app(args.app))
    if args.json:
        _print_json(info)
        return 0
    print(f"=== {info['name']}")
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key.replace('_', ' ').title() + ':':<{width + 2}} {value}")
    return 0


@command("apps:destroy")
def _apps_destroy(args: argparse.Namespace, settings: Settings) -> int:
    name = args.name or args.app
    if not name:
        raise UsageError("Which app?", hint="Run `cedarbox apps:destroy NAME --confirm NAME`.")
    if args.confirm != name:
        raise UsageError(
            f"This destroys {name} and all its data, and cannot be undone.",
            hint=f"To proceed, run `cedarbox apps:destroy {name} --confirm {name}`.",
        )
    from gitserver.addons import destroy_all

    platform = Platform.open(settings)
    platform.get_app(name)
    for problem in destroy_all(platform, name):
        _note(f"Could not drop the data of add-on {problem}")
    platform.destroy_app(name)
    print(f"Destroying {name}... done")
    return 0


@command("builds")
def _builds(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    builds = platform.store.list_builds(platform.get_app(args.app).name)
    if args.json:
        _print_json([asdict(b) for b in builds])
        return 0
    rows = [
        (
            b.id,
            b.status + (f" ({b.failure_code})" if b.failure_code else ""),
            b.source_version[:7],
            _when(b.started_at),
            f"v{b.release_version}" if b.release_version else "",
        )
        for b in builds
    ]
    _print_table(("Id", "Status", "Version", "Started", "Release"), rows, empty="No builds yet.")
    return 0


@command("builds:info")
def _builds_info(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    path = _build_file(platform, args.app, args.build, ".json")
    print(path.read_text().rstrip())
    return 0


@command("builds:output")
def _builds_output(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    path = _build_file(platform, args.app, args.build, ".log")
    sys.stdout.buffer.write(path.read_bytes())
    return 0


def _build_file(platform: Platform, app: str, build_id: str | None, suffix: str) -> Path:
    builds = platform.store.list_builds(platform.get_app(app).name)
    if build_id is None:
        if not builds:
            raise UsageError(f"{app} has no builds yet.", hint=f"Push to {platform.git_url(app)}.")
        build_id = builds[0].id
    matches = [b for b in builds if b.id.startswith(build_id)]
    if len(matches) != 1:
        raise UsageError(
            f"No single build of {app} matches {build_id!r}.",
            hint=f"List them with `cedarbox builds -a {app}`.",
        )
    path = platform.data.builds(app) / f"{matches[0].id}{suffix}"
    if not path.is_file():
        raise UsageError(f"Build {matches[0].id} has no {suffix[1:]} file (it may have crashed).")
    return path


@command("build")
def _build(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.localbuild import build_directory

    result = build_directory(
        settings, args.directory, stack=args.stack, slug=args.slug, report=args.report
    )
    return 0 if result.succeeded else 1


@command("builds:cache:purge")
def _cache_purge(args: argparse.Namespace, settings: Settings) -> int:
    purged = Platform.open(settings).purge_cache(args.app)
    print(f"Purging build cache for {args.app}... done" + ("" if purged else " (it was empty)"))
    return 0


@command("config")
def _config(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    config = platform.store.config(platform.get_app(args.app).name)
    if args.json:
        _print_json(config)
    elif args.shell:
        for key, value in config.items():
            print(f"{key}={shlex.quote(value)}")
    else:
        print(f"=== {args.app} Config Vars")
        width = max((len(k) for k in config), default=0) + 1
        for key, value in config.items():
            print(f"{key + ':':<{width}} {value}")
    return 0


@command("config:get")
def _config_get(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    config = platform.store.config(platform.get_app(args.app).name)
    print(config.get(args.key, ""))
    return 0


@command("config:set")
def _config_set(args: argparse.Namespace, settings: Settings) -> int:
    pairs = parse_assignments(args.assignments)
    release = Platform.open(settings).set_config(args.app, pairs)
    # Values are never echoed: CI logs keep this output.
    _release_done(args, release, f"Setting {', '.join(pairs)} and restarting {args.app}")
    return 0


@command("config:unset")
def _config_unset(args: argparse.Namespace, settings: Settings) -> int:
    release = Platform.open(settings).unset_config(args.app, args.keys)
    _release_done(args, release, f"Unsetting {', '.join(args.keys)} and restarting {args.app}")
    return 0


@command("releases")
def _releases(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    releases = platform.store.list_releases(platform.get_app(args.app).name)
    if args.json:
        _print_json([_release_json(r) for r in releases])
        return 0
    if releases:
        print(f"=== {args.app} Releases - Current: v{releases[0].version}")
    rows = [(f"v{r.version}", r.description, r.user, _when(r.created_at)) for r in releases]
    _print_table(
        ("Version", "Description", "By", "When"), rows, empty=f"{args.app} has no releases."
    )
    return 0


@command("releases:info")
def _releases_info(args: argparse.Namespace, settings: Settings) -> int:
    release = Platform.open(settings).release(args.app, args.release)
    info = _release_json(release)
    if args.json:
        _print_json(info)
        return 0
    print(f"=== Release v{release.version}")
    for key in ("description", "by", "when", "build", "slug"):
        print(f"{key.title() + ':':<13}{info[key] or ''}")
    print(f"=== v{release.version} Config vars")
    for key, value in release.config.items():
        print(f"{key}: {value}")
    return 0


@command("releases:rollback")
def _releases_rollback(args: argparse.Namespace, settings: Settings) -> int:
    release = Platform.open(settings).rollback(args.app, args.release)
    _release_done(args, release, f"Rolling back {args.app}")
    if not args.json:
        print("Note: a rollback does not roll back database migrations or add-ons.")
    return 0


@command("stack:set")
def _stack_set(args: argparse.Namespace, settings: Settings) -> int:
    app = Platform.open(settings).set_stack(args.app, args.stack)
    print(f"Setting stack to {app.stack}... done")
    print(f"You will need to redeploy {app.name} for the change to take effect.")
    print(f"Run `git push cedarbox main` to trigger a new build on {app.name}.")
    return 0


def _release_done(args: argparse.Namespace, release: Release, doing: str) -> None:
    if getattr(args, "json", False):
        _print_json(_release_json(release))
    else:
        print(f"{doing}... done, v{release.version}")


def _release_json(release: Release) -> dict[str, object]:
    return {
        "version": release.version,
        "description": release.description,
        "by": release.user,
        "when": _when(release.created_at),
        "build": release.build_id,
        "slug": release.slug,
        "slug_pruned": release.slug_pruned,
        "config_keys": sorted(release.config),
        "process_types": release.process_types,
    }


@command("ps")
def _ps(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    release, counts = platform.formation(args.app)
    dynos = [d for d in platform.dynos(args.app) if not args.type or d.type == args.type]
    if args.json:
        _print_json([_dyno_json(d) for d in dynos])
        return 0
    rows = [
        (
            d.type,
            d.name,
            d.state + (f" ({d.detail})" if d.detail and d.state == "crashed" else ""),
            _when(d.since),
            f"v{d.release_version}" if d.release_version else "",
            d.command,
        )
        for d in dynos
    ]
    _print_table(
        ("Type", "Name", "State", "Since", "Release", "Command"),
        rows,
        empty=f"No dynos on {args.app}.",
    )
    if platform.server() is None and any(counts.values()):
        _note(
            f"cedarbox serve is not running: {_formation_text(counts)} starts when it runs "
            f"(v{release.version if release else '?'})."
        )
    return 0


@command("ps:scale")
def _ps_scale(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    if not args.changes:
        _, counts = platform.formation(args.app)
        if args.json:
            _print_json(counts)
        else:
            print(_formation_text(counts) or f"{args.app} has no process types to scale.")
        return 0
    counts = platform.scale(args.app, args.changes)
    if args.json:
        _print_json(counts)
        return 0
    print(f"Scaling dynos... done, now running {_formation_text(counts, ' at ', ', ')}")
    if platform.server() is None:
        _note("cedarbox serve is not running: the formation applies when it runs.")
    return 0


@command("ps:restart")
@command("restart")
def _ps_restart(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    platform.request_dynos(args.app, "restart", args.target)
    print(f"Restarting {_dynos_text(args.target)} on {args.app}... done")
    if platform.server() is None:
        _note("cedarbox serve is not running: no dynos are running to restart.")
    return 0


@command("ps:stop")
def _ps_stop(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    platform.request_dynos(args.app, "stop", args.target)
    print(f"Stopping {_dynos_text(args.target)} on {args.app}... done")
    if platform.server() is None:
        _note("cedarbox serve is not running: no dynos are running to stop.")
    return 0


@command("logs")
def _logs(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.applog import LogFilter, follow, last_lines

    platform = Platform.open(settings)
    path = platform.data.log(platform.get_app(args.app).name)
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


@command("run")
def _run(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.runner.oneoff import command_line, run_oneoff

    words = args.words[1:] if args.words[:1] == ["--"] else args.words
    extra = parse_assignments([p for p in args.env.split(";") if p]) if args.env else {}
    platform = Platform.open(settings)
    return run_oneoff(
        platform, platform.get_app(args.app).name, command_line(words), extra_env=extra
    )


def _dynos_text(target: str) -> str:
    if not target:
        return "dynos"
    return f"dyno {target}" if "." in target else f"{target} dynos"


def _formation_text(counts: dict[str, int], between: str = "=", sep: str = " ") -> str:
    return sep.join(f"{kind}{between}{n}" for kind, n in counts.items())


def _dyno_json(dyno: DynoRecord) -> dict[str, object]:
    return {
        "name": dyno.name,
        "type": dyno.type,
        "state": dyno.state,
        "since": _when(dyno.since),
        "command": dyno.command,
        "release": f"v{dyno.release_version}" if dyno.release_version else None,
        "port": dyno.port,
        "pid": dyno.pid,
        "restarts": dyno.restarts,
        "detail": dyno.detail,
    }


def _note(text: str) -> None:
    """Remarks go to stderr, so that piped listings stay data."""
    print(f" !    {text}", file=sys.stderr)


@command("runtimes")
def _runtimes(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.buildpacks.python.runtimes import list_runtimes

    runtimes = list_runtimes(settings)
    if args.json:
        _print_json([{**asdict(r), "path": str(r.path)} for r in runtimes])
        return 0
    rows = [(r.version, r.implementation, r.origin, r.path) for r in runtimes]
    _print_table(("Version", "Implementation", "Found by", "Path"), rows, empty="No runtimes.")
    return 0


@command("runtimes:add")
def _runtimes_add(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.buildpacks.python.runtimes import add_runtime

    runtime = add_runtime(settings, args.version, args.path)
    print(f"Registered Python {runtime.version} at {runtime.path}")
    return 0


@command("addons")
def _addons(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    apps = [platform.get_app(args.app)] if args.app else platform.store.list_apps()
    addons = [a for app in apps for a in platform.store.list_addons(app.name)]
    if args.json:
        _print_json([_addon_json(platform, a) for a in addons])
        return 0
    rows = [
        (
            a.name,
            a.app,
            f"{a.service}:{a.plan}",
            _provider_text(a.provider),
            ", ".join(_vars(platform, a)),
        )
        for a in addons
    ]
    where = args.app or "your apps"
    _print_table(
        ("Add-on", "App", "Plan", "Provider", "Config vars"), rows, empty=f"No add-ons on {where}."
    )
    return 0


@command("addons:create")
def _addons_create(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.addons import provision, split_addon

    platform = Platform.open(settings)
    app = platform.get_app(args.app)
    service, plan = split_addon(args.service)
    done = provision(platform, app.name, service, plan)
    platform.log_release(done.release)
    if args.json:
        _print_json(_addon_json(platform, done.addon))
        return 0
    print(f"Creating {service}:{plan} on {app.name}... done, v{done.release.version}")
    print(f"Created {done.addon.name} as {', '.join(_vars(platform, done.addon))}")
    if done.notice:
        _note(done.notice.replace("\n", " "))
    return 0


@command("addons:destroy")
def _addons_destroy(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.addons import destroy, find_addon

    platform = Platform.open(settings)
    addon = find_addon(platform, args.app, args.name)
    if args.confirm != addon.app:
        raise UsageError(
            f"This destroys {addon.name} and all its data, and cannot be undone.",
            hint=f"To proceed, run `cedarbox addons:destroy {addon.name} -a {addon.app} "
            f"--confirm {addon.app}`.",
        )
    release = destroy(platform, addon.app, addon.name)
    print(f"Destroying {addon.name} on {addon.app}... done, v{release.version}")
    return 0


@command("addons:info")
def _addons_info(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.addons import find_addon

    platform = Platform.open(settings)
    info = _addon_json(platform, find_addon(platform, args.app, args.name))
    if args.json:
        _print_json(info)
        return 0
    print(f"=== {info['name']}")
    for key in ("app", "plan", "provider", "config_vars", "created_at"):
        value = info[key]
        text = ", ".join(value) if isinstance(value, list) else value
        print(f"{key.replace('_', ' ').title() + ':':<13} {text}")
    return 0


@command("pg:psql")
def _pg_psql(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from gitserver.addons import psql_url
    from gitserver.postgres import pg_tool

    url = psql_url(Platform.open(settings), args.app, args.name)
    psql = pg_tool("psql")
    if psql is None:
        raise UsageError("psql is not installed.", hint="Install Debian's postgresql-client.")
    argv = [psql, url] + (["-v", "ON_ERROR_STOP=1", "-c", args.sql] if args.sql else [])
    sys.stdout.flush()
    os.execv(psql, argv)
    return 1  # not reached


@command("pg:reset")
def _pg_reset(args: argparse.Namespace, settings: Settings) -> int:
    from gitserver.addons import reset

    if args.confirm != args.app:
        raise UsageError(
            f"This empties the database of {args.app}, and cannot be undone.",
            hint=f"To proceed, run `cedarbox pg:reset -a {args.app} --confirm {args.app}`.",
        )
    addon = reset(Platform.open(settings), args.app, args.name)
    print(f"Resetting {addon.name}... done")
    return 0


# Presentation -----------------------------------------------------------------------------


def _app_json(platform: Platform, app: App) -> dict[str, object]:
    release = platform.store.current_release(app.name)
    return {
        "name": app.name,
        "stack": app.stack,
        "created_at": _when(app.created_at),
        "git_url": platform.git_url(app.name),
        "web_url": platform.web_url(app.name),
        "release": f"v{release.version}" if release else None,
        "addons": [
            f"{a.service}:{a.plan} ({a.name})" for a in platform.store.list_addons(app.name)
        ],
        "cache_size_bytes": platform.cache_size(app.name),
        "repository": str(platform.data.repo(app.name)),
    }


def _addon_json(platform: Platform, addon: Addon) -> dict[str, object]:
    return {
        "name": addon.name,
        "app": addon.app,
        "service": addon.service,
        "plan": f"{addon.service}:{addon.plan}",
        "provider": _provider_text(addon.provider),
        "config_vars": _vars(platform, addon),
        "created_at": _when(addon.created_at),
    }


def _vars(platform: Platform, addon: Addon) -> list[str]:
    from gitserver.addons import addon_config_vars

    return sorted(addon_config_vars(platform, addon), key=lambda k: k != "DATABASE_URL")


def _provider_text(provider: str) -> str:
    return {
        "postgres-external": "PostgreSQL (external server)",
        "postgres-managed": "PostgreSQL (managed by cedarbox)",
        "sqlite": "SQLite (not PostgreSQL)",
    }.get(provider, provider)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2))


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str) -> None:
    """A rich table on a terminal; tab-separated plain text when piped."""
    if not rows:
        print(empty)
        return
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers)
        for row in rows:
            table.add_row(*(str(c) for c in row))
        Console().print(table)
    else:
        for row in rows:
            print("\t".join(str(c) for c in row))
