"""What a client may hold of the front end: a deadline for each request's head, a cap on open
connections, a budget of failed authentications per address.

A request's line and headers must arrive within `header_timeout` seconds of the server starting
to wait for them (idle keep-alive connections included), however slowly they trickle in; after
that the connection gets a 408 (if anything arrived) and is closed. Once the head is in, each
read of the body waits at most `header_timeout` seconds for data. Connections over the cap are
answered with a 503 and closed at once by the accepting thread, so they never get a thread.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import BinaryIO

# A connection over the cap is answered without waiting for (or reading) its request.
REFUSAL_SEND_TIMEOUT = 1.0


class DeadlineReader(socket.SocketIO):
    """A socket's read side whose reads stop at the head's deadline, or after `timeout` idle
    seconds each once the head is in. Wrap in io.BufferedReader (the handler's rfile)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        super().__init__(sock, "rb")
        self._socket = sock
        self.timeout = timeout
        self.deadline: float | None = None
        self.head_bytes = 0  # bytes received since the head's deadline was set
        self.head_timed_out = False

    def start_head(self) -> None:
        """Waiting for a request's line and headers starts now."""
        self.deadline = time.monotonic() + self.timeout
        self.head_bytes = 0
        self.head_timed_out = False

    def end_head(self) -> None:
        """The head is in: from now on each read (and write) may wait `timeout` seconds."""
        self.deadline = None
        self._socket.settimeout(self.timeout)

    def readinto(self, b: memoryview | bytearray) -> int | None:  # type: ignore[override]
        if self.deadline is None:
            self._socket.settimeout(self.timeout)
            return super().readinto(b)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.head_timed_out = True
            raise TimeoutError("the request's headers did not arrive in time")
        self._socket.settimeout(remaining)
        try:
            n = super().readinto(b)
        except TimeoutError:
            self.head_timed_out = True
            raise
        self.head_bytes += n or 0
        return n


def head_timeout_response(timeout: float) -> bytes:
    body = (
        f"REQUEST_TIMEOUT: The request's headers did not arrive within {timeout:g} seconds.\n"
        "Send the whole request line and headers at once (CEDARBOX_HEADER_TIMEOUT on the "
        "server sets the limit).\n"
    ).encode()
    return _response(408, "Request Timeout", body)


class ConnectionGate:
    """Counts open connections; `enter` says no once `limit` are open (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.open -= 1


def refuse_connection(sock: socket.socket, limit: int) -> None:
    """Answer 503 and close, without a thread: drop what already arrived so that closing does
    not reset the connection before the client reads the answer."""
    body = (
        f"TOO_MANY_CONNECTIONS: The server already has {limit} open connections.\n"
        "Retry shortly, or close idle connections (CEDARBOX_MAX_CONNECTIONS on the server "
        "sets the limit).\n"
    ).encode()
    with contextlib.suppress(OSError):
        sock.settimeout(REFUSAL_SEND_TIMEOUT)
        sock.sendall(_response(503, "Service Unavailable", body, ("Retry-After", "1")))
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536, socket.MSG_DONTWAIT):
            pass


def _response(status: int, reason: str, body: bytes, *extra: tuple[str, str]) -> bytes:
    head = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in extra),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# After refusing a request, what the client still sends is read and dropped for this long (and
# up to this much) before the connection closes: closing with unread data makes the kernel
# reset the connection, and the client may lose the answer that says why.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 64 * 1024 * 1024


def linger(connection: socket.socket, wfile: BinaryIO) -> None:
    """Close gracefully after an answer sent before the request body was read: stop writing,
    then drop what the client still sends until it closes (bounded)."""
    try:
        wfile.flush()
        connection.shutdown(socket.SHUT_WR)
        connection.settimeout(LINGER_SECONDS)
        deadline = time.monotonic() + LINGER_SECONDS
        drained = 0
        while time.monotonic() < deadline and drained < LINGER_MAX_BYTES:
            data = connection.recv(64 * 1024)
            if not data:
                break
            drained += len(data)
    except OSError:
        pass  # the client is gone: nothing left to protect


class FailureLimiter:
    """Failed authentications per client address within a sliding window of `window` seconds.

    `retry_after(address)` is None while the address has had fewer than `limit` failures in the
    last `window` seconds, else the whole seconds until the oldest of them leaves the window.
    Ask it *before* checking a credential, so that guessing is throttled too; `failed` records
    one failure. Thread-safe; `clock` (monotonic seconds) is injectable for tests. Addresses
    whose failures have all left the window are forgotten, so memory stays bounded by the
    addresses that failed recently.
    """

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock() + window

    def retry_after(self, address: str) -> int | None:
        if self.limit <= 0:
            return None
        with self._lock:
            now = self._clock()
            times = self._failures.get(address)
            if times is None or len(self._expire(times, now)) < self.limit:
                return None
            # One more try once the oldest failure kept (the limit's newest) leaves the window.
            return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, address: str) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            now = self._clock()
            if now >= self._next_sweep:  # at most once a window: forget expired addresses
                self._next_sweep = now + self.window
                expired = [a for a, t in self._failures.items() if t[-1] <= now - self.window]
                for other in expired:
                    del self._failures[other]
            times = self._failures.setdefault(address, deque(maxlen=self.limit))
            self._expire(times, now).append(now)

    def _expire(self, times: deque[float], now: float) -> deque[float]:
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
