"""HTTPS on the server's one port: git, the API and the router over TLS, with the local CA.

Clients trust only the data directory's CA (GIT_SSL_CAINFO, curl --cacert, an SSLContext with
that one file); the same requests without it must fail certificate verification.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gitserver.postgres import cluster_available
from tests.e2e.test_addons_postgres import DJANGO_PG_APP, config, pg_server  # noqa: F401
from tests.e2e.test_addons_postgres import SETTINGS as PG_SETTINGS
from tests.e2e.test_runner import get
from tests.support.apps import NOOP
from tests.support.gitutil import check, git, make_repo, write_files
from tests.support.server import APP_WHEELS, Server, noop_build_env, start_server


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A no-op-build server whose connections must start (and finish a handshake) in 1 s."""
    srv = start_server(
        tmp_path_factory.mktemp("tls-server"),
        **noop_build_env(),
        CEDARBOX_TLS_HANDSHAKE_TIMEOUT="1",
    )
    yield srv
    srv.stop()


def ca_file(server: Server) -> Path:
    return server.data_dir / "tls" / "ca.pem"


def port_of(server: Server) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


def https(server: Server, host: str = "127.0.0.1") -> str:
    return f"https://{host}:{port_of(server)}"


def trusting(server: Server) -> dict[str, str]:
    """The server's test environment, with git trusting the local CA (and nothing else)."""
    return {**server.env, "GIT_SSL_CAINFO": str(ca_file(server))}


def tls_connect(server: Server, name: str | None, *, cafile: Path | None) -> ssl.SSLSocket:
    """A TLS connection to the server's port asking for `name` by SNI."""
    # Without `cafile`: the host's CAs only.
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    raw = socket.create_connection(("127.0.0.1", port_of(server)), timeout=30)
    try:
        return context.wrap_socket(raw, server_hostname=name)
    except BaseException:
        raw.close()
        raise


def request(sock: socket.socket, host: str, path: str = "/") -> bytes:
    """One HTTP/1.1 request with `Connection: close`; the whole response."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def server_log(server: Server) -> str:
    return server.process.log_tail()


def wait_for_log(server: Server, text: str) -> str:
    """The server's log once it holds `text` (a log line is written just after a close)."""
    for _ in range(200):
        log = server_log(server)
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the server's log:\n{server_log(server)}")


