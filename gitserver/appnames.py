"""App names: Heroku's naming rule and Heroku-style generated names."""

from __future__ import annotations

import re
import secrets

from gitserver.errors import InvalidAppName

MAX_LENGTH = 30
_VALID = re.compile(r"^[a-z][a-z0-9-]*$")

_ADJECTIVES = (
    "afternoon",
    "ancient",
    "blooming",
    "calm",
    "cedar",
    "crimson",
    "damp",
    "dry",
    "evening",
    "fathomless",
    "floating",
    "frozen",
    "gentle",
    "glacial",
    "hidden",
    "limitless",
    "misty",
    "morning",
    "nameless",
    "polar",
    "quiet",
    "rocky",
    "serene",
    "shielded",
    "still",
    "sunny",
    "thawing",
    "warm",
    "whispering",
    "young",
)
_NOUNS = (
    "anchorage",
    "basin",
    "bayou",
    "beach",
    "brook",
    "canyon",
    "cliffs",
    "cove",
    "dawn",
    "depths",
    "falls",
    "fjord",
    "forest",
    "garden",
    "harbor",
    "inlet",
    "island",
    "lake",
    "meadow",
    "mesa",
    "oasis",
    "ocean",
    "peak",
    "plains",
    "reef",
    "ridge",
    "river",
    "savannah",
    "shore",
    "springs",
    "tundra",
    "valley",
)


def validate_app_name(name: str) -> str:
    """Return `name` if it follows Heroku's rule, else raise InvalidAppName saying why."""
    if not name:
        raise InvalidAppName("App name is empty.", hint="Choose a name such as 'my-app'.")
    if len(name) > MAX_LENGTH:
        raise InvalidAppName(
            f"App name {name!r} is {len(name)} characters long (max is {MAX_LENGTH}).",
            hint="Choose a shorter name.",
        )
    if not _VALID.match(name):
        raise InvalidAppName(
            f"App name {name!r} is not valid.",
            hint="Names use lowercase letters, digits and dashes, and start with a letter.",
        )
    return name


def generate_app_name() -> str:
    """A fresh name like Heroku's: `adjective-noun-12345`."""
    return "-".join(
        (secrets.choice(_ADJECTIVES), secrets.choice(_NOUNS), f"{secrets.randbelow(90000) + 10000}")
    )
