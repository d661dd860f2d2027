"""Slugs: the compiled app as a gzipped tarball, without `.git` and `.slugignore` matches.

Symlinks are stored as symlinks, never followed, so a link pointing outside the app can't
pull host files into a slug.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from gitserver.build.slugignore import SlugIgnore

COMPRESS_LEVEL = 1  # fast: slugs are local, so time matters more than bytes


def write_slug(build_dir: Path, dest: Path) -> int:
    """Write the slug of `build_dir` to `dest` atomically; return its compressed size."""
    ignore = _slugignore(build_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    try:
        with tarfile.open(tmp, "w:gz", compresslevel=COMPRESS_LEVEL) as tar:
            for path, arcname in _entries(build_dir, ignore):
                tar.add(path, arcname=arcname, recursive=False)
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest.stat().st_size


def unpack_slug(slug: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(slug, "r:gz") as tar:
        tar.extractall(dest, filter="tar")


def _slugignore(build_dir: Path) -> SlugIgnore:
    path = build_dir / ".slugignore"
    if path.is_file() and not path.is_symlink():
        return SlugIgnore.parse(path.read_text(errors="replace"))
    return SlugIgnore(())


def _entries(build_dir: Path, ignore: SlugIgnore) -> list[tuple[str, str]]:
    entries: list[tuple[str, str]] = [(str(build_dir), "./")]
    for dirpath, dirnames, filenames in os.walk(build_dir):
        rel_dir = os.path.relpath(dirpath, build_dir)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        if not rel_dir:
            dirnames[:] = [d for d in dirnames if d != ".git"]
        kept_dirs = []
        for name in sorted(dirnames):
            rel = rel_dir + name
            if ignore.ignores(rel):
                continue
            entries.append((os.path.join(dirpath, name), "./" + rel))
            if not os.path.islink(os.path.join(dirpath, name)):
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            rel = rel_dir + name
            if not ignore.ignores(rel):
                entries.append((os.path.join(dirpath, name), "./" + rel))
    return entries


def format_size(size: int) -> str:
    """Heroku's size notation: 21.2M."""
    return f"{size / (1024 * 1024):.1f}M"
