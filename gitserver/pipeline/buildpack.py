"""The buildpack interface (detect / compile / release), as in Heroku's bin/ scripts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gitserver.pipeline.context import BuildContext


@dataclass(frozen=True)
class CacheToSave:
    """What compile keeps for the next build: entries (name -> path, moved) and the metadata
    the next build compares against. The save-cache phase commits it once the slug exists."""

    entries: dict[str, Path] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReleaseMetadata:
    """Add-ons to provision and process types: bin/release's defaults, then with the Procfile's
    types laid over them by the pipeline's release phase (the one definition of both)."""

    addons: list[str] = field(default_factory=list)
    process_types: dict[str, str] = field(default_factory=dict)


class Buildpack(Protocol):
    name: str  # as in "-----> Python app detected"

    def detect(self, ctx: BuildContext) -> bool: ...

    def compile(self, ctx: BuildContext) -> CacheToSave: ...

    def release(self, ctx: BuildContext) -> ReleaseMetadata: ...
