"""Restore: give the build its own copy of the app's last good cache."""

from __future__ import annotations

from gitserver.pipeline.cache import BuildCache
from gitserver.pipeline.context import BuildContext


def restore(ctx: BuildContext) -> BuildCache:
    """Open the app's last good cache; what to reuse is the buildpack's decision."""
    return BuildCache.checkout(ctx.request.cache_root)
