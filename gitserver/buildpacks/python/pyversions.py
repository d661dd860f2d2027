"""Python version strings as the host's interpreters report them: sort keys and majors."""

from __future__ import annotations

import re

# "3.12", "3.12.1" or "3.14.0rc1"
HOST_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?([a-z]+\d*)?$")


def version_key(version: str) -> tuple[int, int, int, int]:
    """Sort key for "3.12.1" / "3.14.0rc1" (a pre-release sorts before its final release)."""
    m = HOST_VERSION.match(version)
    if not m:
        return (-1, -1, -1, -1)
    major, minor, patch, pre = m.groups()
    return (int(major), int(minor), int(patch or 0), 0 if pre else 1)


def major_of(version: str) -> str:
    """ "3.12.1" -> "3.12"."""
    return ".".join(version.split(".")[:2])
