"""Save cache: commit what the buildpack chose to keep as the app's new last good cache."""

from __future__ import annotations

from gitserver.pipeline.buildpack import CacheToSave
from gitserver.pipeline.cache import BuildCache
from gitserver.pipeline.phases.export import MEMBERS, SlugExported


def save(cache: BuildCache, keep: CacheToSave, exported: SlugExported | None) -> None:
    """Commit `keep`, with the slug members the export wrote (none when it wrote no slug)."""
    entries = dict(keep.entries)
    if exported is not None and exported.members is not None:
        entries[MEMBERS] = exported.members
    # The next build takes its own copy of what the buildpack keeps (prepared in the
    # background); the slug members are only read.
    cache.commit(entries, keep.metadata, spare=[name for name in entries if name != MEMBERS])
