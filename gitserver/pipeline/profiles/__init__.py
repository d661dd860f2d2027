"""Stack profiles as data: `heroku-24.json` (Heroku today) and `cedar-14.json` (the 2015 spec).

One JSON file per stack. Its top-level `name`, `display_name` and `legacy` are the stack's and
are read here; every other top-level section belongs to a buildpack, which reads and validates
it from the same file (`read_profile`), so the pipeline never imports a buildpack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from gitserver.errors import CedarboxError, InvalidStack

# The top-level keys this module owns; the rest of a profile is the buildpacks'.
STACK_KEYS = frozenset({"name", "display_name", "legacy"})


class ProfileError(CedarboxError):
    """A stack profile file is malformed: the message names the file and the key."""

    code = "PROFILE_INVALID"

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(
            f"{source}: {key}: {problem}",
            hint="Fix the stack profile: it ships with cedarbox and is read at every build.",
        )
        self.source = source
        self.key = key


@dataclass(frozen=True)
class ProfileData:
    """A profile file's name (for messages) and its parsed top-level JSON object."""

    source: str  # e.g. "heroku-24.json"
    data: Mapping[str, Any]


@dataclass(frozen=True)
class StackProfile:
    """One stack: its name, how the platform names it, and which output style it uses.

    `legacy` selects the 2015 output style (single-line platform messages, plain ` !     `
    warnings on stdout).
    """

    name: str
    display_name: str
    legacy: bool

    @property
    def start_lines(self) -> tuple[str, ...]:
        """What the platform prints as soon as it knows it will build (heroku-reference §2);
        printed by the caller, before it exports the source, so the pusher sees it at once."""
        return () if self.legacy else ("Building source:",)


@cache
def read_profile(stack: str) -> ProfileData:
    """The parsed JSON of `stack`'s profile file, or InvalidStack if the stack has none."""
    source = f"{stack}.json"
    try:
        text = resources.files(__package__).joinpath(source).read_text()
    except FileNotFoundError:
        raise InvalidStack(
            f"Stack {stack!r} has no build profile.", hint="Use heroku-24 or cedar-14."
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProfileError(source, "(file)", f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ProfileError(source, "(file)", "must hold a JSON object")
    return ProfileData(source, data)


@cache
def load_profile(stack: str) -> StackProfile:
    """`stack`'s profile, validated: ProfileError names the file and the bad or missing key."""
    return parse_profile(read_profile(stack))


def parse_profile(profile: ProfileData) -> StackProfile:
    """The stack part of a profile file."""
    data = profile.data
    missing = sorted(STACK_KEYS - data.keys())
    if missing:
        raise ProfileError(profile.source, missing[0], "missing")
    for key in ("name", "display_name"):
        if not isinstance(data[key], str):
            raise ProfileError(profile.source, key, "must be a string")
    if not isinstance(data["legacy"], bool):
        raise ProfileError(profile.source, "legacy", "must be true or false")
    return StackProfile(name=data["name"], display_name=data["display_name"], legacy=data["legacy"])
