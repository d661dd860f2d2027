"""Bad input over HTTP: fuzzed git requests, huge headers and bodies, app names that escape.

Everything goes to a real `cedarbox serve` on 127.0.0.1:0 through raw sockets (so that nothing
in a client library tidies the input up), and the oracle is the same for every request: an
answer arrives promptly, it is never a 5xx, and a refusal (4xx) carries a message. After the
fuzz the server must be as it was: alive, its threads, descriptors and child processes back
to their baseline, the app's refs, objects and quarantine directories untouched, and a normal
`git push` and `git ls-remote` working at once.

Bad app names in URLs are also covered by tests/e2e/test_receive.py
(test_bad_app_names_are_a_4xx_never_a_path); the cases here add NUL bytes, absolute and
double-slash paths, unicode and the CLI.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.apps import MINIMAL, NOOP
from tests.support.gitutil import check, commit, git, head, make_repo, write_files
from tests.support.server import Server, noop_build_env, start_server

APP = "fuzz-app"
FUZZ_BATCH = 20  # requests per hypothesis example, sent concurrently
FUZZ_WORKERS = 6  # connections open at once
# SQLite keeps the descriptor of a closed connection open for reuse while another connection
# of the process holds a lock on the file (the server's own handle always does, in WAL mode),
# so each connection open at once may leave one descriptor behind: bounded, not a leak.
SPARE_FDS = FUZZ_WORKERS + 2
FUZZ_EXAMPLES = 520  # x FUZZ_BATCH = 10,400 requests
FUZZ_MIN_INPUTS = 10_000
ANSWER_TIMEOUT = 20.0  # seconds a single request may take before it counts as a hang
ZERO = "0" * 40


# Raw HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRequest:
    """One request as bytes; `half_close` shuts our side after sending (EOF for a short body)."""

    data: bytes
    label: str


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    head: bytes  # the status line and headers
    body: bytes
    seconds: float


def address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def send_raw(where: tuple[str, int], data: bytes, timeout: float = ANSWER_TIMEOUT) -> Answer:
    """Send `data`, half-close, read until the server closes; parse the (last) status line."""
    started = time.monotonic()
    with socket.create_connection(where, timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before reading everything: read the answer
        received = bytearray()
        try:
            while chunk := sock.recv(65536):
                received.extend(chunk)
        except ConnectionResetError:
            pass
        except TimeoutError:
            raise AssertionError(
                f"no complete answer within {timeout}s (got {bytes(received[:300])!r})"
            ) from None
    return parse_answer(bytes(received), time.monotonic() - started)


_STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3}) ?([^\r\n]*)\r\n")


def parse_answer(raw: bytes, seconds: float) -> Answer:
    rest = raw
    while True:  # skip interim 1xx answers
        match = _STATUS.match(rest)
        if match is None:
            raise AssertionError(f"not an HTTP response: {raw[:300]!r}")
        head, _, body = rest.partition(b"\r\n\r\n")
        status = int(match[1])
        if 100 <= status < 200:
            rest = body
            continue
        if b"transfer-encoding: chunked" in head.lower():
            body = dechunk(body)
        return Answer(status, match[2].decode("latin-1"), head, body, seconds)


def dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


def request(
    method: str,
    path: str | bytes,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    *,
    content_length: bool = True,
) -> bytes:
    target = path.encode("latin-1") if isinstance(path, str) else path
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [f"{k}: {v}".encode("latin-1") for k, v in headers or []]
    if content_length and body:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def assert_clear(answer: Answer, label: str) -> None:
    """The oracle: never a 5xx; a refusal says why."""
    assert answer.status < 500, f"{label}: {answer.status} {answer.reason} {answer.body[:300]!r}"
    if answer.status < 400:
        return
    if label.startswith("HEAD "):  # no body by definition: the message's length must be announced
        announced = re.search(rb"(?im)^content-length: *([1-9][0-9]*)\r?$", answer.head)
        assert announced, f"{label}: {answer.status} announces no message"
    else:
        assert answer.body.strip(), f"{label}: {answer.status} without a message"


# The server's state, from the outside -----------------------------------------------------


@dataclass(frozen=True)
class ProcState:
    threads: int
    fds: int
    children: int
    child_commands: tuple[str, ...] = ()  # for the failure message


def proc_state(pid: int) -> ProcState:
    commands = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                state = stat.rsplit(")", 1)[1].split()[0]
                commands.append(f"[{state}] {command.decode(errors='replace').strip()}")
    return ProcState(
        threads=len(os.listdir(f"/proc/{pid}/task")),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        children=len(commands),
        child_commands=tuple(commands),
    )


def settle(pid: int, baseline: ProcState, seconds: float = 15.0) -> ProcState:
    """Wait until the server is back near its baseline (or give up and return what it is)."""
    deadline = time.monotonic() + seconds
    while True:
        now = proc_state(pid)
        near = (
            now.threads <= baseline.threads + 2
            and now.fds <= baseline.fds + SPARE_FDS
            and now.children <= baseline.children
        )
        if near or time.monotonic() > deadline:
            return now
        time.sleep(0.2)


def repo_snapshot(server: Server, app: str) -> dict[str, object]:
    """What garbage must not change: refs, object counts, quarantine and temporary files."""
    bare = server.data_dir / "repos" / f"{app}.git"
    refs = check(git(bare, server.env, "for-each-ref", "--format=%(refname) %(objectname)"))
    counts = check(git(bare, server.env, "count-objects", "-v")).stdout
    stray = sorted(
        str(p.relative_to(bare))
        for p in (bare / "objects").rglob("*")
        if p.name.startswith(("incoming-", "tmp_", "tmp-")) or "incoming-" in str(p)
    )
    return {"refs": refs.stdout, "objects": counts, "stray": stray}


# Fuzz strategies --------------------------------------------------------------------------

HEX = "0123456789abcdef"
shas = st.one_of(st.just(ZERO), st.text(HEX, min_size=40, max_size=40))
refnames = st.sampled_from(
    [
        "refs/heads/main",
        "refs/heads/master",
        "refs/heads/feature",
        "refs/tags/v1",
        "refs/heads/../../x",
        "HEAD",
        "refs/heads/a\x00b",
        "refs/heads/" + "n" * 300,
    ]
)
capabilities = st.lists(
    st.sampled_from(
        [
            "report-status",
            "report-status-v2",
            "side-band-64k",
            "quiet",
            "atomic",
            "ofs-delta",
            "push-options",
            "agent=git/2.39",
            "object-format=sha1",
            "object-format=sha256",
            "thin-pack",
            "multi_ack_detailed",
            "no-done",
        ]
    ),
    max_size=5,
).map(" ".join)


def pkt(payload: bytes) -> bytes:
    return f"{len(payload) + 4:04x}".encode() + payload


@st.composite
def pkt_lines(draw: st.DrawFn, rpc: str) -> bytes:
    """A pkt-line stream that starts out valid for `rpc`, then is corrupted (or not)."""
    items: list[bytes] = []
    if rpc == "git-receive-pack":
        for i in range(draw(st.integers(0, 3))):
            old, new, ref = draw(shas), draw(shas), draw(refnames)
            line = f"{old} {new} {ref}"
            if i == 0:
                line += "\x00" + draw(capabilities)
            items.append(pkt(line.encode() + b"\n"))
        if draw(st.booleans()):
            items.append(b"0000")
            for _ in range(draw(st.integers(0, 2))):
                items.append(pkt(draw(st.sampled_from([b"ci=1", b"x" * 100, b"\xff\xfe"]))))
        items.append(draw(st.sampled_from([b"0000", b"0001", b"", b"0002"])))
        if draw(st.booleans()):
            items.append(draw(pack_data()))
    else:
        v2 = draw(st.booleans())
        if v2:
            items.append(pkt(draw(st.sampled_from([b"command=ls-refs\n", b"command=fetch\n"]))))
            items.append(pkt(b"agent=fuzz\n"))
            items.append(b"0001")
            for _ in range(draw(st.integers(0, 3))):
                arg = draw(st.sampled_from(["peel", "symrefs", "ref-prefix refs/", "ofs-delta"]))
                items.append(pkt(arg.encode() + b"\n"))
        for i in range(draw(st.integers(0, 3))):
            line = f"want {draw(shas)}"
            if i == 0:
                line += " " + draw(capabilities)
            items.append(pkt(line.encode() + b"\n"))
        if draw(st.booleans()):
            items.append(b"0000")
        for _ in range(draw(st.integers(0, 2))):
            items.append(pkt(f"have {draw(shas)}\n".encode()))
        if draw(st.booleans()):
            items.append(pkt(b"done\n"))
        items.append(draw(st.sampled_from([b"0000", b"0001", b""])))
    return draw(corrupt(b"".join(items)))


@st.composite
def pack_data(draw: st.DrawFn) -> bytes:
    """A PACK header with a plausible or absurd version and object count, then garbage."""
    version = draw(st.sampled_from([2, 3, 0, 99]))
    count = draw(st.sampled_from([0, 1, 3, 0xFFFFFFFF]))
    header = b"PACK" + version.to_bytes(4, "big") + count.to_bytes(4, "big")
    entry = draw(st.binary(max_size=64))
    trailer = draw(st.sampled_from([b"", b"\x00" * 20, bytes(range(20))]))
    return header + entry + trailer


@st.composite
def corrupt(draw: st.DrawFn, data: bytes) -> bytes:
    """Leave valid, or truncate, flip bytes, break a length prefix, or splice in garbage."""
    how = draw(st.sampled_from(["none", "truncate", "flip", "length", "splice", "huge"]))
    if how == "none" or not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    if how == "truncate":
        return data[:at]
    if how == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    if how == "length":
        bad = draw(
            st.sampled_from([b"zzzz", b"000", b"0003", b"fff", b"-001", b"\x00\x00\x00\x00"])
        )
        return bad + data[4:]
    if how == "huge":
        return draw(st.sampled_from([b"ffff", b"fff0", b"8000"])) + data[4:]
    return data[:at] + draw(st.binary(min_size=1, max_size=40)) + data[at:]


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> tuple[bytes, str]:
    """The body in chunks, well-formed or broken (bad sizes, missing CRLF, no last chunk)."""
    pieces, rest = [], body
    while rest:
        size = draw(st.integers(1, max(1, len(rest))))
        pieces.append(rest[:size])
        rest = rest[size:]
    wire = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    how = draw(st.sampled_from(["ok", "ok", "badsize", "nocrlf", "nolast", "huge", "ext"]))
    if how == "badsize":
        wire = b"zz\r\n" + wire
    elif how == "nocrlf":
        wire = wire.replace(b"\r\n", b"", 2)
    elif how == "nolast":
        wire = wire[: -len(b"0\r\n\r\n")]
    elif how == "huge":
        wire = b"ffffffffffffffff\r\n" + wire
    elif how == "ext":
        wire = wire.replace(b"\r\n", b";x=" + b"y" * 5000 + b"\r\n", 1)
    return wire, how


ODD_PATHS = [
    "/{app}.git/info/refs",
    "/{app}.git/HEAD",
    "/{app}.git/objects/info/packs",
    "/{app}.git/",
    "/{app}.git",
    "//{app}.git/info/refs",
    "/{app}.git/../../etc/passwd",
    "/{app}.git/info/refs/../../x",
    "/../{app}.git/info/refs",
    "/%2e%2e.git/info/refs",
    "/{app}%00.git/info/refs",
    "/\xff\xfe.git/info/refs",
    "/" + "a" * 5000 + ".git/info/refs",
    "/api/apps/..%2f..%2fetc",
    "/api/apps/{app}",
    "/api/../../etc/passwd",
    "/nowhere",
    "*",
]
SERVICE_QUERIES = [
    "?service=git-upload-pack",
    "?service=git-receive-pack",
    "",
    "?service=",
    "?service=git-upload-pack&service=git-receive-pack",
    "?service=git-receive-pack%00",
    "?service=../../bin/sh",
    "?service=" + "x" * 3000,
    "?%zz=%",
]


@st.composite
def fuzz_requests(draw: st.DrawFn) -> RawRequest:
    """A request that reaches deep: mostly valid paths and headers around a corrupted body."""
    app = draw(st.sampled_from([APP, APP, APP, "no-such-app", "Bad_Name"]))
    kind = draw(st.sampled_from(["rpc", "rpc", "rpc", "advert", "odd"]))
    headers: list[tuple[str, str]] = []
    body = b""
    if kind == "advert":
        method = draw(st.sampled_from(["GET", "GET", "HEAD", "POST"]))
        path = f"/{app}.git/info/refs" + draw(st.sampled_from(SERVICE_QUERIES))
        if draw(st.booleans()):
            headers.append(("Git-Protocol", draw(st.sampled_from(["version=2", "version=9", "x"]))))
    elif kind == "odd":
        method = draw(st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"]))
        path = draw(st.sampled_from(ODD_PATHS)).format(app=app)
        path += draw(st.sampled_from(SERVICE_QUERIES))
        body = draw(st.binary(max_size=200))
    else:
        rpc = draw(st.sampled_from(["git-receive-pack", "git-upload-pack"]))
        method = draw(st.sampled_from(["POST", "POST", "POST", "GET"]))
        path = f"/{app}.git/{rpc}"
        content_type = draw(
            st.sampled_from([f"application/x-{rpc}-request", "text/plain", "", "application/x-"])
        )
        if content_type:
            headers.append(("Content-Type", content_type))
        if rpc == "git-upload-pack" and draw(st.booleans()):
            headers.append(("Git-Protocol", "version=2"))
        body = draw(pkt_lines(rpc))
        if draw(st.integers(0, 9)) == 0:
            headers.append(("Content-Encoding", "gzip"))
            if draw(st.booleans()):
                body = gzip.compress(body, mtime=0)
    framing = draw(st.sampled_from(["length", "length", "chunked", "short", "long", "bad"]))
    label = f"{method} {path[:80]} framing={framing}"
    if framing == "chunked" and body:
        wire, how = draw(chunked(body))
        headers.append(("Transfer-Encoding", "chunked"))
        return RawRequest(request(method, path, headers, wire, content_length=False), label + how)
    if framing == "short" and body:  # declares more than it sends, then EOF
        headers.append(("Content-Length", str(len(body) + draw(st.integers(1, 10**6)))))
        return RawRequest(request(method, path, headers, body, content_length=False), label)
    if framing == "long" and body:  # sends more than it declares: the rest is a "next request"
        cut = draw(st.integers(0, len(body)))
        headers.append(("Content-Length", str(cut)))
        return RawRequest(request(method, path, headers, body, content_length=False), label)
    if framing == "bad":
        value = draw(st.sampled_from(["-1", "abc", "1e3", "99999999999999999999", " 4", "0x10"]))
        headers.append(("Content-Length", value))
        return RawRequest(request(method, path, headers, body, content_length=False), label)
    return RawRequest(request(method, path, headers, body), label)


# Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module, with the app already pushed to (on a non-deploy branch).

    Its builds use the no-op buildpack: what is tested is that a real push still works after
    the fuzz, not how the app builds.

    Apps are not auto-created: a fuzzed request for `no-such-app` that happens to be git's
    well-formed first request would otherwise (rightly) create it. The refusal path is what
    is fuzzed here; auto-creation is covered by tests/e2e/test_receive.py.
    """
    tmp = tmp_path_factory.mktemp("bad-http")
    srv = start_server(tmp, "--no-auto-create", **noop_build_env())
    srv.cli("apps:create", APP)
    repo = make_repo(tmp / "src", srv.env, MINIMAL)
    check(git(repo, srv.env, "push", srv.git_url(APP), "main:stable"))
    yield srv
    srv.stop()


