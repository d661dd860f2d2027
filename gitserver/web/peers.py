"""Who is on the other end of a local TCP connection: the uid that owns the client's socket.

A local client's socket is the one whose own address is the connection's peer address and
whose remote address is the server's end of it. Builds and dynos share the host's network
(gitserver/sandbox.py), so their sockets are this network namespace's, owned by their app's
uid. The kernel answers for one socket by its addresses over netlink (sock_diag: an exact
lookup, ~15 µs); where that is missing, its tables /proc/net/tcp and tcp6 are read, which
costs milliseconds (the kernel walks its whole hash table to print them). `find_owner` is the
tables' pure parser.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
Address = tuple[str, int]

# linux/sock_diag.h, linux/inet_diag.h, linux/netlink.h
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid
_UID_OFFSET = _HEADER.size + 64  # inet_diag_msg: 4 bytes, sockid (48), expires, queues, uid


class _NoDiag(Exception):
    """The kernel has no sock_diag for this: read its tables instead."""


def socket_owner(peer: Address, server: Address, tables: Sequence[Path] = TABLES) -> int | None:
    """The uid owning the client socket of the connection `peer` → `server`; None when no
    socket of this host is that client (a remote one, or gone)."""
    try:
        return _diag_owner(peer, server)
    except _NoDiag:
        return _table_owner(peer, server, tables)


def _diag_owner(peer: Address, server: Address) -> int | None:
    """An exact sock_diag lookup: as IPv4, then as IPv6 (a dual-stack client's socket)."""
    for family, src, dst in _spellings(peer[0], server[0]):
        request = struct.pack(
            "=BBBBI",
            family,
            socket.IPPROTO_TCP,
            0,
            0,
            0xFFFFFFFF,  # every state
        )
        request += struct.pack(">HH", peer[1], server[1]) + src + dst
        request += struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)  # any interface, no cookie
        message = _HEADER.pack(
            _HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0
        )
        try:
            with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
                nl.settimeout(1)
                nl.send(message + request)
                answer = nl.recv(8192)
        except OSError as exc:
            raise _NoDiag() from exc
        if len(answer) < _HEADER.size + 4:
            raise _NoDiag()
        kind = _HEADER.unpack_from(answer)[1]
        if kind == _NLMSG_ERROR:
            code = -struct.unpack_from("=i", answer, _HEADER.size)[0]
            if code == errno.ENOENT:
                continue
            raise _NoDiag()
        if len(answer) < _UID_OFFSET + 4:
            raise _NoDiag()
        return int(struct.unpack_from("=I", answer, _UID_OFFSET)[0])
    return None


def _spellings(peer: str, server: str) -> list[tuple[int, bytes, bytes]]:
    """(family, source, destination) as sock_diag takes them (16 bytes each)."""
    a, b = ipaddress.ip_address(_normal(peer)), ipaddress.ip_address(_normal(server))
    if isinstance(a, ipaddress.IPv4Address) and isinstance(b, ipaddress.IPv4Address):
        mapped = [ipaddress.IPv6Address(f"::ffff:{x}").packed for x in (a, b)]
        return [
            (socket.AF_INET, a.packed + bytes(12), b.packed + bytes(12)),
            (socket.AF_INET6, mapped[0], mapped[1]),
        ]
    if isinstance(a, ipaddress.IPv6Address) and isinstance(b, ipaddress.IPv6Address):
        return [(socket.AF_INET6, a.packed, b.packed)]
    return []


def _table_owner(peer: Address, server: Address, tables: Sequence[Path]) -> int | None:
    for table in tables:
        try:
            text = table.read_text()
        except OSError:
            continue
        owner = find_owner(text, peer, server)
        if owner is not None:
            return owner
    return None


def find_owner(table: str, peer: Address, server: Address) -> int | None:
    """In the text of a /proc/net/tcp or tcp6 table, the uid of the socket whose local
    address is `peer` and whose remote address is `server`."""
    want = (_normal(peer[0]), peer[1], _normal(server[0]), server[1])
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            local, remote = _parse(fields[1]), _parse(fields[2])
            uid = int(fields[7])
        except ValueError:
            continue
        if (*local, *remote) == want:
            return uid
    return None


def _parse(field: str) -> tuple[str, int]:
    """`0100007F:9C40` (IPv4) or 32 hex digits:port (IPv6), in the kernel's byte order."""
    host, _, port = field.partition(":")
    if len(host) not in (8, 32):
        raise ValueError(field)
    raw = b"".join(
        int(host[i : i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(host), 8)
    )
    return _normal(str(ipaddress.ip_address(raw))), int(port, 16)


def _normal(host: str) -> str:
    """One spelling per address: IPv4-mapped IPv6 (`::ffff:127.0.0.1`) as plain IPv4."""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
