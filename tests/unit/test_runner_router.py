"""The router's pure parts (hosts, forwarded headers, log lines, error pages), its route table."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from gitserver.runner.routes import Route, Routes, RouteTable
from gitserver.web.router import RouterLine, app_from_host, error_page, forwarded_headers


@pytest.mark.parametrize(
    ("host", "app"),
    [
        ("shop.localhost:5000", "shop"),
        ("shop.localhost", "shop"),
        ("Shop.LOCALHOST:80", "shop"),
        ("my-app-2.localhost.:5000", "my-app-2"),
        ("127.0.0.1:5000", None),
        ("localhost:5000", None),
        ("a.b.localhost", None),
        ("9lives.localhost", None),  # not a valid app name
        ("shop.example.com", None),
        ("", None),
    ],
)
def test_app_hosts(host: str, app: str | None) -> None:
    assert app_from_host(host) == app


def test_forwarded_headers_drop_hop_by_hop_and_add_the_routers_own() -> None:
    headers = [
        ("Host", "shop.localhost:5000"),
        ("Connection", "keep-alive, X-Secret-Hop"),
        ("X-Secret-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "12"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("X-Forwarded-Proto", "https"),
        ("Cookie", "a=1"),
        ("Cookie", "b=2"),
    ]
    out = forwarded_headers(
        headers, client_ip="127.0.0.1", server_port=5000, request_id="rid", received_ms=1234
    )
    assert out == [
        ("Host", "shop.localhost:5000"),
        ("Cookie", "a=1"),
        ("Cookie", "b=2"),
        ("X-Forwarded-For", "10.0.0.1, 127.0.0.1"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Port", "5000"),
        ("X-Request-Id", "rid"),
        ("X-Request-Start", "1234"),
        ("Via", "1.1 cedarbox"),
    ]


def test_router_log_lines_read_like_herokus() -> None:
    line = RouterLine("GET", "/a?b=1", "shop.localhost", "rid", "127.0.0.1")
    ok = replace(line, dyno="web.1", connect_ms=1, service_ms=5, status=200, bytes=123)
    assert ok.text() == (
        'at=info method=GET path="/a?b=1" host=shop.localhost request_id=rid fwd="127.0.0.1" '
        "dyno=web.1 connect=1ms service=5ms status=200 bytes=123 protocol=http"
    )
    crashed = replace(line, code="H10", status=503, bytes=10)
    assert crashed.text().startswith(
        'at=error code=H10 desc="App crashed" method=GET path="/a?b=1"'
    )
    assert crashed.text().endswith(
        "dyno= connect=0ms service=0ms status=503 bytes=10 protocol=http"
    )


def test_error_pages_name_the_problem_and_the_way_to_the_logs() -> None:
    page = error_page("shop", "H14").decode()
    assert "Application error" in page and "No web processes running" in page
    assert "cedarbox logs --tail -a shop" in page
    assert "No such app" in error_page("<x>", "H99").decode()
    assert "<x>" not in error_page("<x>", "H99").decode()


def test_the_route_table_queues_requests_while_dynos_boot_and_round_robins() -> None:
    table = RouteTable()
    assert table.lookup("shop") == Routes((), "none")
    table.publish({"shop": Routes((), "starting")})
    assert table.wait_for_route("shop", 0.05).status == "starting"  # timed out: still booting
    up = Routes((Route("web.1", 5001), Route("web.2", 5002)), "up")
    threading.Timer(0.1, table.publish, [{"shop": up}]).start()
    started = time.monotonic()
    assert table.wait_for_route("shop", 10) == up
    assert time.monotonic() - started < 5  # woken by the publish, not by the timeout
    assert {table.pick(up).dyno, table.pick(up).dyno} == {"web.1", "web.2"}
    table.publish({})
    assert table.lookup("shop").status == "none"
