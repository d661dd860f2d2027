"""The running server's record (data_dir/server.json): how hooks and the CLI know one runs."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from gitserver.errors import ServerRunning
from gitserver.processes import is_same_process, start_time


@dataclass(frozen=True)
class ServerRecord:
    url: str
    pid: int
    proc_start: int | None


def running_server(path: Path) -> ServerRecord | None:
    """The server serving this data directory, if its process is alive."""
    try:
        record = ServerRecord(**json.loads(path.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    return record if is_same_process(record.pid, record.proc_start) else None


def claim(path: Path, url: str) -> ServerRecord:
    """Record this process as the data directory's server; refuse if another one is alive."""
    other = running_server(path)
    if other is not None and other.pid != os.getpid():
        raise ServerRunning(
            f"Another cedarbox server (pid {other.pid}, {other.url}) serves this data directory.",
            hint="Stop it first, or use another --data-dir: two servers would run every app twice.",
        )
    record = ServerRecord(url=url, pid=os.getpid(), proc_start=start_time(os.getpid()))
    tmp = path.with_name(path.name + f".{os.getpid()}")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(path)
    return record


def release_claim(path: Path) -> None:
    """Remove the record if it is still ours."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (FileNotFoundError, ValueError):
        pass
