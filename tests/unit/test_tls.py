"""The local CA (gitserver/tls.py), the first-byte test, trust instructions and proxy headers."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from gitserver.cli.tls import git_config_keys, trust_steps
from gitserver.errors import CertificateError
from gitserver.tls import LEAF_VALIDITY, RENEW_BEFORE, LocalCA, served_name
from gitserver.web.router import forwarded_headers
from gitserver.web.tlsaccept import TLS_HANDSHAKE_RECORD, looks_like_http


@pytest.mark.parametrize(
    ("sni", "leaf"),
    [
        (None, "localhost"),
        ("", "localhost"),
        ("localhost", "localhost"),
        ("LOCALHOST.", "localhost"),
        ("127.0.0.1", "localhost"),
        ("::1", "localhost"),
        ("shop.localhost", "shop.localhost"),
        ("Shop.Localhost", "shop.localhost"),
        ("a.b.localhost", None),
        ("bad_name.localhost", None),
        ("-x.localhost", None),
        ("example.com", None),
        ("localhost.example.com", None),
        ("shop.localhost.evil", None),
    ],
)
def test_served_name(sni: str | None, leaf: str | None) -> None:
    assert served_name(sni) == leaf


def test_the_ca_is_made_once_private_and_name_constrained(tmp_path: Path) -> None:
    root = tmp_path / "tls"
    ca = LocalCA.open(root)
    assert (root / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    assert LocalCA.open(root).fingerprint == ca.fingerprint  # loaded, not made again
    basic = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    constraints = ca.certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert set(constraints.value.permitted_subtrees or []) == {
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_network("127.0.0.1/32")),
        x509.IPAddress(ipaddress.ip_network("::1/128")),
    }


def test_leaves_are_per_name_cached_and_verify_against_the_ca(tmp_path: Path) -> None:
    ca = LocalCA.open(tmp_path / "tls")
    default = ca.leaf("localhost")
    shop = ca.leaf("shop.localhost")
    assert default.key.stat().st_mode & 0o777 == 0o600
    assert ca.leaf("shop.localhost").cert.read_bytes() == shop.cert.read_bytes()  # cached
    cert = x509.load_pem_x509_certificate(shop.cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["shop.localhost"]
    default_sans = x509.load_pem_x509_certificate(default.cert.read_bytes()).extensions
    names = default_sans.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    # A real TLS stack accepts the leaf for its name, with the CA as the only trust anchor.
    client = ssl.create_default_context(cafile=str(ca.cert_path))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(shop.cert, shop.key)
    assert _handshake(client, server, "shop.localhost") is None
    assert "mismatch" in str(_handshake(client, server, "other.localhost"))


def test_leaves_are_renewed_before_they_expire_and_when_the_ca_changes(tmp_path: Path) -> None:
    root = tmp_path / "tls"
    ca = LocalCA.open(root)
    first = ca.leaf("shop.localhost")
    first_pem = first.cert.read_bytes()
    now = datetime.datetime.now(datetime.UTC)
    not_yet = now + LEAF_VALIDITY - RENEW_BEFORE - datetime.timedelta(days=1)
    assert ca.leaf("shop.localhost", now=not_yet).cert.read_bytes() == first_pem
    due = now + LEAF_VALIDITY - RENEW_BEFORE + datetime.timedelta(days=1)
    renewed = ca.leaf("shop.localhost", now=due)
    assert renewed.cert.read_bytes() != first_pem
    assert renewed.not_after > first.not_after
    # A new CA (the old one removed): the cached leaf is no longer its own, so it is reissued.
    leaf_file = renewed.cert.read_bytes()
    shutil.move(root / "ca.pem", tmp_path / "old-ca.pem")
    (root / "ca-key.pem").unlink()
    new_ca = LocalCA.open(root)
    assert new_ca.fingerprint != ca.fingerprint
    assert new_ca.leaf("shop.localhost").cert.read_bytes() != leaf_file


def test_an_unreadable_ca_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "tls"
    LocalCA.open(root)
    (root / "ca-key.pem").write_text("not a key\n")
    with pytest.raises(CertificateError, match="Cannot read the local CA") as caught:
        LocalCA.open(root)
    assert f"Remove {root}" in caught.value.hint


def test_first_byte() -> None:
    assert TLS_HANDSHAKE_RECORD == 0x16
    assert all(looks_like_http(ord(m[0])) for m in ("GET", "POST", "HEAD", "get", "\r"))
    assert not any(looks_like_http(b) for b in (0x00, 0x16, 0x80, 0xFF, ord(" "), ord("{")))


def test_trust_commands_name_the_ca_and_change_nothing(tmp_path: Path) -> None:
    ca, bundle = tmp_path / "my ca.pem", tmp_path / "bundle.pem"
    assert git_config_keys("127.0.0.1", 5000) == [
        "http.https://127.0.0.1:5000/.sslCAInfo",
        "http.https://localhost:5000/.sslCAInfo",
    ]
    assert git_config_keys("localhost", 5000) == ["http.https://localhost:5000/.sslCAInfo"]
    steps = {
        s.client.split(" ")[0]: s.commands for s in trust_steps(ca, bundle, "127.0.0.1", 5000, "ab")
    }
    quoted = f"'{ca}'"  # a path with a space is quoted for the shell
    assert steps["git"][0] == f"git config --global http.https://127.0.0.1:5000/.sslCAInfo {quoted}"
    assert steps["curl"] == (f"curl --cacert {quoted} https://<app>.localhost:5000/",)
    assert steps["Python:"] == (f"export SSL_CERT_FILE={bundle} REQUESTS_CA_BUNDLE={bundle}",)
    assert steps["Node"] == (f"export NODE_EXTRA_CA_CERTS={quoted}",)
    assert any("update-ca-certificates" in c for c in steps["the"])


@pytest.mark.parametrize("proto", ["http", "https"])
def test_forwarded_proto_is_how_the_request_arrived(proto: str) -> None:
    headers = forwarded_headers(
        [("Host", "shop.localhost:5000"), ("X-Forwarded-Proto", "forged")],
        client_ip="127.0.0.1",
        server_port=5000,
        request_id="r",
        received_ms=1,
        proto=proto,
    )
    assert [v for k, v in headers if k == "X-Forwarded-Proto"] == [proto]
    assert [v for k, v in headers if k == "X-Forwarded-Port"] == ["5000"]


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext, name: str) -> Exception | None:
    """A TLS handshake in memory between the two contexts; the client's error, if any."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname=name)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side, out, into in ((c, c_out, s_in), (s, s_out, c_in)):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                if side is c:
                    return exc
            into.write(out.read())
        try:
            c.do_handshake()
            return None
        except ssl.SSLWantReadError:
            continue
        except ssl.SSLError as exc:
            return exc
    raise AssertionError("the handshake did not finish")