# Tests ------------------------------------------------------------------------------------


def test_fuzzed_git_requests_never_crash_hang_or_change_the_repository(
    fuzz_server: Server, tmp_path: Path
) -> None:
    """>= 10,000 corrupted git requests: each gets a clear answer, and nothing is left behind.

    Proves: no 5xx and no silent refusal for any of them, no request hangs, the server's
    threads, descriptors and git children return to baseline, the app's refs and objects are
    unchanged, no quarantine or temporary pack survives, garbage creates no app, and a real
    push and ls-remote work straight after.
    """
    where = address(fuzz_server)
    pid = fuzz_server.proc.pid
    before = repo_snapshot(fuzz_server, APP)
    baseline = proc_state(pid)
    sent = 0
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    pool = ThreadPoolExecutor(max_workers=FUZZ_WORKERS)

    def one(item: RawRequest) -> None:
        nonlocal sent
        answer = send_raw(where, item.data)
        assert_clear(answer, item.label)
        with lock:
            sent += 1
            statuses[answer.status] = statuses.get(answer.status, 0) + 1

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(fuzz_requests(), min_size=FUZZ_BATCH, max_size=FUZZ_BATCH))
    def batch(items: list[RawRequest]) -> None:
        for future in [pool.submit(one, item) for item in items]:
            future.result()

    started = time.monotonic()
    try:
        batch()
    finally:
        pool.shutdown(wait=True)
    elapsed = time.monotonic() - started
    print(f"fuzz: {sent} requests in {elapsed:.1f}s, statuses {sorted(statuses.items())}")
    assert sent >= FUZZ_MIN_INPUTS
    assert 200 in statuses and any(400 <= s < 500 for s in statuses), statuses

    assert fuzz_server.proc.poll() is None, "the server died"
    after_state = settle(pid, baseline)
    assert after_state.children <= baseline.children, f"git processes left: {after_state}"
    assert after_state.threads <= baseline.threads + 2, (baseline, after_state)
    assert after_state.fds <= baseline.fds + SPARE_FDS, (baseline, after_state)
    assert repo_snapshot(fuzz_server, APP) == before
    bare = fuzz_server.data_dir / "repos" / f"{APP}.git"
    fsck = git(bare, fuzz_server.env, "fsck", "--no-progress")
    assert fsck.returncode == 0 and "error" not in fsck.output, fsck.output
    assert sorted(p.name for p in (fuzz_server.data_dir / "repos").iterdir()) == [f"{APP}.git"]
    apps = json.loads(fuzz_server.cli("apps", "--json").stdout)
    assert [a["name"] for a in apps] == [APP]

    repo = make_repo(tmp_path / "after", fuzz_server.env, NOOP)
    write_files(repo, {"after.txt": "still works\n"})
    sha = commit(repo, fuzz_server.env, "after the fuzz")
    started = time.monotonic()
    pushed = git(repo, fuzz_server.env, "push", fuzz_server.git_url(APP), "main", timeout=120)
    assert pushed.returncode == 0, pushed.output
    assert "Released v1" in pushed.stderr
    listed = check(git(repo, fuzz_server.env, "ls-remote", fuzz_server.git_url(APP)))
    assert f"{sha}\trefs/heads/main" in listed.stdout
    assert head(repo, fuzz_server.env) == sha
    assert time.monotonic() - started < 90


