"""The few pkt-lines the front end writes itself (an `ERR` advertisement for refused pushes)."""

from __future__ import annotations

FLUSH = b"0000"


def pkt_line(payload: bytes) -> bytes:
    return f"{len(payload) + 4:04x}".encode() + payload


def error_advertisement(service: str, message: str) -> bytes:
    """An info/refs answer that makes git stop with `fatal: remote error: <message>`."""
    return (
        pkt_line(f"# service={service}\n".encode())
        + FLUSH
        + pkt_line(f"ERR {message}\n".encode("utf-8", "replace"))
    )
