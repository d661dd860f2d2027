"""PostgreSQL for the heroku-postgresql add-on: an admin connection and a managed cluster.

Two places can serve databases: an external server reached with an admin URL
(`--postgres-admin-url`, CEDARBOX_POSTGRES_ADMIN_URL), or a cluster cedarbox manages itself in
`DATA_DIR/postgres` with the host's `initdb`/`pg_ctl` (Debian's PostgreSQL packages). The
managed cluster listens on 127.0.0.1 on a port chosen once at initdb (so DATABASE_URLs stay
valid), runs as the `postgres` user when cedarbox runs as root (PostgreSQL refuses root), is
started on demand by whoever needs it and stopped with `cedarbox serve`. It runs with
`ssl = on` and a server certificate from the data directory's CA (gitserver/tls.py), put into
PGDATA at every start (so a renewed one is used), as Heroku Postgres requires SSL and apps ask
for it (`sslmode=require`).

Admin work uses psycopg (a pure Python driver with its own libpq wheel): typed errors and
server-side quoting of identifiers and passwords, no shell or psql output to parse.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from psycopg import sql

from gitserver.datadir import PRIVATE_DIR, DataDir, private_file, write_private
from gitserver.errors import AddonFailed
from gitserver.tls import DEFAULT_NAME, LocalCA

SUPERUSER = "postgres"
PG_BIN_DIRS = tuple(f"/usr/lib/postgresql/{v}/bin" for v in (17, 16, 15, 14, 13))


@dataclass(frozen=True)
class Database:
    """One add-on's database and role on a server, and the URL the app uses."""

    name: str
    role: str
    password: str
    host: str
    port: int

    @property
    def url(self) -> str:
        return (
            f"postgres://{quote(self.role, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.name, safe='')}"
        )


def pg_tool(name: str) -> str | None:
    """`initdb`, `pg_ctl`, `psql`: on PATH, else in Debian's versioned directories."""
    found = shutil.which(name)
    if found:
        return found
    for directory in PG_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file():
            return str(candidate)
    return None


def cluster_available() -> bool:
    """initdb and pg_ctl exist on this host (and, as root, a `postgres` user to run them)."""
    if pg_tool("initdb") is None or pg_tool("pg_ctl") is None:
        return False
    return os.geteuid() != 0 or _postgres_user() is not None


# Admin operations -----------------------------------------------------------------------


def create_database(admin_url: str, name: str, where: str) -> Database:
    """A role with a random password and a database it owns that no other role may open."""
    password = secrets.token_urlsafe(24)
    parts = urlsplit(admin_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    with _admin(admin_url, where) as conn:
        try:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(name)
                )
            )
            conn.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name))
            )
        except psycopg.Error as exc:
            _drop(conn, name)
            raise _failed(exc, where, "create a database") from None
    return Database(name=name, role=name, password=password, host=host, port=port)


def drop_database(admin_url: str, name: str, where: str) -> None:
    """Drop the add-on's database (closing its connections) and its role."""
    with _admin(admin_url, where) as conn:
        try:
            _drop(conn, name, strict=True)
        except psycopg.Error as exc:
            raise _failed(exc, where, "drop the database") from None


def reset_database(admin_url: str, name: str, where: str) -> None:
    """Empty the database: drop it and create it again for the same role (pg:reset)."""
    ident = sql.Identifier(name)
    with _admin(admin_url, where) as conn:
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, ident))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident))
        except psycopg.Error as exc:
            raise _failed(exc, where, "reset the database") from None


def _drop(conn: psycopg.Connection[Any], name: str, *, strict: bool = False) -> None:
    ident = sql.Identifier(name)
    for statement in (
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident),
        sql.SQL("DROP ROLE IF EXISTS {}").format(ident),
    ):
        try:
            conn.execute(statement)
        except psycopg.Error:
            if strict:
                raise


@contextmanager
def _admin(admin_url: str, where: str) -> Iterator[psycopg.Connection[Any]]:
    try:
        conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise AddonFailed(
            f"Cannot reach the PostgreSQL server ({where}): {_first_line(exc)}",
            hint="Check that the server runs and that the admin URL is right.",
        ) from None
    try:
        yield conn
    finally:
        conn.close()


