"""One build at a time per app: an flock on a file that names the build holding it.

The kernel drops an flock when its process dies, so a killed hook never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from types import TracebackType

from gitserver.errors import AppLocked


class AppLock:
    """Held for the duration of a build; `acquire` refuses at once when another build runs."""

    def __init__(self, path: Path, app: str) -> None:
        self.path = path
        self.app = app
        self._fd: int | None = None

    def acquire(self, holder: dict[str, object]) -> AppLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            running = _describe(os.pread(fd, 4096, 0))
            os.close(fd)
            raise AppLocked(
                f"Push rejected, a build is already running for {self.app}: {running}.",
                hint="Wait for it to finish, then push again.",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({**holder, "pid": os.getpid(), "since": time.time()}).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AppLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _describe(raw: bytes) -> str:
    try:
        holder = json.loads(raw.decode() or "{}")
    except ValueError:
        holder = {}
    if not holder:
        return "build (details unavailable)"
    started = time.strftime("%H:%M:%S", time.localtime(float(holder.get("since", 0))))
    sha = str(holder.get("source_version", ""))[:7]
    return (
        f"build {holder.get('build_id', '?')} of {sha}, started {started} (pid {holder.get('pid')})"
    )
