"""Release metadata: process types from the Procfile and the buildpack's add-ons."""

from __future__ import annotations

from gitserver.pipeline.buildpack import Buildpack, ReleaseMetadata
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError
from gitserver.pipeline.procfile import parse_procfile


def release(ctx: BuildContext, buildpack: Buildpack) -> ReleaseMetadata:
    """The buildpack's release metadata with the Procfile's process types laid over its own."""
    metadata = buildpack.release(ctx)
    ctx.out.step("Discovering process types")
    types = dict(metadata.process_types)
    types.update(read_procfile(ctx))
    listed = ", ".join(sorted(types)) if types else "(none)"
    ctx.out.indent(f"Procfile declares types -> {listed}")
    ctx.out.line()
    return ReleaseMetadata(addons=list(metadata.addons), process_types=types)


def read_procfile(ctx: BuildContext) -> dict[str, str]:
    path = ctx.build_dir / "Procfile"
    if not path.exists() and not path.is_symlink():
        return {}
    if path.is_symlink() or not path.is_file():
        raise BuildError(
            "INVALID_PROCFILE",
            "Invalid Procfile.",
            [
                "The Procfile must be a regular file in the root of the repository, not a "
                "directory or a symlink."
            ],
        )
    return parse_procfile(path.read_bytes().decode("utf-8", "replace"))
