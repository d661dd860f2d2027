"""Save cache: commit what the buildpack chose to keep as the app's new last good cache,
unless it is larger than the server allows per app (Settings.cache_max_bytes); then hand the
build directory to the request's TreeTaker, if it wants it and it is the slug's exact content.

The hand-over needs the cached subtrees the build directory holds (`.heroku`) to stay in it.
It happens only when they are unchanged from the last good cache (the usual code-only push):
the cache then keeps its own copy of them, and the build's copy goes on to the runner. When
they are unchanged and not handed over (no dynos to start, a release phase), the build's copy
becomes the next build's spare copy, so no copy is made in the background.
"""

from __future__ import annotations

from pathlib import Path

from gitserver.pipeline.buildpack import CacheToSave
from gitserver.pipeline.cache import BuildCache, tree_bytes
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.phases.export import MEMBERS, SlugExported

MB = 1024 * 1024


def save(
    ctx: BuildContext, cache: BuildCache, keep: CacheToSave, exported: SlugExported | None
) -> bool:
    """Commit `keep`, with the slug members the export wrote (none when it wrote no slug);
    False (and one line saying why) when it is over the limit: the last good cache stays.
    Then hand the build directory over (see the module's doc)."""
    entries = dict(keep.entries)
    if exported is not None and exported.members is not None:
        entries[MEMBERS] = exported.members
    handing = _tree_wanted(ctx, exported)
    saved = False
    if cache.root is not None and not _over_limit(ctx, entries):
        in_tree = [name for name, path in keep.entries.items() if path.parent == ctx.build_dir]
        unchanged = bool(in_tree) and all(cache.unchanged(n, entries[n]) for n in in_tree)
        handing = handing and unchanged
        # The next build takes its own copy of the trees the buildpack keeps: the build's own,
        # unchanged and not handed over, or one prepared in the background; the slug members
        # and single files are only read.
        cache.commit(
            entries,
            keep.metadata,
            spare=[name for name, path in entries.items() if name != MEMBERS and path.is_dir()],
            keep_current=in_tree if unchanged else (),
            recycle=in_tree if unchanged and not handing else (),
        )
        saved = True
    taker = ctx.request.tree_taker
    if handing and taker is not None:
        ctx.report.tree_handed_over = taker.take(ctx.build_dir)
    return saved


def _tree_wanted(ctx: BuildContext, exported: SlugExported | None) -> bool:
    taker = ctx.request.tree_taker
    return (
        taker is not None
        and exported is not None
        and exported.whole_tree
        and taker.wanted(ctx.report.process_types)
    )


def _over_limit(ctx: BuildContext, entries: dict[str, Path]) -> bool:
    """Whether the cache is over the server's limit (said in one line, kept in the report)."""
    limit = ctx.request.settings.cache_max_bytes
    size = sum(tree_bytes(path) for path in entries.values())
    if size <= limit:
        return False
    message = (
        f"Cache not saved: it is {_size(size)}, over this server's limit of {_size(limit)} "
        "per app (CEDARBOX_CACHE_MAX_BYTES); the last saved cache stays."
    )
    ctx.out.bang(message)
    ctx.report.warn(message)
    return True


def _size(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{size} bytes"
