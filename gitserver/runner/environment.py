"""What a dyno runs with: its environment and its command, the way Heroku starts dynos (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

# Like builds, dynos see only these of the host's variables (nothing of the server's settings).
PASSED_THROUGH = ("PATH", "LANG", "TZ")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# Shell syntax that `exec` in front of the command would break (`a && b`, `a; b`, pipes…),
# and first words that are no program: assignments, keywords, builtins with no binary.
_COMPOUND = re.compile(r"[;&|()<>`\n]")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_NOT_PROGRAMS = frozenset(
    {
        "exit",
        "cd",
        "export",
        "source",
        ".",
        "eval",
        "set",
        "unset",
        "alias",
        "return",
        "shift",
        "trap",
        "ulimit",
        "umask",
        "wait",
        "read",
        "let",
        "declare",
        "local",
        "typeset",
        "readonly",
        "if",
        "for",
        "while",
        "until",
        "case",
        "select",
        "function",
        "{",
        "[[",
        "!",
        "time",
        "exec",
        "builtin",
        "command",
    }
)


def dyno_environment(
    host: Mapping[str, str],
    config: Mapping[str, str],
    *,
    home: Path,
    dyno: str,
    port: int | None,
) -> dict[str, str]:
    """Host basics, then the release's config vars, then what the platform sets itself."""
    env = {name: host[name] for name in PASSED_THROUGH if host.get(name)}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(config)
    env["HOME"] = str(home)
    env["DYNO"] = dyno
    if port is not None:
        env["PORT"] = str(port)
    return env


def dyno_argv(command: str) -> list[str]:
    """`bash -c` that sources `.profile.d/*.sh` (from $HOME, the cwd), then runs the command.

    A simple command is exec'd so that it is the dyno's main process and gets its signals.
    """
    first = command.split(maxsplit=1)[0] if command.strip() else ""
    simple = not (_COMPOUND.search(command) or _ASSIGNMENT.match(first) or first in _NOT_PROGRAMS)
    run = f"exec {command}" if simple else command
    script = f'for f in .profile.d/*.sh; do [ -r "$f" ] && . "$f"; done; {run}'
    return ["bash", "-c", script]
