"""Waking the supervisor at once: from its own threads, and from a push in another process.

The supervisor sleeps in `Wakeup.wait` between looks at the store. Its own threads (a slug
finished unpacking) call `set`; a push that has just created a release calls `nudge` on the
data directory, which sends one empty datagram to the socket the running server listens on
(`DATA_DIR/supervisor.sock`, mode 0600), so the new release's dynos start without waiting for
the supervisor's next look at the store. A datagram carries nothing but "look now": what to do
is always read from the store, so a lost or extra one changes only when the look happens.
Without a server (a push by path) or a socket (a path too long for one), nudging does nothing
and the supervisor still sees every change within its polling interval.
"""

from __future__ import annotations

import contextlib
import select
import socket
from pathlib import Path

from gitserver.datadir import DataDir

SOCKET_NAME = "supervisor.sock"


def socket_path(data: DataDir) -> Path:
    return data.root / SOCKET_NAME


def nudge(data: DataDir) -> None:
    """Tell the data directory's running server to look at the store now (if one listens)."""
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
    ):
        sock.setblocking(False)
        sock.sendto(b"", str(socket_path(data)))


class Wakeup:
    """What the supervisor sleeps on: its data directory's socket and an in-process pair."""

    def __init__(self, data: DataDir) -> None:
        self._reader, self._writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for end in (self._reader, self._writer):
            end.setblocking(False)
        self._path = socket_path(data)
        self._listener = self._listen(self._path)

    @staticmethod
    def _listen(path: Path) -> socket.socket | None:
        """Bind the data directory's socket; None when this system can't have one there."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            # One server per data directory (serverinfo): a socket here is a dead server's.
            path.unlink(missing_ok=True)
            sock.bind(str(path))
            path.chmod(0o600)  # sending needs write permission: only the server's own user
        except OSError:  # e.g. a path longer than AF_UNIX allows: polling alone will do
            sock.close()
            return None
        sock.setblocking(False)
        return sock

    def set(self) -> None:
        """Wake the waiting thread (callable from any thread)."""
        with contextlib.suppress(BlockingIOError):  # it has a wake-up pending already
            self._writer.send(b"")

    def wait(self, timeout: float) -> bool:
        """Sleep until woken or `timeout` seconds passed; True if woken (every wake-up that
        arrived meanwhile is used up)."""
        sources = [s for s in (self._reader, self._listener) if s is not None]
        ready, _, _ = select.select(sources, [], [], timeout)
        for sock in ready:
            with contextlib.suppress(OSError):
                while True:
                    sock.recv(16)
        return bool(ready)

    def close(self) -> None:
        for sock in (self._reader, self._writer, self._listener):
            if sock is not None:
                sock.close()
        if self._listener is not None:
            self._path.unlink(missing_ok=True)
