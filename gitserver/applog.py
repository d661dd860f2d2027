"""App logs: one file per app in Heroku's line format, appended to by every cedarbox process.

`2026-11-23T10:00:00.123456+00:00 app[web.1]: listening` — sources are `app[<dyno>]` (what the
app prints), `heroku[<dyno>]` (state changes), `heroku[router]` and `app[api]` (builds and
releases). Each line is written with one O_APPEND write, so the server, hooks and `run` can
append to the same file at once without interleaving within a line.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_LINE = re.compile(r"^(?P<ts>\S+) (?P<source>(?P<kind>app|heroku)\[(?P<dyno>[^\]]+)\]): ")
_TAIL_BLOCK = 64 * 1024


def timestamp(when: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    return moment.isoformat(timespec="microseconds")


def format_lines(source: str, text: str, when: float | None = None) -> str:
    """`text` (any number of lines) as log lines, each stamped and attributed to `source`."""
    stamp = timestamp(when)
    parts = text.rstrip("\n").split("\n") if text else [""]
    return "".join(f"{stamp} {source}: {part.rstrip(chr(13))}\n" for part in parts)


class AppLog:
    """The log file of one app."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, source: str, text: str) -> None:
        data = format_lines(source, text).encode("utf-8", "replace")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def api(self, text: str) -> None:
        self.write("app[api]", text)

    def trim(self, max_bytes: int) -> bool:
        """Keep the newest half when the file outgrows `max_bytes` (Heroku keeps 1,500 lines)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return False
        if max_bytes <= 0 or size <= max_bytes:
            return False
        with open(self.path, "rb") as f:
            f.seek(size - max_bytes // 2)
            kept = f.read()
        kept = kept[kept.find(b"\n") + 1 :]
        tmp = self.path.with_name(self.path.name + ".trim")
        tmp.write_bytes(kept)
        tmp.replace(self.path)
        return True


@dataclass(frozen=True)
class LogFilter:
    """`--ps web` (a type: every web dyno; or one dyno: web.1; or router/api) and `--source`."""

    dyno: str = ""
    source: str = ""  # "app" or "heroku"

    def matches(self, line: str) -> bool:
        if not self.dyno and not self.source:
            return True
        match = _LINE.match(line)
        if not match:
            return False
        if self.source and match["kind"] != self.source:
            return False
        name = match["dyno"]
        return not self.dyno or name == self.dyno or name.startswith(self.dyno + ".")


def last_lines(path: Path, count: int, log_filter: LogFilter = LogFilter()) -> list[str]:
    """The newest `count` matching lines, reading the file backwards in blocks."""
    if not path.is_file():
        return []
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        found: list[str] = []
        tail = b""
        while end > 0 and len(found) < count:
            start = max(0, end - _TAIL_BLOCK)
            f.seek(start)
            block = f.read(end - start) + tail
            lines = block.split(b"\n")
            tail = lines.pop(0) if start > 0 else b""
            for raw in reversed(lines):
                line = raw.decode("utf-8", "replace")
                if line and log_filter.matches(line):
                    found.append(line)
                    if len(found) == count:
                        break
            end = start
    return found[::-1]


def follow(
    path: Path,
    log_filter: LogFilter = LogFilter(),
    *,
    from_end: bool = True,
    stop: threading.Event | None = None,
    poll: float = 0.2,
    sleep: Callable[[float], object] = time.sleep,
) -> Iterator[str]:
    """Matching lines appended from now on (until `stop` is set); survives trimming."""
    # Where to start is decided now, not at the first next().
    offset = _size(path) if from_end else 0
    return _follow(path, log_filter, offset, _inode(path), stop, poll, sleep)


def _follow(
    path: Path,
    log_filter: LogFilter,
    offset: int,
    inode: int | None,
    stop: threading.Event | None,
    poll: float,
    sleep: Callable[[float], object],
) -> Iterator[str]:
    last = ""
    pending = b""
    while stop is None or not stop.is_set():
        current = _inode(path)
        if current != inode:  # trimmed or recreated: resume after the last line we read
            inode, pending = current, b""
            offset = _offset_after(path, last)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            data = b""
        if not data:
            sleep(poll)
            continue
        offset += len(data)
        *complete, pending = (pending + data).split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace")
            last = line or last
            if line and log_filter.matches(line):
                yield line


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _offset_after(path: Path, line: str) -> int:
    """Where the text after `line` starts in the file (0 if it is not there any more)."""
    if not line:
        return 0
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    at = data.rfind(line.encode("utf-8", "replace") + b"\n")
    return 0 if at < 0 else at + len(line.encode("utf-8", "replace")) + 1
