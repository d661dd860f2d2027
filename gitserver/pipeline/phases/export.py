"""Export: compress the build directory into the slug and enforce the size limit.

The subtrees the buildpack caches (`.heroku`) are compressed as slug members of their own,
kept with the build cache and reused by the next build while unchanged (gitserver.pipeline.slug).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitserver.pipeline.buildpack import CacheToSave
from gitserver.pipeline.cache import BuildCache
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError
from gitserver.pipeline.slug import SlugWritten, format_size, write_slug

MEMBERS = "slug-members"  # the build cache's entry holding the cached subtrees' slug members


@dataclass(frozen=True)
class SlugExported:
    """A written slug: its size, and the slug members to commit with the cache (if any)."""

    size_bytes: int
    members: Path | None  # this slug's members of the cached subtrees, for the next build
    whole_tree: bool = False  # the build directory holds exactly what the slug holds


def export(
    ctx: BuildContext, slug_path: Path, cache: BuildCache, keep: CacheToSave
) -> SlugExported:
    """Write the slug; raise BuildError if it can't be written or is over the size limit."""
    out = ctx.out
    if not ctx.profile.legacy:
        out.step("Compressing...")
    try:
        written, members = _write(ctx, slug_path, cache, keep)
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
        maximum = f"{limit / (1024 * 1024):g}M"
        message = f"Compiled slug size: {format_size(size)} is too large (max is {maximum})."
        raise BuildError(
            "SLUG_TOO_LARGE",
            message,
            ["Remove large files from the repository or list them in .slugignore."],
            legacy_lines=[message],
        )
    return SlugExported(size_bytes=size, members=members, whole_tree=written.whole_tree)


def _write(
    ctx: BuildContext, slug_path: Path, cache: BuildCache, keep: CacheToSave
) -> tuple[SlugWritten, Path | None]:
    """Write the slug, reusing the last good cache's members; keep this slug's for the next."""
    subtrees = [name for name, path in keep.entries.items() if path.parent == ctx.build_dir]
    if not subtrees or cache.root is None:
        return write_slug(ctx.build_dir, slug_path), None
    members = ctx.scratch / MEMBERS
    written = write_slug(
        ctx.build_dir,
        slug_path,
        subtrees=subtrees,
        previous=cache.source / MEMBERS if cache.source is not None else None,
        keep=members,
    )
    return written, members
