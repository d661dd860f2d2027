"""Pure parts of the front end: routing, app names, de-chunking, pkt-lines."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitserver.appnames import generate_app_name, validate_app_name
from gitserver.errors import InvalidAppName
from gitserver.web.chunked import BadRequestBody, iter_chunked, iter_sized
from gitserver.web.pktline import error_advertisement, pkt_line
from gitserver.web.routes import BadQuery, NotFound, route_git


@pytest.mark.parametrize("name", ["a", "my-app", "app-1", "a" * 30])
def test_valid_app_names(name: str) -> None:
    assert validate_app_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "1app", "-app", "a_b", "a.b", "../x", "a/b", "a" * 31])
def test_invalid_app_names(name: str) -> None:
    with pytest.raises(InvalidAppName):
        validate_app_name(name)


def test_generated_names_are_valid() -> None:
    for _ in range(50):
        validate_app_name(generate_app_name())


def test_route_git_recognises_the_smart_protocol() -> None:
    route = route_git("GET", "/my-app.git/info/refs", "service=git-receive-pack")
    assert route is not None and route.app == "my-app" and route.is_push and route.is_advertisement
    route = route_git("POST", "/my-app.git/git-upload-pack", "")
    assert route is not None and route.service == "git-upload-pack" and not route.is_push


@pytest.mark.parametrize(
    "path", ["/../x.git/info/refs", "/%2e%2e.git/info/refs", "/a/b.git/info/refs", "/X.git"]
)
def test_route_git_refuses_paths_that_are_not_app_names(path: str) -> None:
    with pytest.raises(InvalidAppName):
        route_git("GET", path, "service=git-upload-pack")


def test_route_git_refuses_dumb_http_and_unknown_endpoints() -> None:
    with pytest.raises(NotFound):
        route_git("GET", "/app.git/info/refs", "")
    with pytest.raises(NotFound):
        route_git("GET", "/app.git/objects/info/packs", "")


def test_route_git_refuses_a_service_named_twice_and_hands_git_only_the_routed_one() -> None:
    with pytest.raises(BadQuery):
        route_git("GET", "/app.git/info/refs", "service=git-upload-pack&service=git-receive-pack")
    route = route_git("GET", "/app.git/info/refs", "x=1&service=git-upload-pack&y")
    assert route is not None and route.backend_query == "service=git-upload-pack"
    route = route_git("POST", "/app.git/git-receive-pack", "service=git-upload-pack")
    assert route is not None and route.is_push and route.backend_query == ""


def test_route_git_ignores_other_paths() -> None:
    assert route_git("GET", "/api/apps", "") is None


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=20), st.integers(1, 64))
def test_iter_chunked_reassembles_any_body(parts: list[bytes], block: int) -> None:
    wire = b"".join(chunk(p) for p in parts) + b"0\r\n\r\n"
    assert b"".join(iter_chunked(io.BytesIO(wire), block=block)) == b"".join(parts)


def test_iter_chunked_accepts_extensions_and_trailers() -> None:
    wire = b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"
    assert b"".join(iter_chunked(io.BytesIO(wire))) == b"abc"


@pytest.mark.parametrize(
    "wire", [b"zz\r\nabc\r\n", b"5\r\nab", b"3\r\nabcXX\r\n0\r\n\r\n", b"3\r\nabc\r\n"]
)
def test_iter_chunked_rejects_malformed_bodies(wire: bytes) -> None:
    with pytest.raises(BadRequestBody):
        b"".join(iter_chunked(io.BytesIO(wire)))


def test_iter_sized_detects_short_bodies() -> None:
    assert b"".join(iter_sized(io.BytesIO(b"abcdef"), 4)) == b"abcd"
    with pytest.raises(BadRequestBody):
        b"".join(iter_sized(io.BytesIO(b"ab"), 4))


def test_error_advertisement_is_valid_pkt_lines() -> None:
    body = error_advertisement("git-receive-pack", "NO_SUCH_APP: nope")
    assert body.startswith(pkt_line(b"# service=git-receive-pack\n") + b"0000")
    assert body.endswith(pkt_line(b"ERR NO_SUCH_APP: nope\n"))
    assert pkt_line(b"abc") == b"0007abc"
