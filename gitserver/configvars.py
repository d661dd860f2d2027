"""Config vars from the command line: `KEY=value` parsing and Heroku's validity rules (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from gitserver.errors import UsageError

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_TOTAL_BYTES = 32 * 1024  # Heroku: all keys and values of an app together
RESERVED = ("PORT", "DYNO")  # set by the platform for every process


class InvalidConfigVar(UsageError):
    code = "INVALID_CONFIG_VAR"


def validate_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidConfigVar(
            f"{key!r} is not a valid config var name.",
            hint="Names use letters, digits and underscores, and do not start with a digit.",
        )
    if key in RESERVED:
        raise InvalidConfigVar(
            f"{key} is set by the platform for every process and cannot be a config var.",
            hint="Choose another name.",
        )
    return key


def parse_assignments(args: Sequence[str]) -> dict[str, str]:
    """`["A=1", "B=x=y"]` → `{"A": "1", "B": "x=y"}`; values must be valid text."""
    if not args:
        raise InvalidConfigVar("No config vars given.", hint="Usage: config:set KEY=value …")
    pairs: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise InvalidConfigVar(
                f"{arg!r} is not of the form KEY=value.",
                hint=f"Did you mean `config:set {arg}=…`?",
            )
        validate_key(key)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidConfigVar(
                f"The value of {key} is not valid UTF-8.",
                hint="Config vars are text; encode binary data, e.g. with base64.",
            ) from None
        if "\0" in value:
            raise InvalidConfigVar(
                f"The value of {key} contains a NUL byte, which no environment can hold.",
                hint="Remove it, or encode the value (e.g. base64).",
            )
        pairs[key] = value
    return pairs


def check_total_size(config: Mapping[str, str]) -> None:
    total = sum(len(k.encode()) + len(v.encode()) for k, v in config.items())
    if total > MAX_TOTAL_BYTES:
        raise InvalidConfigVar(
            f"Config vars would take {total} bytes; the limit is {MAX_TOTAL_BYTES} bytes per app.",
            hint="Keep large data in a file or a database and store its location instead.",
        )
