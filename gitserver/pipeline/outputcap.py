"""How much a build's commands may print: a byte budget per build and a line splitter whose
cost is linear in the output, holding at most the budget of any one unfinished line.

A build that prints past the budget (Settings.build_output_max_bytes) gets one line saying the
rest was dropped; its commands keep running and their output is read and thrown away, so they
never block on a full pipe.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class OutputBudget:
    """Bytes of command output one build may still stream and store."""

    limit: int
    used: int = 0
    exhausted: bool = False

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def take(self, size: int) -> bool:
        """Count a line of `size` bytes; False (from then on) once it does not fit."""
        if self.exhausted or size > self.remaining:
            self.exhausted = True
            return False
        self.used += size
        return True

    def dropped_line(self) -> str:
        return (
            f"Output limit reached: this build printed more than {_size(self.limit)}; the rest "
            "of its output was dropped (the build goes on; CEDARBOX_BUILD_OUTPUT_MAX_BYTES sets "
            "the limit)."
        )


class LineSplitter:
    """Bytes in, complete lines out; an unfinished line is kept as a list of parts, never
    re-joined until it ends, and only its first `max_line` bytes are kept (the line then
    counts as longer than `max_line`: `overflowed`)."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._parts: list[bytes] = []
        self._size = 0  # bytes of the unfinished line seen, kept or not

    def feed(self, data: bytes) -> list[tuple[bytes, int]]:
        """The lines `data` completes, each with its real length (newline excluded)."""
        lines: list[tuple[bytes, int]] = []
        start = 0
        while (end := data.find(b"\n", start)) != -1:
            self._keep(data[start:end])
            lines.append((b"".join(self._parts), self._size))
            self._parts, self._size = [], 0
            start = end + 1
        self._keep(data[start:])
        return lines

    def flush(self) -> tuple[bytes, int] | None:
        """The last line, if the output did not end with a newline."""
        if not self._size:
            return None
        line = (b"".join(self._parts), self._size)
        self._parts, self._size = [], 0
        return line

    def _keep(self, part: bytes) -> None:
        room = self.max_line - min(self._size, self.max_line)
        if part and room:
            self._parts.append(part[:room])
        self._size += len(part)


def _size(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    return f"{limit} bytes"
