"""Compile: run the buildpack's compile step against the build directory."""

from __future__ import annotations

from gitserver.pipeline.buildpack import Buildpack
from gitserver.pipeline.context import BuildContext


def compile(ctx: BuildContext, buildpack: Buildpack) -> None:
    buildpack.compile(ctx)
