"""Normalised `remote:` transcripts, compared whole, as the buildpack's own tests compare them.

What varies from run to run or host to host is replaced by a placeholder: ANSI colours, git's
padding, commit shas, ports, temporary paths, sizes, timings and the host's Python patch.
"""

from __future__ import annotations

import re

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\x1b\[[0-9;]*m"), ""),
    (re.compile(r"/\S*/wheelhouse\d*"), "<WHEELHOUSE>"),
    (re.compile(r"/\S*\.wheels/apps"), "<APP_WHEELS>"),
    (re.compile(r"/tmp/\S*"), "<TMP>"),
    (re.compile(r"\b[0-9a-f]{40}\b"), "<SHA>"),
    (re.compile(r"(Deploy )[0-9a-f]{7}\b"), r"\1<SHA>"),
    (re.compile(r"(localhost|127\.0\.0\.1):\d+"), r"\1:<PORT>"),
    (re.compile(r"Done: \d+(\.\d+)?M"), "Done: <SIZE>"),
    (re.compile(r"Compressing\.\.\. done, \d+(\.\d+)?MB"), "Compressing... done, <SIZE>"),
    (re.compile(r"this host provides (\d+\.\d+)\.\d+"), r"this host provides \1.<PATCH>"),
    (re.compile(r"\b\d+(\.\d+)? ?(s|ms|seconds)\b"), "<TIME>"),
    (re.compile(r"\(\d+(\.\d+)? ?[kKM]?B\)"), "(<BYTES>)"),
)


# heroku-24: the lines every build of a Python app opens with.
HEAD = [
    "Building source:",
    "",
    "-----> Building on the Heroku-24 stack",
    "-----> Determining which buildpack to use for this app",
    "-----> Python app detected",
]


def normalise(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        for pattern, replacement in _RULES:
            line = pattern.sub(replacement, line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    return out


def launched(app: str, version: int, types: str = "web") -> list[str]:
    """heroku-24: the platform's closing lines; apps with a web process are verified once
    they answer."""
    verify = ["", "Verifying deploy... done."] if "web" in types.split(", ") else []
    return [
        "-----> Discovering process types",
        f"       Procfile declares types -> {types}",
        "",
        "-----> Compressing...",
        "       Done: <SIZE>",
        "-----> Launching...",
        f"       Released v{version}",
        f"       https://{app}.localhost:<PORT>/ deployed to cedarbox",
        *verify,
    ]
