"""Save cache: commit what the buildpack chose to keep as the app's new last good cache."""

from __future__ import annotations

from gitserver.pipeline.cache import BuildCache
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.phases.export import MEMBERS


def save(ctx: BuildContext, cache: BuildCache) -> None:
    entries, metadata = ctx.cache_to_save
    # The next build takes its own copy of what the buildpack keeps (prepared in the
    # background); the slug members are only read.
    cache.commit(entries, metadata, spare=[name for name in entries if name != MEMBERS])
