"""The ephemeral server a test session deploys to: `cedarbox serve --ephemeral` as a child.

It reads the JSON line the server prints once ready; stopping it (SIGTERM) makes the server
stop its dynos and remove its data directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitserver.errors import CedarboxError

# How long the ephemeral server may take to print its JSON line.
START_TIMEOUT = 60.0
# SIGTERM, then SIGKILL after this long (the server stops its dynos within its stop grace).
STOP_TIMEOUT = 30.0
LOG_TAIL_BYTES = 16 * 1024
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class HarnessError(CedarboxError):
    """The fixture could not do what a test asked (start the server, read a source, push)."""

    code = "TEST_HARNESS"

    def __str__(self) -> str:  # pytest shows str(): the fix (and the server's log) belong in it
        return "\n".join(self.lines())


@dataclass(frozen=True)
class ServerInfo:
    """The JSON line `cedarbox serve --ephemeral` prints once it is ready."""

    url: str
    data_dir: Path
    api_key: str
    pid: int
    https_url: str | None = None

    @classmethod
    def from_line(cls, line: str) -> ServerInfo:
        data = json.loads(line)
        return cls(
            url=str(data["url"]),
            data_dir=Path(data["data_dir"]),
            api_key=str(data["api_key"]),
            pid=int(data["pid"]),
            https_url=data.get("https_url"),
        )


class EphemeralServer:
    """`cedarbox serve --ephemeral` as a child process, its output in files under `workdir`.

    Files, not pipes: a pipe nobody reads can fill and stall the server.
    """

    def __init__(self, workdir: Path, env: Mapping[str, str], timeout: float) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = workdir / "server.stdout"
        self.stderr_path = workdir / "server.stderr"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gitserver", "serve", "--ephemeral"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(env),
                cwd=workdir,
                preexec_fn=_stop_with_parent if sys.platform == "linux" else None,
            )
        self.info = self._read_info(timeout)

    def _read_info(self, timeout: float) -> ServerInfo:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line, newline, _ = self.stdout_path.read_text(errors="replace").partition("\n")
            if newline:
                try:
                    return ServerInfo.from_line(line)
                except (ValueError, KeyError, TypeError):
                    break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise HarnessError(
            f"`cedarbox serve --ephemeral` did not start (exit status {self.proc.returncode}).",
            hint=f"Its output follows; the full log is in {self.stderr_path}.\n" + self.log_tail(),
        )

    def log_tail(self, limit: int = LOG_TAIL_BYTES) -> str:
        """The end of the server's stderr, where its diagnostics and tracebacks are."""
        try:
            with self.stderr_path.open("rb") as f:
                f.seek(max(f.seek(0, os.SEEK_END) - limit, 0))
                return f.read().decode(errors="replace")
        except OSError as exc:
            return f"<no log: {exc}>"

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (the server stops its dynos and removes its data directory), then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _stop_with_parent() -> None:
    """In the child before exec: SIGTERM it when the test process dies, even by SIGKILL, so
    that the server still stops its dynos and removes its files."""
    # A libc without prctl: the server then outlives a killed test run.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
