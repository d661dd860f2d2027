"""Export: compress the build directory into the slug and enforce the size limit.

The subtrees the buildpack caches (`.heroku`) are compressed as slug members of their own,
kept with the build cache and reused by the next build while unchanged (gitserver.pipeline.slug).
"""

from __future__ import annotations

from pathlib import Path

from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError
from gitserver.pipeline.slug import SlugWritten, format_size, write_slug

MEMBERS = "slug-members"  # the build cache's entry holding the cached subtrees' slug members


def export(ctx: BuildContext, slug_path: Path) -> int:
    out = ctx.out
    if not ctx.profile.legacy:
        out.step("Compressing...")
    try:
        written = _write(ctx, slug_path)
    except OSError as exc:
        raise BuildError(
            "SLUG_WRITE_FAILED",
            "Unable to write the slug.",
            [
                f"Writing {slug_path.name} failed: {exc.strerror or exc}.",
                "Free some disk space in the cedarbox data directory and push again.",
            ],
        ) from exc
    size = ctx.report.slug_size_bytes = written.size
    ctx.report.slug_members_reused = list(written.reused)
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


def _write(ctx: BuildContext, slug_path: Path) -> SlugWritten:
    """Write the slug, reusing the last good cache's members; keep this slug's for the next."""
    entries, _ = ctx.cache_to_save
    subtrees = [name for name, path in entries.items() if path.parent == ctx.build_dir]
    cache = ctx.cache
    if not subtrees or cache is None or cache.root is None:
        return write_slug(ctx.build_dir, slug_path)
    keep = ctx.scratch / MEMBERS
    written = write_slug(
        ctx.build_dir,
        slug_path,
        subtrees=subtrees,
        previous=cache.source / MEMBERS if cache.source is not None else None,
        keep=keep,
    )
    entries[MEMBERS] = keep  # committed with the cache by the save-cache phase
    return written
