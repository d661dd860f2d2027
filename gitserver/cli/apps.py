"""`apps`, `apps:create`, `apps:info`, `apps:destroy`."""

from __future__ import annotations

import argparse

from gitserver.cli.output import note, print_fields, print_json, print_table
from gitserver.cli.registry import Topic, app_option, arg, json_flag
from gitserver.errors import UsageError
from gitserver.platform import Platform
from gitserver.settings import STACKS, Settings
from gitserver.views import iso_time

topic = Topic()


@topic.command("apps", help="list apps", args=(json_flag(),))
def _apps(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    apps = platform.list_apps()
    if args.json:
        print_json([platform.app_view(a) for a in apps])
        return 0
    rows = [(a.name, a.stack, iso_time(a.created_at), platform.git_url(a.name)) for a in apps]
    print_table(("Name", "Stack", "Created", "Git URL"), rows, empty="You have no apps.")
    return 0


@topic.command(
    "apps:create",
    help="create an app",
    args=(arg("name", nargs="?"), arg("--stack", choices=STACKS, default=None), json_flag()),
)
def _apps_create(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    app = platform.create_app(args.name, args.stack)
    if args.json:
        print_json(platform.app_view(app))
    else:
        print(f"Creating {app.name}... done, stack is {app.stack}")
        print(f"{platform.web_url(app.name)} | {platform.git_url(app.name)}")
    return 0


@topic.command("apps:info", help="show an app", args=(app_option(), json_flag()))
def _apps_info(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    info = platform.app_view(platform.get_app(args.app))
    if args.json:
        print_json(info)
        return 0
    print(f"=== {info['name']}")
    release = info["release"]
    print_fields(
        {**info, "release": f"v{release}" if release is not None else None},
        width=max(len(k) for k in info) + 2,
    )
    return 0


@topic.command(
    "apps:destroy",
    help="destroy an app and all its data",
    args=(
        arg("name", nargs="?"),
        app_option(required=False),
        arg("--confirm", default=None, help="the app's name, to confirm"),
    ),
)
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
        note(f"Could not drop the data of add-on {problem}")
    platform.destroy_app(name)
    print(f"Destroying {name}... done")
    return 0
