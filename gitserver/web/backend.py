"""Run `git http-backend` as a CGI program and stream its response without buffering.

The request body is pumped into the backend from a thread while the response is read, so
a large push never sits in memory, and every byte the backend writes (the build's `remote:`
lines among them) reaches the client as soon as it is written.

The response head is held back until the first body byte (or the backend's end), so that a
request git could not parse, or whose body was broken, gets a 4xx with the reason instead
of an empty 200.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO

from gitserver.errors import CedarboxError
from gitserver.settings import SECRET_VARIABLES

READ_BLOCK = 64 * 1024
_STDERR_KEPT = 4096  # the end of git's stderr, for the error response


class BadGitRequest(CedarboxError):
    """git answered nothing and said why on stderr: the request was not git's protocol."""

    code = "BAD_GIT_REQUEST"
    http_status = 400


@dataclass(frozen=True)
class CgiRequest:
    """What http-backend needs to know about one request."""

    method: str
    path_info: str  # "/<app>.git/info/refs"
    query: str
    content_type: str
    content_encoding: str
    git_protocol: str
    # None: read the (de-chunked) body until EOF. The front end passes None: it checks the
    # length itself, and git 2.39's http-backend spins forever on a body shorter than
    # CONTENT_LENGTH.
    content_length: int | None
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
    to another repository; builds get their own clean environment later. The server's secrets
    (the API key) are dropped too: neither git nor the hook needs them.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_") and k not in SECRET_VARIABLES
    }
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


@cache
def http_backend_argv() -> list[str]:
    """git's http-backend program itself, not `git http-backend`.

    `git http-backend` is the git wrapper exec'ing libexec's git-http-backend: one process
    more per request. Measured during 8 concurrent builds on 2 CPUs, where every process
    start is slow, saving it took the p95 of `git ls-remote` from ~0.27 s to ~0.22 s.
    """
    try:
        exec_path = subprocess.run(
            ["git", "--exec-path"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ["git", "http-backend"]
    program = os.path.join(exec_path, "git-http-backend")
    return [program] if os.access(program, os.X_OK) else ["git", "http-backend"]


def run_backend(
    request: CgiRequest,
    body: Iterable[bytes],
    env: Mapping[str, str],
    start_response: Callable[[CgiHead], None],
    write: Callable[[bytes], None],
) -> int:
    """Run http-backend; call `start_response` once its headers are in, then `write` each block.

    Raises the body's own error (BadRequestBody, RequestTooLarge) or BadGitRequest, before
    anything was sent, when the body broke or git refused the request without answering.
    """
    proc = subprocess.Popen(
        http_backend_argv(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        bufsize=0,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    pump_error: list[BaseException] = []
    pump = threading.Thread(
        target=_pump, args=(body, proc.stdin, pump_error), name="request-body", daemon=True
    )
    pump.start()
    stderr_tail = bytearray()
    errors = threading.Thread(
        target=_drain_stderr, args=(proc.stderr, stderr_tail), name="git-stderr", daemon=True
    )
    errors.start()
    try:
        out_fd = proc.stdout.fileno()
        head, rest = _read_head(out_fd)
        if not rest:  # hold the head until the body starts: an error may replace it
            rest = os.read(out_fd, READ_BLOCK)
        # The pump records a body error before closing the backend's stdin, so any error is
        # known by the time the backend answers (it reads the whole request first).
        if pump_error or (not rest and head.status == 200):
            while os.read(out_fd, READ_BLOCK):  # let git finish (and clean up) on its own
                pass
            proc.wait()
            errors.join(timeout=5)
            if pump_error:
                raise pump_error[0]
            said = bytes(stderr_tail).decode("utf-8", "replace").strip()
            if said:
                raise BadGitRequest(
                    f"git could not process this {request.path_info.rsplit('/', 1)[-1]} "
                    f"request: {said}",
                    hint="Send git's smart HTTP protocol (use the git client).",
                )
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
        errors.join(timeout=5)
    if pump_error:
        raise pump_error[0]
    return code


def _drain_stderr(stream: BinaryIO, tail: bytearray) -> None:
    """Pass git's stderr on to the server's, keeping its end for an error response."""
    with contextlib.suppress(OSError, ValueError):
        while data := os.read(stream.fileno(), READ_BLOCK):
            tail.extend(data)
            del tail[:-_STDERR_KEPT]
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.buffer.write(data)
                sys.stderr.flush()
    with contextlib.suppress(OSError):
        stream.close()


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
