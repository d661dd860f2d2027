"""Authorisation's pure parts: the failure limiter (with an injected clock), credentials, deploy
keys in the platform, the peer-uid lookup over a real loopback connection, the authorizer."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path

import pytest

from gitserver.errors import AppNotFound, AuthRequired, DeployKeyNotFound, TooManyAuthFailures
from gitserver.platform import DEPLOY_KEY_PREFIX, Platform, key_digest
from gitserver.settings import Settings
from gitserver.web.auth import ADMIN, Authorizer, Grant, Peer, SocketPeer, presented_credential
from gitserver.web.limits import FailureLimiter
from gitserver.web.peers import TABLES, _table_owner, find_owner, socket_owner


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_trips_at_the_limit_and_recovers_as_failures_leave_the_window() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 60, clock)
    for _ in range(2):
        limiter.failed("10.0.0.1")
        clock.now += 10
    assert limiter.retry_after("10.0.0.1") is None
    limiter.failed("10.0.0.1")  # failures at 1000, 1010, 1020
    assert limiter.retry_after("10.0.0.1") == 40  # the first leaves at 1060; now 1020
    assert limiter.retry_after("10.0.0.2") is None  # per address
    clock.now = 1059.5
    assert limiter.retry_after("10.0.0.1") == 1
    clock.now = 1060.0
    assert limiter.retry_after("10.0.0.1") is None
    limiter.failed("10.0.0.1")  # 1010, 1020, 1060: full again, until 1070
    assert limiter.retry_after("10.0.0.1") == 10
    clock.now = 1200.0
    assert limiter.retry_after("10.0.0.1") is None


def test_the_limiter_forgets_addresses_whose_failures_expired() -> None:
    clock = Clock()
    limiter = FailureLimiter(2, 60, clock)
    for n in range(100):
        limiter.failed(f"10.0.1.{n}")
    for n in range(100):
        assert limiter.retry_after(f"10.0.3.{n}") is None  # asking stores nothing
    clock.now += 61
    limiter.failed("10.0.2.1")
    assert set(limiter._failures) == {"10.0.2.1"}


def test_a_zero_limit_never_trips() -> None:
    limiter = FailureLimiter(0, 60, Clock())
    for _ in range(50):
        limiter.failed("a")
    assert limiter.retry_after("a") is None


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"heroku:{password}".encode()).decode()


def test_credentials_from_bearer_and_basic() -> None:
    assert presented_credential("Bearer abc") == "abc"
    assert presented_credential(basic("s3cret:x")) == "s3cret:x"
    assert presented_credential("") is None
    assert presented_credential("Bearer ") is None
    assert presented_credential("Basic !!notbase64") == ""  # presented, and wrong
    assert presented_credential("Digest x") is None


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = Platform.open(Settings(data_dir=tmp_path / "data").with_(postgres="off"))
    platform.create_app("alpha")
    platform.create_app("beta")
    return platform


def test_deploy_keys_are_stored_as_digests_and_refused_once_destroyed(platform: Platform) -> None:
    key, secret = platform.create_deploy_key("alpha")
    assert secret.startswith(DEPLOY_KEY_PREFIX) and len(secret) > 40
    assert key.digest == key_digest(secret) and secret not in key.digest
    db = platform.data.database
    for path in (db, db.with_name(db.name + "-wal")):
        assert path.exists() and secret.encode() not in path.read_bytes()
    assert key.digest.encode() in db.with_name(db.name + "-wal").read_bytes()  # it looked
    found = platform.deploy_key_for(secret)
    assert found is not None and found.app == "alpha"
    assert platform.deploy_keys("alpha")[0].last_used_at is not None
    assert platform.deploy_key_for(secret + "x") is None
    platform.destroy_deploy_key(key.id)
    assert platform.deploy_key_for(secret) is None
    with pytest.raises(DeployKeyNotFound, match="no deploy key") as unknown:
        platform.destroy_deploy_key(key.id)
    assert "cedarbox keys" in unknown.value.hint
    with pytest.raises(AppNotFound):
        platform.create_deploy_key("ghost")


def test_destroying_an_app_destroys_its_keys(platform: Platform) -> None:
    _, secret = platform.create_deploy_key("beta")
    platform.destroy_app("beta")
    assert platform.deploy_keys() == []
    assert platform.deploy_key_for(secret) is None


def local(address: str = "127.0.0.1", app_code: bool = False) -> Peer:
    return Peer(address, lambda: app_code)


def test_the_authorizer_grants_by_key(platform: Platform) -> None:
    _, secret = platform.create_deploy_key("alpha")
    auth = Authorizer("admin-key", FailureLimiter(20, 60, Clock()))
    assert auth.check("Bearer admin-key", local(), platform) == ADMIN
    grant = auth.check(basic(secret), local(), platform)
    assert grant.app == "alpha" and grant.allows("alpha") and not grant.allows("beta")
    with pytest.raises(AuthRequired):
        auth.check("", local(), platform)
    with pytest.raises(AuthRequired):
        auth.check("Bearer wrong", local(), platform)


def test_without_an_admin_key_local_users_pass_and_app_code_needs_a_key(
    platform: Platform,
) -> None:
    _, secret = platform.create_deploy_key("alpha")
    auth = Authorizer("", FailureLimiter(20, 60, Clock()))
    assert auth.check("", local(), platform) == ADMIN
    assert auth.check("Bearer anything", local(), platform) == ADMIN
    assert auth.check(f"Bearer {secret}", local(), platform) == Grant("alpha", grant_id(platform))
    with pytest.raises(AuthRequired, match="app code"):
        auth.check("", local(app_code=True), platform)
    with pytest.raises(AuthRequired):
        auth.check("Bearer anything", local(app_code=True), platform)
    assert auth.check(f"Bearer {secret}", local(app_code=True), platform).app == "alpha"


def grant_id(platform: Platform) -> str:
    return platform.deploy_keys("alpha")[0].id


def test_failures_are_throttled_before_the_key_is_checked(platform: Platform) -> None:
    clock = Clock()
    auth = Authorizer("admin-key", FailureLimiter(3, 60, clock))
    for _ in range(3):
        with pytest.raises(AuthRequired):
            auth.check("Bearer guess", local("10.0.0.9"), platform)
    with pytest.raises(TooManyAuthFailures, match="retry in 60 seconds") as refused:
        auth.check("Bearer admin-key", local("10.0.0.9"), platform)  # even the right key
    assert refused.value.retry_after == 60
    for _ in range(5):  # no credential at all (git's first try) is not a failure
        with pytest.raises(AuthRequired):
            auth.check("", local("10.0.0.8"), platform)
    assert auth.check("Bearer admin-key", local("10.0.0.8"), platform) == ADMIN
    clock.now += 60
    assert auth.check("Bearer admin-key", local("10.0.0.9"), platform) == ADMIN


TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:A1B2 0100007F:1388 01 00000000:00000000 00:00000000 00000000 2000123     0 2 1
   2: 0100007F:1388 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 3 1
"""


