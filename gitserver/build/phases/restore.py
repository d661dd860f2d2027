"""Restore: give the build its own copy of the app's last good cache."""

from __future__ import annotations

from gitserver.build.cache import BuildCache
from gitserver.build.context import BuildContext


def restore(ctx: BuildContext) -> BuildCache:
    """Check the cache out into scratch space; what to keep is the buildpack's decision."""
    ctx.cache = BuildCache.checkout(ctx.request.cache_root, ctx.scratch)
    return ctx.cache