def test_the_ca_is_made_in_the_data_directory_and_tls_ca_names_it(tls_server: Server) -> None:
    server = tls_server
    ca = ca_file(server)
    assert (ca.parent / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    shown = server.cli("tls:ca").stdout.splitlines()
    assert shown[-1] == str(ca)
    assert any(line.startswith("SHA-256 fingerprint: ") for line in shown)
    trust = server.cli("tls:trust").stdout
    port = port_of(server)
    assert f"git config --global http.https://127.0.0.1:{port}/.sslCAInfo {ca}" in trust
    assert f"export NODE_EXTRA_CA_CERTS={ca}" in trust
    assert "Nothing was changed." in trust
    gitconfig = Path(server.env["HOME"]) / ".gitconfig"
    assert not gitconfig.exists()  # printing changed nothing
    server.cli("tls:trust", "--git")
    keys = subprocess.run(
        ["git", "config", "--global", "--get-regexp", r"http\..*\.sslcainfo"],
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"http.https://127.0.0.1:{port}/.sslcainfo {ca}" in keys
    assert f"http.https://localhost:{port}/.sslcainfo {ca}" in keys
    gitconfig.unlink()  # the other tests trust the CA by GIT_SSL_CAINFO alone


def test_git_push_clone_and_fetch_over_https_trusting_only_the_ca(
    tls_server: Server, tmp_path: Path
) -> None:
    server = tls_server
    env = trusting(server)
    # Over 1 MiB: git sends the push body chunked.
    files: dict[str, str | bytes] = {**NOOP, "blob.bin": os.urandom(2 * 1024 * 1024)}
    repo = make_repo(tmp_path / "src", env, files)
    pushed = check(git(repo, env, "push", f"{https(server)}/secure.git", "main"))
    assert "-----> Noop app detected" in pushed.remote_lines()
    url = f"https://secure.localhost:{port_of(server)}/"
    assert f"       {url} deployed to cedarbox" in pushed.remote_lines()

    clone = tmp_path / "clone"
    check(git(tmp_path, env, "clone", "-q", f"{https(server, 'localhost')}/secure.git", "clone"))
    assert (clone / "blob.bin").read_bytes() == (repo / "blob.bin").read_bytes()
    write_files(repo, {"more.txt": "more\n"})
    check(git(repo, env, "add", "."))
    check(git(repo, env, "commit", "-qm", "more"))
    check(git(repo, env, "push", "-q", f"{https(server)}/secure.git", "main"))
    check(git(clone, env, "fetch", "-q", "origin"))
    assert (
        git(clone, env, "rev-parse", "origin/main").stdout
        == git(repo, env, "rev-parse", "HEAD").stdout
    )

    # Without the CA, git refuses the server's certificate; plain HTTP still serves the same.
    refused = git(tmp_path, server.env, "ls-remote", f"{https(server)}/secure.git")
    assert refused.returncode != 0 and "certificate" in refused.stderr
    plain = check(git(tmp_path, server.env, "ls-remote", f"{server.url}/secure.git"))
    assert (
        plain.stdout == check(git(tmp_path, env, "ls-remote", f"{https(server)}/secure.git")).stdout
    )

    # The app's URL is https in apps:info and the API, over either protocol.
    info = json.loads(server.cli("apps:info", "-a", "secure", "--json").stdout)
    assert info["web_url"] == url
    with tls_connect(server, "localhost", cafile=ca_file(server)) as sock:
        response = request(sock, f"localhost:{port_of(server)}", "/api/apps/secure")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b'"web_url": "' + url.encode() + b'"' in body


def test_api_key_auth_over_https(tmp_path: Path) -> None:
    server = start_server(tmp_path, CEDARBOX_API_KEY="s3cret", **noop_build_env())
    try:
        env = trusting(server)
        repo = make_repo(tmp_path / "src", env, NOOP)
        denied = git(repo, env, "push", f"{https(server)}/keyed.git", "main")
        assert denied.returncode != 0
        authed = f"https://me:s3cret@127.0.0.1:{port_of(server)}/keyed.git"
        check(git(repo, env, "push", authed, "main"))
    finally:
        server.stop()


def test_certificates_are_per_name_and_really_verified(tls_server: Server, tmp_path: Path) -> None:
    server = tls_server
    env = trusting(server)
    check(
        git(
            make_repo(tmp_path / "src", env, NOOP),
            env,
            "push",
            f"{https(server)}/named.git",
            "main",
        )
    )
    ca = ca_file(server)
    # Python sends no SNI for an IP address; it checks the certificate's IP entries then.
    for name in ("127.0.0.1", "localhost", "named.localhost"):
        with tls_connect(server, name, cafile=ca) as sock:
            cert = sock.getpeercert()
            assert cert is not None
            sans = [str(entry[1]) for entry in cert["subjectAltName"]]
            assert sans == (
                ["named.localhost"]
                if name == "named.localhost"
                else ["localhost", "127.0.0.1", "0:0:0:0:0:0:0:1"]
            )
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_connect(server, "localhost", cafile=None)
    wait_for_log(server, "TLS handshake failed, closed")
    # curl, as a user would run it: *.localhost resolves to 127.0.0.1 on its own.
    port = port_of(server)
    curl = subprocess.run(
        ["curl", "-sS", "--cacert", str(ca), f"https://named.localhost:{port}/"],
        capture_output=True,
        text=True,
        env={**server.env, "CURL_CA_BUNDLE": ""},
    )
    assert curl.returncode == 0, curl.stderr  # the app has no web process: the router's 503
    assert "No web processes running" in curl.stdout


def test_bad_connections_are_closed_with_a_log_line_and_others_go_on(tls_server: Server) -> None:
    server = tls_server
    port = port_of(server)
    ca = ca_file(server)
    # A half handshake that then idles, and a connection that sends nothing at all.
    idle_tls = socket.create_connection(("127.0.0.1", port), timeout=30)
    idle_tls.sendall(b"\x16\x03\x01\x00")
    silent = socket.create_connection(("127.0.0.1", port), timeout=30)
    # Meanwhile other connections are served, over both protocols.
    with tls_connect(server, "localhost", cafile=ca) as sock:
        assert request(sock, f"localhost:{port}").startswith(b"HTTP/1.1 200")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        assert request(sock, f"127.0.0.1:{port}").startswith(b"HTTP/1.1 200")
    assert idle_tls.recv(100) == b""  # closed by the server after its 1 s handshake timeout
    assert silent.recv(100) == b""
    idle_tls.close()
    silent.close()
    wait_for_log(server, "TLS handshake not done within 1 s, closed")
    wait_for_log(server, "closed, nothing sent within 1 s")

    # Garbage first bytes: neither a TLS record nor an HTTP method.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"\x00\xff garbage\r\n\r\n")
        assert sock.recv(100) == b""
    wait_for_log(server, "closed, neither HTTP nor TLS (first byte 0x00)")

    # A TLS record that is no valid handshake.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64)
        assert sock.recv(100)[:1] in (b"", b"\x15")  # nothing, or a TLS alert, then the close
    # Names this server does not serve: not ours, or an app that does not exist.
    for name in ("example.com", "nosuchapp.localhost", "bad_name.localhost"):
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            tls_connect(server, name, cafile=ca)
        wait_for_log(server, f"TLS: refused a handshake for {name!r}")
    with tls_connect(server, "localhost", cafile=ca) as sock:
        assert request(sock, f"localhost:{port}").startswith(b"HTTP/1.1 200")


DJANGO_TLS_SETTINGS = (
    PG_SETTINGS
    + """
# As Heroku's getting-started app: HTTPS only on a dyno, trusting the router's header.
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
SECURE_SSL_REDIRECT = "DYNO" in os.environ
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# What dj-database-url's ssl_require=True sets.
DATABASES["default"]["OPTIONS"] = {"sslmode": "require"}
"""
)
DJANGO_TLS_APP = {
    **DJANGO_PG_APP,
    "mysite/settings.py": DJANGO_TLS_SETTINGS,
    "mysite/urls.py": """\
from django.db import connection
from django.http import HttpResponse
from django.urls import path
from notes.models import Note

def index(request):
    if "write" in request.GET:
        Note.objects.create(text=request.GET["write"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ssl = cursor.fetchone()[0]
    rows = ",".join(n.text for n in Note.objects.order_by("id"))
    port = request.META.get("HTTP_X_FORWARDED_PORT")
    return HttpResponse(f"{request.scheme} {port} ssl={ssl} {rows}")

urlpatterns = [path("", index)]
""",
}


@pytest.mark.skipif(not cluster_available(), reason="PostgreSQL's initdb/pg_ctl are not installed")
@pytest.mark.skipif(not (APP_WHEELS / ".fetched").exists(), reason="run `make test-deps` first")
def test_django_that_requires_https_and_ssl_to_postgres_deploys_and_serves(
    pg_server: Server,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    server = pg_server
    port = port_of(server)
    env = trusting(server)
    repo = make_repo(tmp_path / "src", env, DJANGO_TLS_APP)
    pushed = check(git(repo, env, "push", f"{https(server)}/djtls.git", "main"))
    text = "\n".join(pushed.remote_lines())
    # The release phase migrated over SSL (sslmode=require fails on a server without it).
    assert "Applying notes.0001_initial... OK" in text
    assert f"https://djtls.localhost:{port}/ deployed to cedarbox" in text
    assert "Verifying deploy... done." in text
    assert urlsplit(config(server, "djtls")["DATABASE_URL"]).query == ""  # a normal URL

    # Plain HTTP on the port: Django redirects to https on the same host and port.
    status, _, response = get(server, "djtls", "/?write=lost")
    assert status == 301
    assert response.getheader("Location") == f"https://djtls.localhost:{port}/?write=lost"

    # HTTPS on the same port, from curl trusting only the CA (no --resolve: curl resolves
    # *.localhost itself) and from Python.
    curl = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(ca_file(server)),
            f"https://djtls.localhost:{port}/?write=hi",
        ],
        capture_output=True,
        text=True,
        env={**server.env, "CURL_CA_BUNDLE": ""},
    )
    assert (curl.returncode, curl.stdout) == (0, f"https {port} ssl=True hi"), curl.stderr
    with tls_connect(server, "djtls.localhost", cafile=ca_file(server)) as sock:
        response_bytes = request(sock, f"djtls.localhost:{port}")
    assert response_bytes.startswith(b"HTTP/1.1 200")
    assert response_bytes.endswith(f"https {port} ssl=True hi".encode())
    log = (server.data_dir / "logs" / "djtls.log").read_text()
    assert "status=301" in log and "protocol=http\n" in log
    assert "status=200" in log and "protocol=https\n" in log
