"""Who is on the other end of a local TCP connection: the uid that owns the client's socket.

The kernel lists this network namespace's TCP sockets, with their owners' uids, in
/proc/net/tcp and /proc/net/tcp6. A local client's socket is the entry whose local address is
the connection's peer address and whose remote address is the server's own end of it. Builds
and dynos share the host's network (gitserver/sandbox.py), so their sockets are listed here,
owned by their app's uid. `find_owner` is the pure parser; `socket_owner` reads the tables.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Sequence
from pathlib import Path

TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
Address = tuple[str, int]


def socket_owner(peer: Address, server: Address, tables: Sequence[Path] = TABLES) -> int | None:
    """The uid owning the client socket of the connection `peer` → `server`; None when no
    socket of this host is that client (a remote one, or gone)."""
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
