"""Save cache: commit what the buildpack chose to keep as the app's new last good cache."""

from __future__ import annotations

from gitserver.build.cache import BuildCache
from gitserver.build.context import BuildContext


def save(ctx: BuildContext, cache: BuildCache) -> None:
    entries, metadata = ctx.cache_to_save
    cache.commit(entries, metadata)
