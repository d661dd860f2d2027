"""The one output vocabulary for everything a build streams to `git push` (heroku-reference §1).

`step` prints `-----> text`, `indent` prints tool output under a step, `warning`/`error`/
`notice` print Heroku's ` !     ` blocks, and `line` prints platform lines as they are. Each
line is written and flushed at once, so it reaches the pusher live through receive-pack's
sideband. Every line is also kept, so the transcript can be stored and replayed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

STEP = "-----> "
INDENT = " " * 7
BANG = " !     "

_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "notice": "\x1b[1;34m"}
_RESET = "\x1b[0m"
REPLACEMENT = "\ufffd"


def printable(text: str, limit: int | None = None) -> str:
    """Text from the pushed tree (a file's line, a file name, a link target), safe to print.

    Control characters (newlines, escape sequences, NUL), invisible format characters (a BOM)
    and undecodable bytes become U+FFFD, as Heroku's buildpack shows them, so the text stays
    on one line and can't drive the pusher's terminal. `limit` cuts it first, marking the cut.
    """
    if limit is not None and len(text) > limit:
        return printable(text[: max(limit - 3, 0)]) + "..."
    return "".join(ch if ch.isprintable() or ch == "\t" else REPLACEMENT for ch in text)


class Output:
    """Writes Heroku-style lines to one byte stream (and to any extra sinks)."""

    def __init__(
        self, stream: BinaryIO, *, colour_blocks: bool = True, keep_transcript: bool = True
    ) -> None:
        self._sinks: list[BinaryIO] = [stream]
        self.colour_blocks = colour_blocks
        # The hook keeps none (it tees the transcript to the build's file instead): a build's
        # output must not grow the hook's memory.
        self.keep_transcript = keep_transcript
        self.transcript: list[str] = []

    @contextmanager
    def tee(self, sink: BinaryIO) -> Iterator[None]:
        """Also write every line to `sink` (e.g. the build's stored log) inside the block."""
        self._sinks.append(sink)
        try:
            yield
        finally:
            self._sinks.remove(sink)

    def line(self, text: str = "") -> None:
        for part in text.split("\n"):
            self._write(part)

    def step(self, text: str) -> None:
        self.line(STEP + text)

    def indent(self, text: str) -> None:
        for part in text.split("\n"):
            self._write(INDENT + part if part else "")

    def bang(self, text: str) -> None:
        """cedar-14 style warning and the platform's ` !     ` lines: no colour, no block."""
        for part in text.split("\n"):
            self._write(BANG + part)

    def warning(self, summary: str, body: Iterable[str] = ()) -> None:
        self._block("warning", f"Warning: {summary}", body)

    def error(self, summary: str, body: Iterable[str] = ()) -> None:
        self._block("error", f"Error: {summary}", body)

    def notice(self, summary: str, body: Iterable[str] = ()) -> None:
        self._block("notice", f"Note: {summary}", body)

    def _block(self, kind: str, first: str, body: Iterable[str]) -> None:
        lines = [first]
        body = list(body)
        if body:
            lines.append("")
            lines.extend(body)
        colour, reset = (_COLOURS[kind], _RESET) if self.colour_blocks else ("", "")
        self._write("")
        for text in lines:
            for part in text.split("\n"):
                self._write(f"{colour}{BANG}{part}{reset}")
        self._write("")

    def _write(self, text: str) -> None:
        if self.keep_transcript:
            self.transcript.append(text)
        data = (text + "\n").encode("utf-8", "replace")
        for sink in self._sinks:
            sink.write(data)
            sink.flush()
