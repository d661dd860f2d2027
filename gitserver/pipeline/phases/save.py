"""Save cache: commit what the buildpack chose to keep as the app's new last good cache,
unless it is larger than the server allows per app (Settings.cache_max_bytes)."""

from __future__ import annotations

from gitserver.pipeline.buildpack import CacheToSave
from gitserver.pipeline.cache import BuildCache, tree_bytes
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.phases.export import MEMBERS, SlugExported

MB = 1024 * 1024


def save(
    ctx: BuildContext, cache: BuildCache, keep: CacheToSave, exported: SlugExported | None
) -> bool:
    """Commit `keep`, with the slug members the export wrote (none when it wrote no slug);
    False (and one line saying why) when it is over the limit: the last good cache stays."""
    entries = dict(keep.entries)
    if exported is not None and exported.members is not None:
        entries[MEMBERS] = exported.members
    if cache.root is None:
        return False
    limit = ctx.request.settings.cache_max_bytes
    size = sum(tree_bytes(path) for path in entries.values())
    if size > limit:
        message = (
            f"Cache not saved: it is {_size(size)}, over this server's limit of {_size(limit)} "
            "per app (CEDARBOX_CACHE_MAX_BYTES); the last saved cache stays."
        )
        ctx.out.bang(message)
        ctx.report.warn(message)
        return False
    # The next build takes its own copy of what the buildpack keeps (prepared in the
    # background); the slug members are only read.
    cache.commit(entries, keep.metadata, spare=[name for name in entries if name != MEMBERS])
    return True


def _size(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{size} bytes"
