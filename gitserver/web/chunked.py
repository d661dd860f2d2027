"""Request bodies as streams: de-chunking `Transfer-Encoding: chunked` without buffering."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from gitserver.errors import UsageError

BLOCK = 64 * 1024
_MAX_LINE = 4096


class BadRequestBody(UsageError):
    code = "BAD_REQUEST_BODY"


def iter_chunked(stream: BinaryIO, block: int = BLOCK) -> Iterator[bytes]:
    """Yield the decoded body of a chunked request, at most `block` bytes at a time."""
    while True:
        size_line = stream.readline(_MAX_LINE)
        if not size_line.endswith(b"\n"):
            raise BadRequestBody("Chunked body ended inside a chunk-size line.")
        size_text = size_line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequestBody(f"Invalid chunk size {size_text[:32]!r}.") from None
        if size < 0:
            raise BadRequestBody("Negative chunk size.")
        if size == 0:
            _skip_trailers(stream)
            return
        remaining = size
        while remaining:
            data = stream.read(min(block, remaining))
            if not data:
                raise BadRequestBody("Chunked body ended early.")
            remaining -= len(data)
            yield data
        if stream.readline(_MAX_LINE).strip():
            raise BadRequestBody("Chunk not followed by CRLF.")


def iter_sized(stream: BinaryIO, length: int, block: int = BLOCK) -> Iterator[bytes]:
    """Yield exactly `length` bytes of a body with a Content-Length."""
    remaining = length
    while remaining:
        data = stream.read(min(block, remaining))
        if not data:
            raise BadRequestBody(f"Body ended after {length - remaining} of {length} bytes.")
        remaining -= len(data)
        yield data


class LimitedBody:
    """Pass a body through, raising `too_large(seen, limit)` once it passes `limit` bytes.

    `done` tells whether the body was read to its end (else the rest is still on the socket).
    """

    def __init__(
        self,
        body: Iterator[bytes],
        limit: int,
        too_large: Callable[[int, int], Exception],
    ) -> None:
        self._body = body
        self._limit = limit
        self._too_large = too_large
        self.seen = 0
        self.done = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            data = next(self._body)
        except StopIteration:
            self.done = True
            raise
        self.seen += len(data)
        if self.seen > self._limit:
            raise self._too_large(self.seen, self._limit)
        return data


def _skip_trailers(stream: BinaryIO) -> None:
    for _ in range(100):
        line = stream.readline(_MAX_LINE)
        if line in (b"\r\n", b"\n", b""):
            return
    raise BadRequestBody("Too many trailer lines.")
