"""Run `git http-backend` as a CGI program and stream its response without buffering.

The request body is pumped into the backend from a thread while the response is read, so
a large push never sits in memory, and every byte the backend writes (the build's `remote:`
lines among them) reaches the client as soon as it is written.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

READ_BLOCK = 64 * 1024


@dataclass(frozen=True)
class CgiRequest:
    """What http-backend needs to know about one request."""

    method: str
    path_info: str  # "/<app>.git/info/refs"
    query: str
    content_type: str
    content_encoding: str
    git_protocol: str
    content_length: int | None  # None: read the (de-chunked) body until EOF
    remote_addr: str


@dataclass(frozen=True)
class CgiHead:
    status: int
    reason: str
    headers: list[tuple[str, str]]


def backend_env(
    request: CgiRequest, project_root: Path, extra: Mapping[str, str]
) -> dict[str, str]:
    """The server's own environment (the hook is part of the server) plus the CGI variables.

    Inherited GIT_* variables are dropped so they cannot redirect http-backend or receive-pack
    to another repository; builds get their own clean environment later.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_PROJECT_ROOT": str(project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path_info,
            "QUERY_STRING": request.query,
            "CONTENT_TYPE": request.content_type,
            "REMOTE_ADDR": request.remote_addr,
        }
    )
    for name in ("CONTENT_LENGTH", "HTTP_CONTENT_ENCODING", "HTTP_GIT_PROTOCOL"):
        env.pop(name, None)
    if request.content_length is not None:
        env["CONTENT_LENGTH"] = str(request.content_length)
    if request.content_encoding:
        env["HTTP_CONTENT_ENCODING"] = request.content_encoding
    if request.git_protocol:
        env["HTTP_GIT_PROTOCOL"] = request.git_protocol
    env.update(extra)
    return env


def run_backend(
    request: CgiRequest,
    body: Iterable[bytes],
    env: Mapping[str, str],
    start_response: Callable[[CgiHead], None],
    write: Callable[[bytes], None],
) -> int:
    """Run http-backend; call `start_response` once its headers are in, then `write` each block."""
    proc = subprocess.Popen(
        ["git", "http-backend"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=dict(env),
        bufsize=0,
    )
    assert proc.stdin is not None and proc.stdout is not None
    pump_error: list[BaseException] = []
    pump = threading.Thread(
        target=_pump, args=(body, proc.stdin, pump_error), name="request-body", daemon=True
    )
    pump.start()
    try:
        out_fd = proc.stdout.fileno()
        head, rest = _read_head(out_fd)
        start_response(head)
        if rest:
            write(rest)
        while data := os.read(out_fd, READ_BLOCK):
            write(data)
    except BaseException:
        proc.kill()
        raise
    finally:
        pump.join(timeout=5)
        proc.stdout.close()
        code = proc.wait()
    if pump_error:
        raise pump_error[0]
    return code


def _pump(body: Iterable[bytes], sink: BinaryIO, errors: list[BaseException]) -> None:
    try:
        for block in body:
            view = memoryview(block)
            while view:  # a raw pipe may take part of a block
                written = sink.write(view)
                view = view[written or 0 :]
    except BrokenPipeError:
        pass  # the backend stopped reading (it answered early); its response says why
    except Exception as exc:  # noqa: BLE001 - handed to the request thread
        errors.append(exc)
    finally:
        with contextlib.suppress(BrokenPipeError):
            sink.close()


def _read_head(fd: int) -> tuple[CgiHead, bytes]:
    """Read CGI response headers; return them and any body bytes read past them."""
    buf = b""
    while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
        data = os.read(fd, READ_BLOCK)
        if not data:
            break
        buf += data
        if len(buf) > 64 * 1024:
            break
    sep = b"\r\n\r\n" if b"\r\n\r\n" in buf else b"\n\n"
    raw_head, _, rest = buf.partition(sep)
    status, reason, headers = 200, "OK", []
    for line in raw_head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        value = value.strip()
        if name.lower() == "status":
            code, _, reason = value.partition(" ")
            status = int(code)
        elif name:
            headers.append((name, value))
    if not raw_head:
        status, reason = 502, "Bad Gateway"
    return CgiHead(status, reason or "OK", headers), rest
