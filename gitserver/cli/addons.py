"""`addons`, `addons:create`, `addons:destroy`, `addons:info`, `pg:psql`, `pg:reset`."""

from __future__ import annotations

import argparse
import sys

from gitserver import addons
from gitserver.cli.output import note, print_fields, print_json, print_table
from gitserver.cli.registry import Topic, app_option, arg, json_flag
from gitserver.errors import UsageError
from gitserver.platform import Platform
from gitserver.records import Addon
from gitserver.settings import Settings
from gitserver.views import JSON, addon_label, addon_view, provider_text

topic = Topic()

_DEFAULT_ADDON = arg("name", nargs="?", help="add-on (default: the one behind DATABASE_URL)")


def _vars(platform: Platform, addon: Addon) -> list[str]:
    """The add-on's config vars, DATABASE_URL first."""
    names = addons.addon_config_vars(platform, addon)
    return sorted(names, key=lambda k: k != "DATABASE_URL")


def _view(platform: Platform, addon: Addon) -> JSON:
    return addon_view(addon, config_vars=_vars(platform, addon))


@topic.command(
    "addons",
    help="list add-ons (of one app or all)",
    args=(app_option(required=False), json_flag()),
)
def _addons(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    found = platform.addons(args.app)
    if args.json:
        print_json([_view(platform, a) for a in found])
        return 0
    rows = [
        (a.name, a.app, addon_label(a), provider_text(a.provider), ", ".join(_vars(platform, a)))
        for a in found
    ]
    where = args.app or "your apps"
    print_table(
        ("Add-on", "App", "Plan", "Provider", "Config vars"), rows, empty=f"No add-ons on {where}."
    )
    return 0


@topic.command(
    "addons:create",
    help="provision an add-on (new release)",
    args=(
        app_option(),
        arg("service", metavar="SERVICE[:PLAN]", help="heroku-postgresql[:plan]"),
        json_flag(),
    ),
)
def _addons_create(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    app = platform.get_app(args.app)
    service, plan = addons.split_addon(args.service)
    done = addons.provision(platform, app.name, service, plan)
    platform.log_release(done.release)
    if args.json:
        print_json(_view(platform, done.addon))
        return 0
    print(f"Creating {service}:{plan} on {app.name}... done, v{done.release.version}")
    print(f"Created {done.addon.name} as {', '.join(_vars(platform, done.addon))}")
    if done.notice:
        note(done.notice.replace("\n", " "))
    return 0


@topic.command(
    "addons:destroy",
    help="destroy an add-on and its data",
    args=(
        app_option(),
        arg("name", help="add-on name (or its config var, e.g. HEROKU_POSTGRESQL_RED)"),
        arg("--confirm", default=None, metavar="APP"),
    ),
)
def _addons_destroy(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    addon = addons.find_addon(platform, args.app, args.name)
    if args.confirm != addon.app:
        raise UsageError(
            f"This destroys {addon.name} and all its data, and cannot be undone.",
            hint=f"To proceed, run `cedarbox addons:destroy {addon.name} -a {addon.app} "
            f"--confirm {addon.app}`.",
        )
    release = addons.destroy(platform, addon.app, addon.name)
    print(f"Destroying {addon.name} on {addon.app}... done, v{release.version}")
    return 0


@topic.command("addons:info", help="show an add-on", args=(app_option(), arg("name"), json_flag()))
def _addons_info(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    addon = addons.find_addon(platform, args.app, args.name)
    names = _vars(platform, addon)
    info = addon_view(addon, config_vars=names)
    if args.json:
        print_json(info)
        return 0
    print(f"=== {info['name']}")
    keys = ("app", "plan", "provider", "config_vars", "created_at")
    print_fields({**{key: info[key] for key in keys}, "config_vars": ", ".join(names)}, width=13)
    return 0


@topic.command(
    "pg:psql",
    help="open psql on the app's database",
    args=(
        app_option(),
        _DEFAULT_ADDON,
        arg("-c", "--command", dest="sql", default=None, help="run this SQL and exit"),
    ),
)
def _pg_psql(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from gitserver.postgres import pg_tool

    url = addons.psql_url(Platform.open(settings), args.app, args.name)
    psql = pg_tool("psql")
    if psql is None:
        raise UsageError("psql is not installed.", hint="Install Debian's postgresql-client.")
    argv = [psql, url] + (["-v", "ON_ERROR_STOP=1", "-c", args.sql] if args.sql else [])
    sys.stdout.flush()
    os.execv(psql, argv)
    return 1  # not reached


@topic.command(
    "pg:reset",
    help="empty the app's database",
    args=(app_option(), _DEFAULT_ADDON, arg("--confirm", default=None, metavar="APP")),
)
def _pg_reset(args: argparse.Namespace, settings: Settings) -> int:
    if args.confirm != args.app:
        raise UsageError(
            f"This empties the database of {args.app}, and cannot be undone.",
            hint=f"To proceed, run `cedarbox pg:reset -a {args.app} --confirm {args.app}`.",
        )
    addon = addons.reset(Platform.open(settings), args.app, args.name)
    print(f"Resetting {addon.name}... done")
    return 0
