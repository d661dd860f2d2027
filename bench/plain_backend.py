"""The benchmark baseline: plain `git http-backend` behind the smallest reasonable front end.

No cedarbox code: standard library only. One thread per connection (HTTP/1.1 keep-alive),
each git request runs `git http-backend` as a CGI program; the request body (de-chunked if
chunked) is streamed into it from a thread while its response is streamed back chunked.
Repositories under --root must already exist with `http.receivepack=true`.

    python bench/plain_backend.py --root DIR [--port 0]

prints `plain-backend listening on http://127.0.0.1:PORT` as its first line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO

BLOCK = 64 * 1024
# libexec's git-http-backend, as cedarbox runs it (gitserver.web.backend.http_backend_argv),
# so that the baseline spawns the same processes.
_EXEC_PATH = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout.strip()
HTTP_BACKEND = (
    [os.path.join(_EXEC_PATH, "git-http-backend")]
    if _EXEC_PATH and os.access(os.path.join(_EXEC_PATH, "git-http-backend"), os.X_OK)
    else ["git", "http-backend"]
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: PlainServer

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_ADDR": self.client_address[0],
        }
        for header, var in (
            ("Content-Length", "CONTENT_LENGTH"),
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
        ):
            if self.headers.get(header):
                env[var] = self.headers[header]
        proc = subprocess.Popen(
            HTTP_BACKEND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            bufsize=0,
        )
        assert proc.stdin is not None and proc.stdout is not None
        pump = threading.Thread(target=self._pump, args=(proc.stdin,), daemon=True)
        pump.start()
        out = proc.stdout.fileno()
        head = b""
        while b"\r\n\r\n" not in head and b"\n\n" not in head:
            data = os.read(out, BLOCK)
            if not data:
                break
            head += data
        sep = b"\r\n\r\n" if b"\r\n\r\n" in head else b"\n\n"
        raw, _, rest = head.partition(sep)
        status, headers = 200, []
        for line in raw.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        data = rest or os.read(out, BLOCK)
        while data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            data = os.read(out, BLOCK)
        pump.join()
        proc.stdout.close()
        proc.wait()
        self.wfile.write(b"0\r\n\r\n")

    def _pump(self, sink: BinaryIO) -> None:
        try:
            for block in self._body():
                view = memoryview(block)
                while view:  # an unbuffered pipe may take part of a block
                    view = view[sink.write(view) or 0 :]
        except BrokenPipeError:
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                sink.close()

    def _body(self) -> Iterator[bytes]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while size := int(self.rfile.readline().split(b";")[0], 16):
                while size:
                    data = self.rfile.read(min(BLOCK, size))
                    if not data:
                        raise ConnectionError("body ended early")
                    size -= len(data)
                    yield data
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
        else:
            size = int(self.headers.get("Content-Length") or 0)
            while size:
                data = self.rfile.read(min(BLOCK, size))
                if not data:
                    raise ConnectionError("body ended early")
                size -= len(data)
                yield data


class PlainServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, root: str) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.root = root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="directory holding the bare repositories")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = PlainServer(args.port, os.path.abspath(args.root))
    print(f"plain-backend listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
