"""Compile: run the buildpack's compile step against the build directory."""

from __future__ import annotations

from gitserver.pipeline.buildpack import Buildpack, CacheToSave
from gitserver.pipeline.context import BuildContext


def compile(ctx: BuildContext, buildpack: Buildpack) -> CacheToSave:
    """Compile in place; return what the buildpack keeps in the cache for the next build."""
    return buildpack.compile(ctx)