def _failed(exc: psycopg.Error, where: str, doing: str) -> AddonFailed:
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return AddonFailed(
            f"The PostgreSQL admin role cannot {doing} ({where}): {_first_line(exc)}",
            hint="The admin URL needs a role with CREATEROLE and CREATEDB (or a superuser).",
        )
    if isinstance(exc, psycopg.errors.DiskFull):
        return AddonFailed(f"The PostgreSQL server is out of disk space ({where}).")
    return AddonFailed(f"PostgreSQL could not {doing} ({where}): {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# The managed cluster --------------------------------------------------------------------


@dataclass(frozen=True)
class ManagedCluster:
    """The cluster in DATA_DIR/postgres: `cluster.json` (port, superuser password) + PGDATA."""

    root: Path  # DATA_DIR/postgres, owned by cedarbox's user
    # The CA's directory; by default the data directory's (DATA_DIR/tls).
    tls: Path | None = None

    @property
    def record(self) -> Path:
        return self.root / "cluster.json"

    def describe(self) -> str:
        return f"the cluster cedarbox manages in {self.root}"

    def admin_url(self) -> str:
        """Ensure the cluster exists and runs; the superuser's URL over TCP."""
        with self._lock():
            info = self._load() or self._init()
            if not self._running(Path(info["pgdata"])):
                self._start(info)
        return (
            f"postgresql://{SUPERUSER}:{quote(info['password'], safe='')}"
            f"@127.0.0.1:{info['port']}/postgres"
        )

    def exists(self) -> bool:
        return self.record.is_file()

    def stop(self) -> bool:
        """Stop the cluster if it runs; True if it did."""
        info = self._load()
        if info is None:
            return False
        pgdata = Path(info["pgdata"])
        with self._lock():
            if not self._running(pgdata):
                return False
            self._pg("pg_ctl", "stop", "-D", str(pgdata), "-m", "fast", "-w", "-t", "30")
        return True

    # Internals ----------------------------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        if self.record.exists():
            private_file(self.record)  # one written before cedarbox made it 0600
        with open(self.root / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load(self) -> dict[str, str] | None:
        try:
            return json.loads(self.record.read_text())
        except FileNotFoundError:
            return None

    def _init(self) -> dict[str, str]:
        pgdata = self._pgdata_location()
        if pgdata.exists():
            shutil.rmtree(pgdata)  # a half-made cluster from an interrupted initdb
        pgdata.mkdir(parents=True, mode=0o700)
        password = secrets.token_urlsafe(24)
        pwfile = pgdata.parent / f".pw-{secrets.token_hex(4)}"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        owner = _postgres_user() if os.geteuid() == 0 else None
        if owner is not None:
            os.chown(pgdata, owner.pw_uid, owner.pw_gid)
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        try:
            self._pg(
                "initdb",
                "-D",
                str(pgdata),
                "-U",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        port = _free_port()
        with open(pgdata / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# cedarbox: TCP on loopback only, the socket in PGDATA\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {port}\n"
                f"unix_socket_directories = '{pgdata}'\n"
            )
        info = {"pgdata": str(pgdata), "port": str(port), "password": password}
        write_private(self.record, json.dumps(info))  # the superuser's password: 0600
        return info

    def _pgdata_location(self) -> Path:
        """DATA_DIR/postgres/data, unless the `postgres` user cannot reach it (a data dir under
        /root): then a directory of its own in its home, named after the data dir."""
        preferred = self.root / "data"
        owner = _postgres_user() if os.geteuid() == 0 else None
        if owner is None or _reachable_by(owner, self.root):
            return preferred
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]
        return Path(owner.pw_dir) / "cedarbox" / digest / "data"

    def _running(self, pgdata: Path) -> bool:
        if not (pgdata / "postmaster.pid").exists():
            return False
        status = self._pg("pg_ctl", "status", "-D", str(pgdata), check=False)
        return status.returncode == 0

    def _start(self, info: dict[str, str]) -> None:
        pgdata = Path(info["pgdata"])
        port = int(info["port"])
        if not _port_free(port):
            raise AddonFailed(
                f"Cannot start {self.describe()}: port {port} on 127.0.0.1 is in use.",
                hint="Stop whatever listens there; the add-ons' DATABASE_URLs name this port.",
            )
        self._install_certificate(pgdata)
        self._pg(
            "pg_ctl",
            "start",
            "-D",
            str(pgdata),
            "-l",
            str(pgdata / "server.log"),
            "-o",
            "-c ssl=on",  # server.crt and server.key in PGDATA are PostgreSQL's defaults
            "-w",
            "-t",
            "60",
        )

    def _install_certificate(self, pgdata: Path) -> None:
        """The CA's leaf for localhost/127.0.0.1 as PGDATA/server.crt and server.key (0600,
        owned by the user the cluster runs as: PostgreSQL refuses a key others can read)."""
        ca = LocalCA.open(self.tls or DataDir(self.root.parent).tls)
        leaf = ca.leaf(DEFAULT_NAME)
        owner = _postgres_user() if os.geteuid() == 0 else None
        for source, name in ((leaf.cert, "server.crt"), (leaf.key, "server.key")):
            target = pgdata / name
            tmp = pgdata / f".{name}.tmp"
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(source.read_bytes())
            if owner is not None:
                os.chown(tmp, owner.pw_uid, owner.pw_gid)
            tmp.replace(target)

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        binary = pg_tool(tool)
        if binary is None:
            raise AddonFailed(f"`{tool}` is not installed.", hint="Install Debian's postgresql.")
        command = [binary, *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd="/",
            start_new_session=True,  # the postmaster must not die with our process group
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise AddonFailed(
                f"`{tool} {args[0]}` failed for {self.describe()}: "
                + (detail[-1] if detail else f"exit status {result.returncode}"),
                hint=f"See {self.root}/data/server.log.",
            )
        return result


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(SUPERUSER)
    except KeyError:
        return None


def _reachable_by(user: pwd.struct_passwd, path: Path) -> bool:
    """Whether `user` can traverse every directory down to `path` (mode bits only)."""
    path = path.resolve()
    for directory in [*reversed(path.parents), path]:
        try:
            st = directory.stat()
        except FileNotFoundError:
            return True  # created by us below a reachable parent, with default modes
        if st.st_uid == user.pw_uid:
            allowed = st.st_mode & 0o100
        elif st.st_gid == user.pw_gid:
            allowed = st.st_mode & 0o010
        else:
            allowed = st.st_mode & 0o001
        if not allowed:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