def test_the_owner_of_a_client_socket_is_found_in_the_kernels_table() -> None:
    assert find_owner(TABLE, ("127.0.0.1", 0xA1B2), ("127.0.0.1", 5000)) == 2000123
    assert find_owner(TABLE, ("::ffff:127.0.0.1", 0xA1B2), ("127.0.0.1", 5000)) == 2000123
    assert find_owner(TABLE, ("127.0.0.1", 5000), ("127.0.0.1", 0xA1B2)) == 0
    assert find_owner(TABLE, ("127.0.0.1", 1), ("127.0.0.1", 5000)) is None
    assert find_owner("garbage\n1: zz:zz zz:zz\n", ("127.0.0.1", 1), ("127.0.0.1", 2)) is None


@pytest.mark.parametrize("family,host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_the_owner_of_a_real_loopback_connection_is_this_process(family: int, host: str) -> None:
    with socket.socket(family) as listener:
        try:
            listener.bind((host, 0))
        except OSError:
            pytest.skip(f"no {host} here")
        listener.listen()
        with socket.create_connection(listener.getsockname()[:2]) as client:
            conn, peer = listener.accept()
            with conn:
                server_end = conn.getsockname()[:2]
                assert socket_owner(peer[:2], server_end) == os.geteuid()  # sock_diag
                assert _table_owner(peer[:2], server_end, TABLES) == os.geteuid()  # /proc
                assert client.getsockname()[:2] == peer[:2]
        assert socket_owner(("127.0.0.1", 1), ("127.0.0.1", 2)) is None
        assert _table_owner(("127.0.0.1", 1), ("127.0.0.1", 2), TABLES) is None


def test_a_dual_stack_servers_ipv4_client_is_found_too() -> None:
    with socket.socket(socket.AF_INET6) as listener:
        try:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            listener.bind(("::", 0))
        except OSError:
            pytest.skip("no dual-stack sockets here")
        listener.listen()
        with socket.create_connection(("127.0.0.1", listener.getsockname()[1])):
            conn, peer = listener.accept()
            with conn:
                assert peer[0] == "::ffff:127.0.0.1"
                assert socket_owner(peer[:2], conn.getsockname()[:2]) == os.geteuid()


def test_a_socket_peer_is_looked_up_once_and_spends_its_uids_budget() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()):
            conn, addr = listener.accept()
            with conn:
                here = conn.getsockname()
                peer = SocketPeer(addr, here, uids=True)
                assert not peer.is_app_code()  # this process: not an app's uid
                assert peer.budget() == f"127.0.0.1 (uid {os.geteuid()})"
                plain = SocketPeer(addr, here, uids=False)
                assert not plain.is_app_code() and plain.budget() == "127.0.0.1"
    gone = SocketPeer(("127.0.0.1", 1), ("127.0.0.1", 2), uids=True)
    assert gone.is_app_code()  # no socket of this host: cannot be vouched for
    assert gone.budget() == "127.0.0.1"
