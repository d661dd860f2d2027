"""`keys`, `keys:create`, `keys:destroy`: per-app deploy keys (git and API access to one app).

Like every other command, they act on the data directory directly: a running server reads
the keys from the store on each request, so a new key works, and a destroyed one stops
working, at once.
"""

from __future__ import annotations

import argparse

from gitserver.cli.output import print_json, print_table
from gitserver.cli.registry import Topic, app_option, arg, json_flag
from gitserver.platform import Platform
from gitserver.settings import Settings
from gitserver.views import deploy_key_view

topic = Topic()


@topic.command(
    "keys",
    help="list deploy keys (never the keys themselves)",
    args=(app_option(required=False), json_flag()),
)
def _keys(args: argparse.Namespace, settings: Settings) -> int:
    keys = [deploy_key_view(k) for k in Platform.open(settings).deploy_keys(args.app)]
    if args.json:
        print_json(keys)
        return 0
    rows = [(k["id"], k["app"], k["created_at"], k["last_used_at"] or "never") for k in keys]
    print_table(("Id", "App", "Created", "Last used"), rows, empty="There are no deploy keys.")
    return 0


@topic.command(
    "keys:create", help="make a deploy key for one app (shown once)", args=(app_option(),)
)
def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    platform = Platform.open(settings)
    key, secret = platform.create_deploy_key(args.app)
    print(
        f"Created deploy key {key.id} for {key.app}. It allows git and the API for {key.app} only."
    )
    print("It is shown only now: keep it. Use it as git's password (any user name), as")
    print("`Authorization: Bearer KEY`, or as HEROKU_API_KEY for the heroku CLI;")
    print(f"`cedarbox keys:destroy {key.id}` revokes it.")
    print(secret)
    return 0


@topic.command("keys:destroy", help="revoke a deploy key", args=(arg("id", help="the key's id"),))
def _keys_destroy(args: argparse.Namespace, settings: Settings) -> int:
    key = Platform.open(settings).destroy_deploy_key(args.id)
    print(f"Destroyed deploy key {key.id} of {key.app}.")
    return 0
