"""The buildpack interface (detect / compile / release), as in Heroku's bin/ scripts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gitserver.pipeline.context import BuildContext


@dataclass(frozen=True)
class ReleaseMetadata:
    """What bin/release reports: add-ons to provision and default process types."""

    addons: list[str] = field(default_factory=list)
    default_process_types: dict[str, str] = field(default_factory=dict)


class Buildpack(Protocol):
    name: str  # as in "-----> Python app detected"

    def detect(self, ctx: BuildContext) -> bool: ...

    def compile(self, ctx: BuildContext) -> None: ...

    def release(self, ctx: BuildContext) -> ReleaseMetadata: ...
