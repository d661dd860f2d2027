"""Detect: find the buildpack that accepts this app, or fail the way Heroku does."""

from __future__ import annotations

from collections.abc import Sequence

from gitserver.pipeline.buildpack import Buildpack
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

NO_DETECT = "No default language could be detected for this app."


def detect(ctx: BuildContext, buildpacks: Sequence[Buildpack]) -> Buildpack:
    """Return the first buildpack whose detect passes; print `-----> <Name> app detected`."""
    for buildpack in buildpacks:
        if buildpack.detect(ctx):
            ctx.out.step(f"{buildpack.name} app detected")
            ctx.report.buildpack = buildpack.name
            return buildpack
    raise BuildError("NO_BUILDPACK", NO_DETECT)


def print_no_detect(ctx: BuildContext) -> None:
    """The platform's own lines when no buildpack accepts the app (not a buildpack error)."""
    ctx.out.bang(NO_DETECT)
    ctx.out.line(
        "\t\t\tHINT: This occurs when cedarbox cannot detect the buildpack to use for this "
        "application automatically."
    )
    ctx.out.line(
        "\t\t\tA Python app needs requirements.txt (or another Python project file) at the root "
        "of the repository."
    )
