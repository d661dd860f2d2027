"""Waiting for what the platform does in the background: trash deletion, spare cache copies,
dynos coming up, any condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def wait_for(
    ok: Callable[[], bool], timeout: float = 20, what: str = "condition", poll: float = 0.1
) -> None:
    """Return once `ok()` is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


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
