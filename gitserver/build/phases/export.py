"""Export: compress the build directory into the slug and enforce the size limit."""

from __future__ import annotations

from pathlib import Path

from gitserver.build.context import BuildContext
from gitserver.build.errors import BuildError
from gitserver.build.slug import format_size, write_slug


def export(ctx: BuildContext, slug_path: Path) -> int:
    out = ctx.out
    if not ctx.profile.legacy:
        out.step("Compressing...")
    try:
        size = write_slug(ctx.build_dir, slug_path)
    except OSError as exc:
        raise BuildError(
            "SLUG_WRITE_FAILED",
            "Unable to write the slug.",
            [
                f"Writing {slug_path.name} failed: {exc.strerror or exc}.",
                "Free some disk space in the cedarbox data directory and push again.",
            ],
        ) from exc
    ctx.report.slug_size_bytes = size
    limit = ctx.request.settings.slug_max_bytes
    if ctx.profile.legacy:
        out.step(f"Compressing... done, {size / (1024 * 1024):.1f}MB")
    else:
        out.indent(f"Done: {format_size(size)}")
    if size > limit:
        slug_path.unlink(missing_ok=True)
        maximum = f"{limit / (1024 * 1024):g}M"
        message = f"Compiled slug size: {format_size(size)} is too large (max is {maximum})."
        raise BuildError(
            "SLUG_TOO_LARGE",
            message,
            ["Remove large files from the repository or list them in .slugignore."],
            legacy_lines=[message],
        )
    return size
