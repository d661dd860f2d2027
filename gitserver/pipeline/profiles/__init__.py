"""Stack profiles as data: `heroku-24.json` (Heroku today) and `cedar-14.json` (the 2015 spec)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from gitserver.errors import InvalidStack


@dataclass(frozen=True)
class StackProfile:
    """One stack's versions, pins, catalogs and message texts.

    `legacy` selects the 2015 output style (single-line platform messages, plain ` !     `
    warnings on stdout); everything else that differs between stacks is in `python`, `pip`
    and `messages`, read by the modules that own those concerns.
    """

    name: str
    display_name: str
    legacy: bool
    detect_files: tuple[str, ...]
    detect_dirs: tuple[str, ...]
    python: dict[str, Any]
    pip: dict[str, Any]
    django: dict[str, Any]
    messages: dict[str, str]

    @property
    def start_lines(self) -> tuple[str, ...]:
        """What the platform prints as soon as it knows it will build (heroku-reference §2);
        printed by the caller, before it exports the source, so the pusher sees it at once."""
        return () if self.legacy else ("Building source:",)


@cache
def load_profile(stack: str) -> StackProfile:
    try:
        text = resources.files(__package__).joinpath(f"{stack}.json").read_text()
    except FileNotFoundError:
        raise InvalidStack(
            f"Stack {stack!r} has no build profile.", hint="Use heroku-24 or cedar-14."
        ) from None
    data = json.loads(text)
    return StackProfile(
        name=data["name"],
        display_name=data["display_name"],
        legacy=data["legacy"],
        detect_files=tuple(data["detect_files"]),
        detect_dirs=tuple(data.get("detect_dirs", ())),
        python=data["python"],
        pip=data["pip"],
        django=data.get("django", {}),
        messages=data.get("messages", {}),
    )
