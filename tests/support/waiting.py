"""Waiting for what the platform does in the background: trash deletion, spare cache copies."""

from __future__ import annotations

import time
from pathlib import Path


def entries_once_deleted(root: Path, timeout: float = 30) -> list[str]:
    """The names in `root` once the trees set aside for background deletion are gone."""
    from gitserver import trash

    deadline = time.monotonic() + timeout
    while any(p.name.startswith(trash.PREFIX) for p in root.iterdir()):
        assert time.monotonic() < deadline, f"not deleted in {timeout}s: {sorted(root.iterdir())}"
        time.sleep(0.05)
    return sorted(p.name for p in root.iterdir())


def wait_for_spare(cache_root: Path, timeout: float = 60) -> Path:
    """The spare copy of a cache entry that a commit prepares in the background, once ready."""
    from gitserver.pipeline.cache import SPARE

    deadline = time.monotonic() + timeout
    while not (
        ready := [p for p in cache_root.glob(f"{SPARE}*") if not p.name.endswith(".partial")]
    ):
        assert time.monotonic() < deadline, (
            f"no spare after {timeout}s: {sorted(cache_root.iterdir())}"
        )
        time.sleep(0.05)
    [spare] = ready
    return spare
