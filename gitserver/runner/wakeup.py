"""Waking the supervisor at once: from its own threads, and from a push in another process.

The supervisor sleeps in `Wakeup.wait` between looks at the store. Its own threads (a slug
finished unpacking) call `set`; a push sends datagrams to the socket the running server
listens on (`DATA_DIR/supervisor.sock`, mode 0600):

- `nudge`, once it created a release: look at the store now, so the new release's dynos start
  without waiting for the supervisor's next look;
- `request_unpack`, once its build wrote the slug: unpack it for the runner now (the server's
  own priority, not the build's), while the push finishes the release
  (runner.releasedirs.prepared_dir is where it appears).

A datagram only ever says "look now" or names a slug file of an app; what runs is always read
from the store, and a request naming anything but a slug in the data directory is ignored.
Without a server (a push by path) or a socket (a path too long for one), sending does nothing
and the supervisor still sees every change within its polling interval.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
from dataclasses import dataclass
from pathlib import Path

from gitserver.datadir import DataDir

SOCKET_NAME = "supervisor.sock"
_UNPACK = "unpack"
_APP = re.compile(r"[a-z][a-z0-9-]{0,29}")  # appnames' rule
_SLUG = re.compile(r"[A-Za-z0-9-]{1,64}\.tar\.gz")  # `<build id>.tar.gz`


@dataclass(frozen=True)
class UnpackRequest:
    """A push's slug to unpack for the runner: DATA_DIR/slugs/<app>/<slug_name>."""

    app: str
    slug_name: str


def socket_path(data: DataDir) -> Path:
    return data.root / SOCKET_NAME


def nudge(data: DataDir) -> bool:
    """Tell the data directory's running server to look at the store now; False if no server
    listens."""
    return _send(data, b"")


def request_unpack(data: DataDir, app: str, slug: Path) -> bool:
    """Ask the running server to unpack `slug` (in DATA_DIR/slugs/<app>) for the runner; False
    if no server listens, so nothing will."""
    return _send(data, f"{_UNPACK} {app} {slug.name}".encode())


def parse_message(payload: bytes) -> UnpackRequest | None:
    """The unpack request a datagram carries; None for a bare wake-up or anything malformed."""
    try:
        kind, app, name = payload.decode("ascii").split(" ")
    except ValueError:  # not ASCII, or not three words
        return None
    if kind != _UNPACK or not _APP.fullmatch(app) or not _SLUG.fullmatch(name):
        return None
    return UnpackRequest(app, name)


def _send(data: DataDir, payload: bytes) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(payload, str(socket_path(data)))
    except OSError:  # no server (no socket, or nobody bound to it), or its queue is full
        return False
    return True


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

    def wait(self, timeout: float) -> list[UnpackRequest] | None:
        """Sleep until woken or `timeout` seconds passed: None if not woken, else the unpack
        requests among the wake-ups that arrived meanwhile (all of them are used up)."""
        sources = [s for s in (self._reader, self._listener) if s is not None]
        ready, _, _ = select.select(sources, [], [], timeout)
        if not ready:
            return None
        requests = []
        for sock in ready:
            with contextlib.suppress(OSError):  # BlockingIOError: nothing more to read
                while True:
                    request = parse_message(sock.recv(256))
                    if request is not None and request not in requests:
                        requests.append(request)
        return requests

    def close(self) -> None:
        for sock in (self._reader, self._writer, self._listener):
            if sock is not None:
                sock.close()
        if self._listener is not None:
            self._path.unlink(missing_ok=True)
