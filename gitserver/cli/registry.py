"""How a topic module declares its commands: name, help, arguments and handler, side by side.

Each topic module makes one `Topic` and decorates its handlers with `topic.command(...)`;
`build_parser` turns the topics into one argparse parser, commands in declaration order.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitserver import __version__
from gitserver.errors import UsageError
from gitserver.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


@dataclass(frozen=True)
class Argument:
    """One `add_argument` call: its flags (or positional name) and keyword options."""

    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Argument:
    return Argument(flags, options)


def app_option(*, required: bool = True) -> Argument:
    """`-a/--app NAME`, as every heroku command that acts on one app takes it."""
    return arg("-a", "--app", required=required, help="app name")


def json_flag(help: str | None = None) -> Argument:
    return arg("--json", action="store_true", help=help)


@dataclass(frozen=True)
class Command:
    names: tuple[str, ...]  # the first is the command, the others are aliases of it
    help: str
    arguments: tuple[Argument, ...]
    handler: Handler


@dataclass
class Topic:
    """The commands of one topic module, in the order `--help` lists them."""

    commands: list[Command] = field(default_factory=list)

    def command(
        self, *names: str, help: str, args: Sequence[Argument] = ()
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.commands.append(Command(names, help, tuple(args), handler))
            return handler

        return register


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so main() owns the exit codes."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, hint=f"See `{self.prog} --help`.")


def build_parser(topics: Sequence[Topic], description: str | None) -> argparse.ArgumentParser:
    """The `cedarbox` parser; a command's handler is `args.handler` once parsed."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--data-dir", default=argparse.SUPPRESS, help="data directory (env CEDARBOX_DATA_DIR)"
    )
    parser = _Parser(prog="cedarbox", description=description, parents=[common])
    parser.add_argument("--version", action="version", version=f"cedarbox {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for topic in topics:
        for command in topic.commands:
            for name in command.names:
                p = sub.add_parser(name, parents=[common], help=command.help)
                for argument in command.arguments:
                    p.add_argument(*argument.flags, **argument.options)
                p.set_defaults(handler=command.handler)
    return parser
