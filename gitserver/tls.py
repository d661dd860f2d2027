"""The local certificate authority: one CA per data directory and the leaf certificates it signs.

The CA is made on first use in DATA_DIR/tls (`ca.pem`, and `ca-key.pem` readable by its owner
only). It is name-constrained to `localhost`, its subdomains, 127.0.0.1 and ::1, so trusting it
cannot make any other site's certificate valid. Leaves are issued per name (`localhost` with
127.0.0.1 and ::1, or one `<app>.localhost`: many clients refuse a `*.localhost` wildcard),
cached in DATA_DIR/tls/leaves and issued again before they expire or when the CA changed.
Several processes share the directory (the server, the pre-receive hook starting PostgreSQL,
the CLI), so creation and issuance happen under a file lock and files appear by rename.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import ipaddress
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitserver.appnames import validate_app_name
from gitserver.errors import CertificateError, InvalidAppName

# The name whose leaf also covers the loopback addresses: what a client gets without SNI.
DEFAULT_NAME = "localhost"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
CA_VALIDITY = datetime.timedelta(days=10 * 365)
# Well under the 398 days browsers accept for a server certificate.
LEAF_VALIDITY = datetime.timedelta(days=90)
RENEW_BEFORE = datetime.timedelta(days=30)
# Clocks of clients and server may differ a little.
BACKDATE = datetime.timedelta(hours=1)


def served_name(server_name: str | None) -> str | None:
    """The leaf a TLS client's SNI name gets, or None if this server does not serve it (pure).

    No SNI (clients send none for an IP address), `localhost` and the loopback addresses get
    the default leaf; `<app>.localhost` with a valid app name gets its own.
    """
    if not server_name:
        return DEFAULT_NAME
    name = server_name.lower().rstrip(".")
    if name in LOOPBACK_NAMES:
        return DEFAULT_NAME
    app, dot, rest = name.partition(".")
    if dot and rest == "localhost":
        try:
            return f"{validate_app_name(app)}.localhost"
        except InvalidAppName:
            return None
    return None


@dataclass(frozen=True)
class Leaf:
    """A leaf certificate's files (PEM) and when it stops being valid."""

    name: str
    cert: Path
    key: Path
    not_after: datetime.datetime

    def due(self, now: datetime.datetime) -> bool:
        """Whether it should be issued again now."""
        return self.not_after - RENEW_BEFORE <= now


class LocalCA:
    """The CA in `root` (DATA_DIR/tls); `open` makes it on first use."""

    def __init__(self, root: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.root = root
        self.certificate = cert
        self._key = key

    @property
    def cert_path(self) -> Path:
        return self.root / "ca.pem"

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the CA certificate, as browsers show it (AB:CD:…)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex(":").upper()

    @classmethod
    def open(cls, root: Path) -> LocalCA:
        """Load the CA from `root`, making it first if there is none."""
        cert_path, key_path = root / "ca.pem", root / "ca-key.pem"
        if not cert_path.is_file():
            with _locked(root):
                if not cert_path.is_file():
                    _create_ca(root, cert_path, key_path)
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise CertificateError(
                f"Cannot read the local CA in {root}: {exc}",
                hint=f"Remove {root} to make a new CA (then trust the new one again).",
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertificateError(
                f"The local CA key in {key_path} is not the kind cedarbox makes.",
                hint=f"Remove {root} to make a new CA (then trust the new one again).",
            )
        return cls(root, cert, key)

    def leaf(self, name: str, *, now: datetime.datetime | None = None) -> Leaf:
        """The leaf for a name `served_name` returned: the cached one, or a new one if it is
        missing, due for renewal, or signed by another CA."""
        now = now or _now()
        cached = self._cached_leaf(name)
        if cached is not None and not cached.due(now):
            return cached
        with _locked(self.root):
            cached = self._cached_leaf(name)  # another process may have just issued it
            if cached is not None and not cached.due(now):
                return cached
            return self._issue(name, now)

    # Internals ----------------------------------------------------------------------------

    def _leaf_paths(self, name: str) -> tuple[Path, Path]:
        leaves = self.root / "leaves"
        return leaves / f"{name}.pem", leaves / f"{name}-key.pem"

    def _cached_leaf(self, name: str) -> Leaf | None:
        cert_path, key_path = self._leaf_paths(name)
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError):
            return None
        if cert.issuer != self.certificate.subject or not key_path.is_file():
            return None
        try:
            cert.verify_directly_issued_by(self.certificate)
        except (InvalidSignature, ValueError, TypeError):
            return None
        return Leaf(name, cert_path, key_path, cert.not_valid_after_utc)

    def _issue(self, name: str, now: datetime.datetime) -> Leaf:
        key = ec.generate_private_key(ec.SECP256R1())
        if name == DEFAULT_NAME:
            sans: list[x509.GeneralName] = [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ]
        else:
            sans = [x509.DNSName(name)]
        not_after = min(now + LEAF_VALIDITY, self.certificate.not_valid_after_utc)
        ca_public = self._key.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        cert_path, key_path = self._leaf_paths(name)
        cert_path.parent.mkdir(mode=0o700, exist_ok=True)
        # The key first: a reader that finds the new certificate finds its key too.
        _write_private(key_path, _key_pem(key))
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return Leaf(name, cert_path, key_path, not_after)


def _create_ca(root: Path, cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cedarbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"cedarbox local CA {tag}"),
        ]
    )
    constraints = x509.NameConstraints(
        permitted_subtrees=[
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_network("127.0.0.1/32")),
            x509.IPAddress(ipaddress.ip_network("::1/128")),
        ],
        excluded_subtrees=None,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(constraints, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    # The certificate is public: others (PostgreSQL's user, a browser) may read it.
    _write_file(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    _write_file(path, data, 0o600)


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Write by rename, created with `mode` from the start (a key is never briefly readable)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)  # the umask may have taken bits away
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
