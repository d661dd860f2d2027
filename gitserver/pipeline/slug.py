"""Slugs: the compiled app as a gzipped tarball, without `.git` and `.slugignore` matches.

Symlinks are stored as symlinks, never followed, so a link pointing outside the app can't
pull host files into a slug.

A slug is one tar stream compressed as several gzip members, one after the other (gzip, GNU
tar and Python's tarfile read them as one stream):

    the app's own files | one member per cached subtree (`.heroku`) | the end-of-archive blocks

A cached subtree rarely changes between builds, yet compressing its ~30 MB of Python
environment was a third of a warm redeploy. So its compressed member is kept with the build
cache, named by the digest of the subtree's entries (gitserver.pipeline.treedigest: names, types,
modes, owners, sizes, nanosecond mtimes, link targets), and the next slug reuses it verbatim
while the digest is the same. Restoring the cache keeps the mtimes that make this possible.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from gitserver.pipeline import treedigest
from gitserver.pipeline.slugignore import SlugIgnore
from gitserver.pipeline.treedigest import Entry

COMPRESS_LEVEL = 1  # fast: slugs are local, so time matters more than bytes
_FORMAT: Literal[0, 1, 2] = tarfile.PAX_FORMAT
_BLOCK = tarfile.BLOCKSIZE
_END_OF_ARCHIVE = b"\0" * (2 * _BLOCK)
_MEMBER_SUFFIX = ".gz"


@dataclass(frozen=True)
class SlugWritten:
    size: int  # compressed bytes
    reused: tuple[str, ...] = ()  # subtrees whose member came from the previous build
    # Every entry of the build directory is in the slug (no `.git`, nothing .slugignore'd,
    # no socket): the build directory is then the slug unpacked, and may stand in for it.
    whole_tree: bool = False


def write_slug(
    build_dir: Path,
    dest: Path,
    *,
    subtrees: Sequence[str] = (),
    previous: Path | None = None,
    keep: Path | None = None,
) -> SlugWritten:
    """Write the slug of `build_dir` to `dest` atomically.

    `subtrees`: top-level directories (e.g. ".heroku") compressed as members of their own.
    `previous`: the directory where an earlier build kept such members (may not exist).
    `keep`: where to leave this slug's subtree members, for the build cache to commit.
    """
    ignore = _slugignore(build_dir)
    entries, left_out = _entries(build_dir, ignore)
    own = [e for e in entries if _top(e[1]) not in subtrees]
    dest.parent.mkdir(parents=True, exist_ok=True)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    reused = []
    whole = not left_out
    try:
        with open(tmp, "wb") as out:
            whole = _write_member(out, own) and whole
            for name in subtrees:
                part = [e for e in entries if _top(e[1]) == name]
                if not part:
                    continue
                added = _add_subtree(out, part, previous, keep)
                whole = whole and added is not None
                if added:
                    reused.append(name)
            out.write(gzip.compress(_END_OF_ARCHIVE, COMPRESS_LEVEL, mtime=0))
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return SlugWritten(size=dest.stat().st_size, reused=tuple(reused), whole_tree=whole)


def unpack_slug(slug: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(slug, "r:gz") as tar:
        tar.extractall(dest, filter="tar")


def format_size(size: int) -> str:
    """Heroku's size notation: 21.2M."""
    return f"{size / (1024 * 1024):.1f}M"


# --- members ----------------------------------------------------------------------------------

# Part of every member's name: a change to how members are written makes new names.
_MEMBER_SALT = b"cedarbox slug member: pax, gzip level %d\n" % COMPRESS_LEVEL


def _add_subtree(
    out: BinaryIO, part: list[Entry], previous: Path | None, keep: Path | None
) -> bool | None:
    """Append a subtree's member to the slug; True if it was the previous build's, reused;
    None if the member left an entry out (a socket)."""
    name = treedigest.digest(part, salt=_MEMBER_SALT) + _MEMBER_SUFFIX
    reused = _reuse(previous / name, keep / name if keep else None) if previous else None
    if reused is not None:
        _append(out, reused)
        # Written from the same entries (the digest covers their types); a socket it left out
        # then is the one case this misses, and harmless: the tree has it, the slug not.
        return True
    if keep is None:
        return False if _write_member(out, part) else None
    partial = keep / (name + ".partial")
    with open(partial, "wb") as f:
        whole = _write_member(f, part)
    _append(out, partial.replace(keep / name))
    return False if whole else None


def _reuse(member: Path, keep: Path | None) -> Path | None:
    """The previous build's member, linked into `keep` if given; None if it isn't there.

    Members are never changed in place (written aside, then renamed), so sharing one between
    the last good cache and the next is safe.
    """
    if not member.is_file():
        return None
    if keep is None:
        return member
    try:
        os.link(member, keep)
    except OSError:  # another filesystem, or the cache was purged meanwhile
        try:
            shutil.copyfile(member, keep)
        except OSError:
            return None
    return keep


def _append(out: BinaryIO, member: Path) -> None:
    with open(member, "rb") as f:
        shutil.copyfileobj(f, out, 1 << 20)


def _write_member(out: BinaryIO, entries: list[Entry]) -> bool:
    """One gzip member of tar entries: each header, then the file's data padded to a block;
    False if an entry was left out (a socket, which tar can't store).

    Headers are tarfile's own (hard links recognised within the member); the end-of-archive
    blocks are not written here but once, after the last member.
    """
    whole = True
    headers = tarfile.TarFile(fileobj=io.BytesIO(), mode="w", format=_FORMAT)
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0) as gz:
        for path, arcname in entries:
            info = headers.gettarinfo(path, arcname)
            if info is None:  # a socket: tar can't store it, tarfile skips it too
                whole = False
                continue
            gz.write(info.tobuf(_FORMAT, tarfile.ENCODING, "surrogateescape"))
            if info.isreg() and info.size:
                _copy_data(path, info.size, gz)
                gz.write(b"\0" * (-info.size % _BLOCK))
    return whole


def _copy_data(path: str, size: int, out: gzip.GzipFile) -> None:
    with open(path, "rb") as f:
        left = size
        while left:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                raise OSError(f"{path} shrank while the slug was written")
            out.write(chunk)
            left -= len(chunk)


def _top(arcname: str) -> str:
    """The top-level name an entry belongs to: "./.heroku/python/x" -> ".heroku"."""
    return arcname[2:].split("/", 1)[0]


# --- what goes in -----------------------------------------------------------------------------


def _slugignore(build_dir: Path) -> SlugIgnore:
    path = build_dir / ".slugignore"
    if path.is_file() and not path.is_symlink():
        return SlugIgnore.parse(path.read_text(errors="replace"))
    return SlugIgnore(())


def _entries(build_dir: Path, ignore: SlugIgnore) -> tuple[list[Entry], bool]:
    """The slug's entries; True if something of `build_dir` was left out (`.git`, ignored)."""
    entries: list[Entry] = [(str(build_dir), "./")]
    left_out = False
    for dirpath, dirnames, filenames in os.walk(build_dir):
        rel_dir = os.path.relpath(dirpath, build_dir)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        if not rel_dir and ".git" in dirnames:
            dirnames.remove(".git")
            left_out = True
        kept_dirs = []
        for name in sorted(dirnames):
            rel = rel_dir + name
            if ignore.ignores(rel):
                left_out = True
                continue
            entries.append((os.path.join(dirpath, name), "./" + rel))
            if not os.path.islink(os.path.join(dirpath, name)):
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            rel = rel_dir + name
            if ignore.ignores(rel):
                left_out = True
            else:
                entries.append((os.path.join(dirpath, name), "./" + rel))
    return entries, left_out
