"""`tls:ca`, `tls:trust`: where the data directory's CA is and how clients come to trust it."""

from __future__ import annotations

import argparse
import os
import shlex
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gitserver.cli.registry import Topic, arg
from gitserver.datadir import DataDir
from gitserver.errors import UsageError
from gitserver.serverinfo import running_server
from gitserver.settings import Settings
from gitserver.tls import LocalCA

topic = Topic()


@dataclass(frozen=True)
class TrustStep:
    """One client and the commands that make it trust the CA."""

    client: str
    commands: tuple[str, ...]


def git_config_keys(host: str, port: int) -> list[str]:
    """The URL-scoped `http.<url>.sslCAInfo` keys for this server's addresses (pure)."""
    hosts = [host] if host in ("localhost",) else [host, "localhost"]
    return [f"http.https://{h}:{port}/.sslCAInfo" for h in dict.fromkeys(hosts)]


def trust_steps(ca: Path, bundle: Path, host: str, port: int, tag: str) -> list[TrustStep]:
    """What `tls:trust` prints, client by client (pure)."""
    q, b = shlex.quote(str(ca)), shlex.quote(str(bundle))
    return [
        TrustStep(
            "git (only for this server's URLs; `cedarbox tls:trust --git` runs these)",
            tuple(f"git config --global {key} {q}" for key in git_config_keys(host, port)),
        ),
        TrustStep("curl", (f"curl --cacert {q} https://<app>.localhost:{port}/",)),
        TrustStep(
            "Python: requests, pip, urllib (the bundle holds this host's CAs and this one)",
            (f"export SSL_CERT_FILE={b} REQUESTS_CA_BUNDLE={b}",),
        ),
        TrustStep("Node", (f"export NODE_EXTRA_CA_CERTS={q}",)),
        TrustStep(
            "the system store (browsers and tools that use it; as root)",
            (
                f"Debian/Ubuntu: cp {q} /usr/local/share/ca-certificates/cedarbox-{tag}.crt"
                " && update-ca-certificates",
                f"Fedora/RHEL:   cp {q} /etc/pki/ca-trust/source/anchors/cedarbox-{tag}.pem"
                " && update-ca-trust",
                "macOS:         security add-trusted-cert -d -r trustRoot"
                f" -k /Library/Keychains/System.keychain {q}",
                f"Chrome on Linux: certutil -d sql:$HOME/.pki/nssdb -A -t C,,"
                f" -n cedarbox-{tag} -i {q}",
            ),
        ),
    ]


@topic.command("tls:ca", help="make (if needed) the local CA; its certificate's path last")
def _tls_ca(args: argparse.Namespace, settings: Settings) -> int:
    ca = LocalCA.open(DataDir(settings.data_dir).tls)
    print(ca.certificate.subject.rfc4514_string())
    print(f"SHA-256 fingerprint: {ca.fingerprint}")
    print(f"valid until {ca.certificate.not_valid_after_utc:%Y-%m-%d}")
    print(ca.cert_path)
    return 0


@topic.command(
    "tls:trust",
    help="print how to make git, curl, Python, Node and the system trust the local CA",
    args=(
        arg("--port", type=int, default=None, help="the server's port (default: the running one)"),
        arg("--git", action="store_true", help="run the git commands (global, URL-scoped)"),
    ),
)
def _tls_trust(args: argparse.Namespace, settings: Settings) -> int:
    data = DataDir(settings.data_dir)
    ca = LocalCA.open(data.tls)
    host, port = _server_address(data, settings, args.port)
    bundle = _write_bundle(ca)
    tag = ca.fingerprint.replace(":", "")[:8].lower()
    steps = trust_steps(ca.cert_path, bundle, host, port, tag)
    print(f"The local CA: {ca.cert_path} (SHA-256 {ca.fingerprint})")
    if args.git:
        for key in git_config_keys(host, port):
            _git_config(key, str(ca.cert_path))
            print(f"Set git config --global {key}")
    else:
        print("Nothing was changed. To trust it, run:")
    for step in steps[1:] if args.git else steps:
        print(f"\n{step.client}:")
        for command in step.commands:
            print(f"  {command}")
    if os.environ.get("GIT_SSL_CAINFO"):
        print(
            "\nNote: GIT_SSL_CAINFO is set in this environment; git then ignores "
            "http.<url>.sslCAInfo. Unset it, or point it at the bundle above."
        )
    return 0


def _server_address(data: DataDir, settings: Settings, port: int | None) -> tuple[str, int]:
    if port is not None:
        return settings.host, port
    record = running_server(data.server_record)
    if record is not None:
        url = urlsplit(record.url)
        if url.hostname and url.port:
            return url.hostname, url.port
    return settings.host, settings.port


def _write_bundle(ca: LocalCA) -> Path:
    """This host's CA bundle plus the local CA, for tools that take one file (SSL_CERT_FILE)."""
    system = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    try:
        base = Path(system).read_bytes()
    except OSError:
        base = b""
    bundle = ca.root / "bundle.pem"
    tmp = bundle.with_suffix(".tmp")
    tmp.write_bytes(base.rstrip(b"\n") + b"\n" + ca.cert_path.read_bytes())
    tmp.replace(bundle)
    return bundle


def _git_config(key: str, value: str) -> None:
    try:
        subprocess.run(["git", "config", "--global", key, value], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise UsageError(
            f"Could not set git's {key}: {exc}", hint="Run the git command above yourself."
        ) from None
