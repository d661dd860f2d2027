"""Removing big directory trees without waiting for it.

Deleting a tree costs time in proportion to its files, and far more on filesystems that
discard freed blocks as they go (ext4 mounted with `discard`: a 1,700-file Python environment
took 5 s to delete on the development machine, against 0.005 s to rename). A build must not
wait for that, so a tree to delete is renamed aside (a sibling `.trash-<id>`, so the rename
stays on one filesystem and is instant) and deleted by a detached `rm -rf` that outlives the
caller.

Every remover holds an flock on the tree it deletes, so `sweep` can hand any leftover
`.trash-*` (from a remover killed with its machine) to a new remover without two of them
working on the same tree.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

PREFIX = ".trash-"


def discard(path: Path) -> None:
    """Make `path` disappear now and delete its contents in the background."""
    aside = set_aside(path)
    if aside is not None:
        _remove_detached(aside)


def set_aside(path: Path) -> Path | None:
    """Rename `path` to a `.trash-*` sibling for a later `sweep`; None if it is gone already."""
    aside = path.parent / f"{PREFIX}{uuid.uuid4().hex}"
    try:
        path.rename(aside)
    except FileNotFoundError:
        return None
    except OSError:  # not renameable (e.g. a mount point): delete it here and now
        shutil.rmtree(path, ignore_errors=True)
        return None
    return aside


def sweep(directory: Path) -> None:
    """Start deleting every tree left aside in `directory` that no remover is working on."""
    try:
        leftovers = [p for p in directory.iterdir() if p.name.startswith(PREFIX)]
    except OSError:
        return
    for leftover in leftovers:
        _remove_detached(leftover)


def _remove_detached(path: Path) -> None:
    """`rm -rf path` in its own session, holding an flock on `path` (skipped if one is held)."""
    argv = ["flock", "--nonblock", "--conflict-exit-code", "0", str(path), "rm", "-rf", "--"]
    try:
        subprocess.Popen(
            [*argv, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:  # no flock(1) or out of processes: delete it here and now
        shutil.rmtree(path, ignore_errors=True)
