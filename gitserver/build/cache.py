"""The per-app build cache, transactional: only a successful build replaces the last good one.

Layout under the app's cache root:
    current/            the last good cache: `.heroku/` and `metadata.json`
    staging-<id>/       what a successful build is committing
    old-<id>/           a cache being retired by a commit
    .trash-<id>/        a retired cache being deleted in the background (gitserver.trash)

A build reads the last good cache's metadata (`checkout`), copies what it reuses into its
build directory (`take`: copy-on-write where the filesystem can; nothing is copied for a
cache the build discards), and commits by moving its entries into staging and renaming
staging into place. A build that fails, times out or is killed never touches `current/`;
leftovers are cleaned up on the next checkout.
Retired trees are deleted in the background: deleting a Python environment can take longer
than the whole rest of a warm build.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitserver import trash

METADATA = "metadata.json"


@dataclass
class BuildCache:
    """A build's view of the app's last good cache: its metadata, and entries it may copy."""

    root: Path | None  # the app's cache root; None for a build that keeps no cache
    source: Path | None  # `current/` as it was when the build started; None if there was none
    previous: dict[str, Any] = field(default_factory=dict)  # metadata of the last good build

    @classmethod
    def checkout(cls, root: Path | None) -> BuildCache:
        """Read the last good cache's metadata; nothing is copied until an entry is taken."""
        if root is None:
            return cls(root=None, source=None)
        recover(root)
        current = root / "current"
        if not current.is_dir():
            return cls(root=root, source=None)
        try:
            previous = json.loads((current / METADATA).read_text())
        except (OSError, ValueError):
            previous = {}
        return cls(root=root, source=current, previous=previous)

    @property
    def empty(self) -> bool:
        return not self.previous

    def take(self, name: str, dest: Path) -> bool:
        """Copy a cached entry (e.g. `.heroku`) into the build; False if the cache lacks it.

        The build gets its own copy (copy-on-write where the filesystem can), so nothing it
        does can reach the last good cache. A copy cut short (the cache purged meanwhile) is
        removed and counts as a miss.
        """
        if self.source is None or not (self.source / name).exists():
            return False
        if dest.exists():
            shutil.rmtree(dest)
        try:
            copy_tree(self.source / name, dest)
        except subprocess.CalledProcessError:
            shutil.rmtree(dest, ignore_errors=True)
            return False
        return True

    def discard(self) -> None:
        """Use nothing of the last good cache (it stays until a successful build replaces it)."""
        self.source = None

    def commit(self, entries: Mapping[str, Path], metadata: Mapping[str, Any]) -> None:
        """Make `entries` (moved, not copied) and `metadata` the app's new last good cache."""
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f"staging-{uuid.uuid4().hex}"
        staging.mkdir()
        for name, src in entries.items():
            if src.exists():
                src.rename(staging / name)
        meta_path = staging / METADATA
        with open(meta_path, "w") as f:
            json.dump(dict(metadata), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        current = self.root / "current"
        old = self.root / f"old-{uuid.uuid4().hex}"
        if current.exists():
            current.rename(old)
        staging.rename(current)
        _fsync_dir(self.root)
        trash.discard(old)


def recover(root: Path) -> None:
    """Finish or undo a commit that a crash interrupted; drop abandoned staging copies."""
    if not root.is_dir():
        return
    current = root / "current"
    olds = sorted(root.glob("old-*"), key=lambda p: p.stat().st_mtime)
    if not current.exists() and olds:
        olds.pop().rename(current)
    for leftover in [*olds, *root.glob("staging-*")]:
        trash.set_aside(leftover)
    trash.sweep(root)


def purge(root: Path) -> bool:
    """Forget the app's cache (`builds:cache:purge`); True if there was one."""
    current = root / "current"
    if not current.exists():
        return False
    trash.discard(current)
    return True


def size_bytes(root: Path) -> int:
    current = root / "current"
    total = 0
    for dirpath, _, files in os.walk(current):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def copy_tree(src: Path, dest: Path) -> None:
    """Copy a directory tree, sharing blocks copy-on-write where the filesystem allows."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["cp", "-a", "--reflink=auto", str(src), str(dest)], check=True, stderr=subprocess.PIPE
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