HUGE_HEADER_CASES = [
    pytest.param(
        request("GET", "/", [("X-Big", "a" * 100_000)]), (431,), b"Line too long", id="100kb-line"
    ),
    pytest.param(
        request("GET", "/", [(f"X-H{i}", "1") for i in range(1000)]),
        (431,),
        b"Too many headers",
        id="1000-headers",
    ),
    pytest.param(
        request("GET", "/" + "a" * 100_000 + ".git/info/refs"),
        (414,),
        b"Request-URI Too Long",
        id="100kb-path",
    ),
    pytest.param(
        request("GET", f"/{APP}.git/info/refs?service=git-upload-pack", [("Cookie", "c" * 60_000)]),
        (200,),
        b"service=git-upload-pack",
        id="60kb-header-under-the-limit",
    ),
]


@pytest.mark.parametrize(("data", "statuses", "message"), HUGE_HEADER_CASES)
def test_huge_headers_are_refused_quickly(
    fuzz_server: Server, data: bytes, statuses: tuple[int, ...], message: bytes
) -> None:
    """Header lines over 64 KB, over 100 headers or a 100 KB URL: 431/414 at once, with why."""
    answer = send_raw(address(fuzz_server), data)
    assert answer.status in statuses, answer
    assert message in answer.body
    assert answer.seconds < 5


