"""The hardened front end, the build limits and the secrets, against a real `cedarbox serve`.

Framing and the front end's limits are driven over raw sockets (so that no client library
tidies the input up), with small settings values instead of long waits. The build limits are
hit by real builds whose app code prints too much, and the secrets are looked for by a probe
app's bin/post_compile, which prints its own environment and that of every process above it
up to the server, and by its release command, which prints the dyno's.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.apps import MINIMAL, NOOP
from tests.support.gitutil import GitResult, check, commit, git, make_repo, write_files
from tests.support.procs import find_hook
from tests.support.server import CEDARBOX, Server, ServerFactory, isolated_env, noop_build_env

ANSWER_TIMEOUT = 30.0  # seconds a raw exchange may take before it counts as a hang
MB = 1024 * 1024


def address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def exchange(where: tuple[str, int], data: bytes, timeout: float = ANSWER_TIMEOUT) -> bytes:
    """Send `data` (not half-closed: the server must decide alone) and read until it closes."""
    with socket.create_connection(where, timeout=timeout) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received.extend(chunk)
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open: {bytes(received)!r}") from None
    return bytes(received)


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), answer[:200]
    return int(answer.split(b" ", 2)[1])


# Framing ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from tests.support.server import start_server

    srv = start_server(tmp_path_factory.mktemp("front"), **noop_build_env())
    yield srv
    srv.stop()


FRAMING_CASES = {
    "length-and-chunked": (
        b"POST /x.git/git-receive-pack HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"both Content-Length and Transfer-Encoding",
    ),
    "xchunked": (
        b"POST /api/apps HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: xchunked\r\n\r\n"
        b"0\r\n\r\n",
        b"Unsupported Transfer-Encoding 'xchunked'",
    ),
    "chunked-twice": (
        b"POST /api/apps HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"Unsupported Transfer-Encoding",
    ),
    "two-lengths": (
        b"POST /api/apps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
        b"Content-Length: 30\r\n\r\nabc",
        b"differing Content-Lengths: 3, 30",
    ),
    "obs-fold": (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: a\r\n b\r\n\r\n",
        b"obs-fold",
    ),
    "to-an-app": (
        b"GET / HTTP/1.1\r\nHost: some-app.localhost\r\nContent-Length: 1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"both Content-Length and Transfer-Encoding",
    ),
}


@pytest.mark.parametrize("case", FRAMING_CASES)
def test_ambiguous_framing_gets_a_400_with_the_reason_and_the_connection_closes(
    front: Server, case: str
) -> None:
    data, said = FRAMING_CASES[case]
    # A second request behind the first: it must never be answered (the connection closes).
    answer = exchange(address(front), data + b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status_of(answer) == 400, answer
    assert b"BAD_REQUEST_FRAMING: " in answer and said in answer, answer
    assert b"Connection: close" in answer or answer.count(b"HTTP/1.") == 1
    assert answer.count(b"HTTP/1.1 ") == 1, answer


def test_a_clean_request_on_the_same_server_still_works(front: Server) -> None:
    answer = exchange(
        address(front), b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert status_of(answer) == 200 and b"cedarbox is running" in answer


ECHO_APP = {
    **NOOP,
    "Procfile": "web: python3 echo.py\n",
    "echo.py": (
        "import http.server, os\n"
        "class Echo(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = (self.headers.get('X-Request-Id') or '').encode()\n"
        "        self.send_response(200)\n"
        "        self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "    def log_message(self, *args):\n"
        "        pass\n"
        "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), Echo).serve_forever()\n"
    ),
}


def test_request_ids_reach_the_dyno_and_the_log_only_in_herokus_shape(
    front: Server, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "echo", front.env, ECHO_APP)
    pushed = git(repo, front.env, "push", front.git_url("echo-app"), "main")
    assert pushed.returncode == 0 and "Verifying deploy... done." in pushed.stderr, pushed.output
    host, port = address(front)
    good = "Ab0+/=-" * 5
    bad = [
        "short",
        "x" * 201,
        "has spaces in it, twenty+",
        'abcdefghijklmnopqrstu" at=forged',
    ]
    seen = {}
    for value in [good, *bad]:
        conn = http.client.HTTPConnection(host, port, timeout=ANSWER_TIMEOUT)
        sent = {"Host": f"echo-app.localhost:{port}", "X-Request-Id": value}
        conn.request("GET", "/", headers=sent)
        response = conn.getresponse()
        assert response.status == 200
        seen[value] = response.read().decode()
        conn.close()
    assert seen[good] == good
    for value in bad:
        assert seen[value] != value and len(seen[value]) == 36, (value, seen[value])  # a uuid
    log_file = front.data_dir / "logs" / "echo-app.log"
    wanted = [f"request_id={id_} " for id_ in (good, *(seen[v] for v in bad))]
    deadline = time.monotonic() + 30  # the router writes its line once the response is sent
    while not all(w in log_file.read_text() for w in wanted) and time.monotonic() < deadline:
        time.sleep(0.05)
    log = log_file.read_text()
    for line in wanted:
        assert line in log
    for value in bad:
        assert value not in log


# The front end's limits -----------------------------------------------------------------------


def test_a_half_sent_head_gets_a_408_once_the_header_timeout_passes(
    server_factory: ServerFactory,
) -> None:
    srv = server_factory(CEDARBOX_HEADER_TIMEOUT="1", **noop_build_env())
    where = address(srv)
    # Half a head, then nothing.
    answer = exchange(where, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half")
    assert status_of(answer) == 408 and b"REQUEST_TIMEOUT: " in answer, answer
    assert b"CEDARBOX_HEADER_TIMEOUT" in answer
    # A head trickled in a byte at a time: each read gets data, the whole head still has one
    # deadline. The trickle would take 60 s; the server must close long before it ends.
    with socket.create_connection(where, timeout=ANSWER_TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        closed = False
        for _ in range(300):
            try:
                sock.sendall(b"z")
            except OSError:
                closed = True
                break
            time.sleep(0.2)
            sock.setblocking(False)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    closed = True
                    break
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
                sock.settimeout(ANSWER_TIMEOUT)
        assert closed, "a trickled head held the connection for the whole trickle"
        answer = read_until_closed(sock)
        assert not answer or status_of(answer) == 408, answer
    # An idle keep-alive connection is closed without an answer; nothing was asked.
    with socket.create_connection(where, timeout=ANSWER_TIMEOUT) as sock:
        assert read_until_closed(sock) == b""
    # And the server still answers a whole request at once.
    answer = exchange(where, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status_of(answer) == 200


def test_connections_over_the_cap_get_a_503_and_the_slot_frees_when_one_closes(
    server_factory: ServerFactory,
) -> None:
    srv = server_factory(CEDARBOX_MAX_CONNECTIONS="3", **noop_build_env())
    where = address(srv)
    held = [socket.create_connection(where, timeout=ANSWER_TIMEOUT) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"GET / HTTP/1.1\r\n")  # half-sent: each holds a thread
        answer = exchange(where, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status_of(answer) == 503, answer
        assert b"TOO_MANY_CONNECTIONS: " in answer and b"CEDARBOX_MAX_CONNECTIONS" in answer
        held.pop().close()
        request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        for _ in range(200):  # the freed thread notices the close and leaves its slot
            answer = exchange(where, request)
            if status_of(answer) == 200:
                break
            time.sleep(0.05)
        assert status_of(answer) == 200, answer
    finally:
        for sock in held:
            sock.close()


# Build limits ---------------------------------------------------------------------------------

FLOOD = (
    "#!/bin/sh\n"
    "echo 'before the flood'\n"
    "head -c 200000000 /dev/zero | tr '\\0' x | fold -w 99\n"  # 200 MB in 100-byte lines
    "head -c 50000000 /dev/zero | tr '\\0' y\n"  # one 50 MB line
    "echo\n"
    "echo 'after the flood'\n"
)


def peak_memory(server_pid: int, stop: threading.Event, peaks: list[int]) -> None:
    """The highest VmHWM (kB) of the server's pre-receive hook while it runs."""
    while not stop.is_set():
        hook = find_hook(server_pid)
        if hook is not None:
            try:
                status = Path(f"/proc/{hook.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]))
        time.sleep(0.05)


def test_a_flood_of_output_is_capped_with_one_line_and_the_build_goes_on(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = server_factory(CEDARBOX_BUILD_OUTPUT_MAX_BYTES=str(MB), CEDARBOX_CACHE_MAX_BYTES="1000")
    repo = make_repo(tmp_path / "flood", srv.env, {**MINIMAL, "bin/pre_compile": FLOOD})
    stop, peaks = threading.Event(), list[int]()
    sampler = threading.Thread(target=peak_memory, args=(srv.proc.pid, stop, peaks))
    sampler.start()
    try:
        pushed = git(repo, srv.env, "push", srv.git_url("flood-app"), "main")
    finally:
        stop.set()
        sampler.join()
    lines = pushed.remote_lines()
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    assert "       before the flood" in lines
    dropped = [line for line in lines if "Output limit reached" in line]
    assert dropped == [
        " !     Output limit reached: this build printed more than 1 MB; the rest of its "
        "output was dropped (the build goes on; CEDARBOX_BUILD_OUTPUT_MAX_BYTES sets the limit)."
    ]
    assert not any("after the flood" in line or "yyyy" in line for line in lines)
    assert "       Released v1" in lines
    # The cache was over its limit: not saved, said once.
    [cache_line] = [line for line in lines if "Cache not saved" in line]
    assert "over this server's limit of 1000 bytes per app (CEDARBOX_CACHE_MAX_BYTES)" in cache_line
    assert not (srv.data_dir / "cache" / "flood-app" / "current").exists()
    # Stored as streamed: the transcript is the capped output plus the platform's lines.
    [transcript] = (srv.data_dir / "builds" / "flood-app").glob("*.log")
    assert MB // 2 < transcript.stat().st_size < MB + 64 * 1024
    assert "Output limit reached" in transcript.read_text()
    # The hook never held the flood: its peak is that of a hook with nothing to print, far
    # below the 250 MB printed (the old hook reached 387 MB on this).
    assert peaks, "the hook was never seen"
    print(f"the hook's peak memory: {max(peaks)} kB")
    assert max(peaks) < 150 * 1024, f"the hook's peak memory was {max(peaks)} kB"


def test_the_release_phase_output_is_capped_too(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = server_factory(CEDARBOX_BUILD_OUTPUT_MAX_BYTES=str(MB), **noop_build_env())
    flood = "head -c 30000000 /dev/zero | tr '\\0' r | fold -w 49; echo release-flood-over"
    app = {**NOOP, "Procfile": f'release: sh -c "{flood}"\n'}
    repo = make_repo(tmp_path / "release-flood", srv.env, app)
    pushed = git(repo, srv.env, "push", srv.git_url("release-flood"), "main")
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    lines = pushed.remote_lines()
    assert sum("Output limit reached" in line for line in lines) == 1
    assert "release-flood-over" not in pushed.stderr
    assert "Waiting for release.... done." in lines
    [transcript] = (srv.data_dir / "builds" / "release-flood").glob("*.log")
    assert MB // 2 < transcript.stat().st_size < MB + 64 * 1024
    # The app's log holds the same lines, each with its timestamp and source: bounded too.
    assert (srv.data_dir / "logs" / "release-flood.log").stat().st_size < 3 * MB


def test_builds_past_the_retention_are_forgotten_with_their_files(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = server_factory(CEDARBOX_BUILD_RETENTION="2", **noop_build_env())
    repo = make_repo(tmp_path / "many", srv.env, NOOP)
    for n in range(4):
        if n:
            write_files(repo, {"app.py": f"print({n})\n"})
            commit(repo, srv.env, f"change {n}")
        check(git(repo, srv.env, "push", srv.git_url("many-builds"), "main"))
    builds = json.loads(srv.cli("builds", "-a", "many-builds", "--json").stdout)
    assert len(builds) == 2
    files = sorted(p.name for p in (srv.data_dir / "builds" / "many-builds").iterdir())
    assert files == sorted(f"{b['id']}{suffix}" for b in builds for suffix in (".json", ".log"))
    assert "Released v4" in srv.cli("builds:output", "-a", "many-builds").stdout


# Secrets --------------------------------------------------------------------------------------

API_KEY = "probe-secret-8d1f3c7a2b"


def probe_script(server_pid: int) -> str:
    """bin/post_compile: its environment, then each ancestor's up to the server (excluded)."""
    return (
        "#!/bin/sh\n"
        "echo PROBE-ENV\n"
        "env\n"
        "pid=$PPID\n"
        f'while [ "$pid" -gt 1 ] && [ "$pid" != {server_pid} ]; do\n'
        '  echo "PROBE-PROC $pid $(tr "\\0" " " < /proc/$pid/cmdline | cut -c1-80)"\n'
        "  tr '\\0' '\\n' < /proc/$pid/environ\n"
        "  pid=$(sed 's/.*) //' /proc/$pid/stat | cut -d' ' -f2)\n"
        "done\n"
        'echo "PROBE-END $pid"\n'
    )


def authed(url: str, password: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://user:{password}@{parts.netloc}{parts.path}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_build_hook_or_git_process_sees_the_api_key_and_the_state_is_private(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    # Unsandboxed, so that the probe can walk /proc up to the server: what it checks is the
    # environment each process was given (the sandbox would hide those processes anyway).
    srv = server_factory(CEDARBOX_API_KEY=API_KEY, CEDARBOX_SANDBOX="off")
    app = {
        **MINIMAL,
        "Procfile": MINIMAL["Procfile"] + "release: env\n",
        "bin/post_compile": probe_script(srv.proc.pid),
    }
    repo = make_repo(tmp_path / "probe", srv.env, app)
    url = authed(srv.git_url("probe-app"), API_KEY)
    pushed: GitResult = git(repo, srv.env, "push", url, "main")
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    lines = pushed.remote_lines()
    walked = [line for line in lines if line.strip().startswith("PROBE-PROC")]
    # The build's parent (the hook), git's hook runner, receive-pack and http-backend at least.
    assert len(walked) >= 3, walked
    assert any("gitserver.receive.hook" in line for line in walked), walked
    assert f"       PROBE-END {srv.proc.pid}" in lines  # every process up to the server
    assert any(line.strip().startswith("DYNO=release.") for line in lines)  # the release env
    assert API_KEY not in pushed.output
    # The state: the data directory 0700, the database and its journals 0600.
    assert mode(srv.data_dir) == 0o700
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        if (srv.data_dir / name).exists():
            assert mode(srv.data_dir / name) == 0o600, name


def test_the_api_key_comes_from_a_file_never_from_argv(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    key_file.chmod(0o600)
    srv = server_factory("--api-key-file", str(key_file), **noop_build_env())
    cmdline = Path(f"/proc/{srv.proc.pid}/cmdline").read_bytes()
    assert API_KEY.encode() not in cmdline
    assert API_KEY.encode() not in Path(f"/proc/{srv.proc.pid}/environ").read_bytes()
    repo = make_repo(tmp_path / "src", srv.env, NOOP)
    assert git(repo, srv.env, "push", srv.git_url("keyed"), "main").returncode != 0
    check(git(repo, srv.env, "push", authed(srv.git_url("keyed"), API_KEY), "main"))
    import subprocess

    refused = subprocess.run(
        [*CEDARBOX, "--data-dir", str(tmp_path / "d"), "serve", "--port", "0", "--api-key", "k"],
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "--api-key would show the key to every user" in refused.stderr
    assert "--api-key-file PATH" in refused.stderr and "CEDARBOX_API_KEY" in refused.stderr
    assert not os.path.exists(tmp_path / "d" / "server.json")