BIG = 2 * 1024 * 1024


def _chunked_body(size: int) -> bytes:
    block = b"x" * 65536
    return b"".join(b"10000\r\n" + block + b"\r\n" for _ in range(size // 65536)) + b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("method", "path", "framing"),
    [
        ("POST", "/api/apps", "length"),
        ("POST", "/api/apps", "chunked"),
        ("GET", f"/{APP}.git/info/refs?service=git-upload-pack", "length"),
        ("GET", f"/{APP}.git/info/refs?service=git-receive-pack", "chunked"),
        ("PUT", "/", "length"),
        ("POST", "/nowhere", "declared-10gb"),
    ],
)
def test_huge_bodies_to_endpoints_that_take_none_get_413(
    fuzz_server: Server, method: str, path: str, framing: str
) -> None:
    """A 2 MB body (or a declared 10 GB one) where no body belongs: 413 with the limit."""
    if framing == "chunked":
        chunked = _chunked_body(BIG)  # no Content-Length too: that pair is a 400 (framing)
        data = request(
            method, path, [("Transfer-Encoding", "chunked")], chunked, content_length=False
        )
    elif framing == "length":
        data = request(method, path, body=b"y" * BIG)
    else:
        declared = [("Content-Length", str(10 * 1024**3))]  # alone: two would be a 400
        data = request(method, path, declared, b"z" * 1000, content_length=False)
    answer = send_raw(address(fuzz_server), data)
    assert answer.status == 413, answer
    assert b"REQUEST_TOO_LARGE: Request body too large" in answer.body
    assert b"(the limit here is 1048576 bytes)" in answer.body
    assert answer.seconds < 10


def test_push_bodies_over_the_limit_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    """CEDARBOX_PUSH_MAX_BYTES: a declared or streamed push body over it gets 413 and a reason.

    Proves the limit holds for Content-Length (refused before git runs) and for chunked
    bodies (cut off while streaming), that real git reports the refusal, and that the app's
    refs and objects are untouched and no quarantine is left.
    """
    srv = start_server(tmp_path, CEDARBOX_PUSH_MAX_BYTES="65536")
    try:
        repo = make_repo(tmp_path / "src", srv.env, MINIMAL)
        check(git(repo, srv.env, "push", srv.git_url(APP), "main:stable"))
        before = repo_snapshot(srv, APP)
        where = address(srv)
        rpc = f"/{APP}.git/git-receive-pack"
        content_type = ("Content-Type", "application/x-git-receive-pack-request")
        command = pkt(f"{ZERO} {'1' * 40} refs/heads/big\x00report-status\n".encode()) + b"0000"
        pack = b"PACK" + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\x00" * 200_000
        declared = send_raw(where, request("POST", rpc, [content_type], command + pack))
        assert declared.status == 413, declared
        assert b"the limit here is 65536 bytes" in declared.body
        streamed = send_raw(
            where,
            request(
                "POST",
                rpc,
                [content_type, ("Transfer-Encoding", "chunked")],
                _chunked_body(256 * 1024),
                content_length=False,
            ),
        )
        assert streamed.status == 413, streamed
        assert b"REQUEST_TOO_LARGE" in streamed.body

        write_files(repo, {"big.bin": os.urandom(300 * 1024)})
        commit(repo, srv.env, "too big")
        pushed = git(repo, srv.env, "-c", "http.postBuffer=65536", "push", srv.git_url(APP), "main")
        assert pushed.returncode != 0
        assert "413" in pushed.stderr, pushed.stderr
        assert repo_snapshot(srv, APP) == before
    finally:
        srv.stop()


@pytest.mark.parametrize(
    "path",
    [
        "/..%2f..%2fetc.git/info/refs?service=git-receive-pack",
        "/x%00y.git/info/refs?service=git-receive-pack",
        "/%2Ftmp%2Fabs.git/info/refs?service=git-receive-pack",
        "//tmp/abs.git/info/refs?service=git-receive-pack",
        "/caf%C3%A9.git/info/refs?service=git-receive-pack",
        "/caf\xe9.git/info/refs?service=git-receive-pack",
        "/" + "a" * 300 + ".git/info/refs?service=git-receive-pack",
        "/.git/info/refs?service=git-receive-pack",
        "/..git/info/refs?service=git-receive-pack",
        "/-x.git/git-receive-pack",
    ],
)
def test_app_names_that_try_to_escape_are_refused_over_http(fuzz_server: Server, path: str) -> None:
    """Traversal, NUL, absolute, unicode and long names in the URL: 400 naming the problem.

    Nothing is created: the repos directory and the app list keep only the fixture's app.
    """
    before = sorted(os.listdir(fuzz_server.data_dir.parent))
    answer = send_raw(address(fuzz_server), request("GET", path))
    assert answer.status == 400, answer
    assert b"INVALID_APP_NAME" in answer.body
    reasons = (b"not valid", b"characters long", b"empty", b"does not name an app repository")
    assert any(reason in answer.body for reason in reasons), answer.body
    assert sorted(p.name for p in (fuzz_server.data_dir / "repos").iterdir()) == [f"{APP}.git"]
    assert sorted(os.listdir(fuzz_server.data_dir.parent)) == before


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../x", "App name '../x' is not valid."),
        ("..", "App name '..' is not valid."),
        ("/tmp/escaped-app", "App name '/tmp/escaped-app' is not valid."),
        ("%2e%2e", "App name '%2e%2e' is not valid."),
        ("a/../../b", "App name 'a/../../b' is not valid."),
        ("café", "App name 'café' is not valid."),
        ("a" * 300, "is 300 characters long (max is 30)."),
        ("", "App name is empty."),
    ],
)
def test_app_names_that_try_to_escape_are_refused_by_the_cli(
    fuzz_server: Server, name: str, message: str
) -> None:
    """`apps:create NAME` and `-a NAME` refuse such names with one clear line; nothing is made.

    (A NUL byte cannot reach the CLI: the OS refuses it in argv; see the HTTP test above.)
    """
    parent = fuzz_server.data_dir.parent
    before = sorted(os.listdir(parent)), sorted(os.listdir(fuzz_server.data_dir / "repos"))
    commands = (("apps:create", name), ("config:set", "-a", name, "K=V"), ("apps:info", "-a", name))
    for args in commands:
        result = fuzz_server.cli(*args, check=False)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    after = sorted(os.listdir(parent)), sorted(os.listdir(fuzz_server.data_dir / "repos"))
    assert after == before
    assert not Path("/tmp/escaped-app").exists()
    apps = json.loads(fuzz_server.cli("apps", "--json").stdout)
    assert name not in [a["name"] for a in apps]


def test_server_stays_healthy_after_bad_input(fuzz_server: Server) -> None:
    """After every bad request above, the server still answers and has no git child left.

    (Its other children are the app's dynos: the fuzz test ends with a real deploy.)"""
    assert fuzz_server.proc.poll() is None
    answer = send_raw(address(fuzz_server), request("GET", "/"))
    assert answer.status == 200 and b"cedarbox is running" in answer.body
    deadline = time.monotonic() + 15
    while git_children := [
        c for c in proc_state(fuzz_server.proc.pid).child_commands if " git" in c
    ]:
        assert time.monotonic() < deadline, f"git processes left: {git_children}"
        time.sleep(0.1)
