"""The SQLite implementation of the store (gitserver.store): one database file in WAL mode.

The server, pre-receive hooks running in parallel and the CLI all open the same file. Every
write runs in one `BEGIN IMMEDIATE` transaction, so a crash leaves the previous state. The
schema is versioned with `PRAGMA user_version` and migrated on open.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

from gitserver.errors import AppExists, AppNotFound
from gitserver.records import (
    Addon,
    App,
    Build,
    BuildStatus,
    DynoAction,
    DynoOwner,
    DynoRecord,
    DynoRequest,
    DynoState,
    Release,
)

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE apps (
        name        TEXT PRIMARY KEY,
        stack       TEXT NOT NULL,
        created_at  REAL NOT NULL
    );
    CREATE TABLE builds (
        id              TEXT PRIMARY KEY,
        app             TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        status          TEXT NOT NULL,
        source_version  TEXT NOT NULL,
        stack           TEXT NOT NULL,
        started_at      REAL NOT NULL,
        finished_at     REAL,
        failure_code    TEXT,
        release_version INTEGER,
        python_runtime  TEXT
    );
    CREATE INDEX builds_by_app ON builds(app, started_at);
    CREATE TABLE releases (
        app          TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        version      INTEGER NOT NULL,
        description  TEXT NOT NULL,
        build_id     TEXT,
        slug         TEXT,
        config       TEXT NOT NULL,
        process_types TEXT NOT NULL,
        created_at   REAL NOT NULL,
        user         TEXT NOT NULL DEFAULT '',
        slug_pruned  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (app, version)
    );
    CREATE TABLE addons (
        app          TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        name         TEXT NOT NULL,
        service      TEXT NOT NULL,
        plan         TEXT NOT NULL,
        provider     TEXT NOT NULL,
        config_var   TEXT NOT NULL,
        created_at   REAL NOT NULL,
        PRIMARY KEY (app, name)
    );
    CREATE TABLE config_vars (
        app    TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (app, key)
    );
    """,
    # 2: running apps. `formation` and `dyno_requests` are desired state (written by the CLI);
    # `dynos` is what runs (written by the supervisor in `cedarbox serve`, and by `run`).
    """
    CREATE TABLE formation (
        app       TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        type      TEXT NOT NULL,
        quantity  INTEGER NOT NULL,
        PRIMARY KEY (app, type)
    );
    CREATE TABLE dyno_requests (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        app         TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        action      TEXT NOT NULL,
        target      TEXT NOT NULL,
        created_at  REAL NOT NULL
    );
    CREATE TABLE dynos (
        id               TEXT PRIMARY KEY,
        app              TEXT NOT NULL,
        name             TEXT NOT NULL,
        type             TEXT NOT NULL,
        release_version  INTEGER NOT NULL,
        state            TEXT NOT NULL,
        since            REAL NOT NULL,
        command          TEXT NOT NULL,
        pid              INTEGER,
        proc_start       INTEGER,
        port             INTEGER,
        restarts         INTEGER NOT NULL DEFAULT 0,
        owner            TEXT NOT NULL,
        detail           TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX dynos_by_app ON dynos(app, name);
    """,
)


class SQLiteStore:
    """The platform state in `path`; satisfies gitserver.store.Store."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def change_token(self) -> object:
        # SQLite in WAL mode appends every commit to `<db>-wal` and checkpoints into the file
        # itself, so the two files' mtimes and sizes change with every write, by any process.
        token = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                st = path.stat()
                token.append((st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                token.append((0, 0))
        return tuple(token)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one `BEGIN IMMEDIATE` … `COMMIT` (rolled back on error)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        if self._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
            return
        with self.transaction() as db:
            current = db.execute("PRAGMA user_version").fetchone()[0]
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={version}")

    # Apps -------------------------------------------------------------------------------

    def create_app(self, name: str, stack: str) -> App:
        app = App(name=name, stack=stack, created_at=time.time())
        try:
            with self.transaction() as db:
                db.execute(
                    "INSERT INTO apps(name, stack, created_at) VALUES (?, ?, ?)",
                    (app.name, app.stack, app.created_at),
                )
        except sqlite3.IntegrityError:
            raise AppExists(f"App {name!r} already exists.", hint="Choose another name.") from None
        return app

    def find_app(self, name: str) -> App | None:
        row = self._db.execute("SELECT * FROM apps WHERE name = ?", (name,)).fetchone()
        return App(**dict(row)) if row else None

    def get_app(self, name: str) -> App:
        app = self.find_app(name)
        if app is None:
            raise AppNotFound(
                f"Couldn't find that app: {name!r}.",
                hint="List apps with `cedarbox apps`, or create it with `cedarbox apps:create`.",
            )
        return app

    def list_apps(self) -> list[App]:
        rows = self._db.execute("SELECT * FROM apps ORDER BY name").fetchall()
        return [App(**dict(r)) for r in rows]

    def delete_app(self, name: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM apps WHERE name = ?", (name,))

    def set_stack(self, name: str, stack: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE apps SET stack = ? WHERE name = ?", (stack, name))

    # Builds -----------------------------------------------------------------------------

    def start_build(self, build_id: str, app: str, source_version: str, stack: str) -> Build:
        build = Build(
            build_id,
            app,
            BuildStatus.PENDING,
            source_version,
            stack,
            time.time(),
            None,
            None,
            None,
            None,
        )
        with self.transaction() as db:
            db.execute(
                "INSERT INTO builds(id, app, status, source_version, stack, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (build.id, app, build.status, source_version, stack, build.started_at),
            )
        return build

    def finish_build(
        self,
        build_id: str,
        *,
        failure_code: str | None,
        release_version: int | None = None,
        python_runtime: str | None = None,
    ) -> None:
        status = BuildStatus.FAILED if failure_code else BuildStatus.SUCCEEDED
        with self.transaction() as db:
            db.execute(
                "UPDATE builds SET status = ?, finished_at = ?, failure_code = ?,"
                " release_version = ?, python_runtime = ? WHERE id = ?",
                (status, time.time(), failure_code, release_version, python_runtime, build_id),
            )

    def end_interrupted_builds(self, app: str) -> list[str]:
        with self.transaction() as db:
            rows = db.execute(
                "SELECT b.id, r.version FROM builds b LEFT JOIN releases r"
                " ON r.app = b.app AND r.build_id = b.id"
                " WHERE b.app = ? AND b.status = ?",
                (app, BuildStatus.PENDING),
            ).fetchall()
            for build_id, version in rows:
                db.execute(
                    "UPDATE builds SET status = ?, finished_at = ?, failure_code = ?,"
                    " release_version = ? WHERE id = ?",
                    (
                        BuildStatus.SUCCEEDED if version else BuildStatus.FAILED,
                        time.time(),
                        None if version else "BUILD_INTERRUPTED",
                        version,
                        build_id,
                    ),
                )
        return [build_id for build_id, version in rows if not version]

    def list_builds(self, app: str) -> list[Build]:
        rows = self._db.execute(
            "SELECT * FROM builds WHERE app = ? ORDER BY started_at DESC", (app,)
        ).fetchall()
        return [_build(r) for r in rows]

    def last_successful_build(self, app: str) -> Build | None:
        row = self._db.execute(
            "SELECT * FROM builds WHERE app = ? AND status = ? ORDER BY started_at DESC LIMIT 1",
            (app, BuildStatus.SUCCEEDED),
        ).fetchone()
        return _build(row) if row else None

    # Releases and config ----------------------------------------------------------------

    def config(self, app: str) -> dict[str, str]:
        return _config(self._db, app)

    def create_release(
        self,
        app: str,
        description: str,
        *,
        build_id: str | None,
        slug: str | None,
        process_types: dict[str, str],
        user: str = "",
    ) -> Release:
        with self.transaction() as db:
            release = _insert_release(
                db, app, description, build_id, slug, _config(db, app), process_types, user
            )
            if build_id:
                db.execute(
                    "UPDATE builds SET release_version = ? WHERE id = ?",
                    (release.version, build_id),
                )
        return release

    def change_config(
        self, app: str, *, set_vars: dict[str, str], unset: list[str], description: str, user: str
    ) -> Release:
        with self.transaction() as db:
            return _release_current_slug(db, app, set_vars, unset, description, user)

    def rollback(self, app: str, target: Release, *, user: str) -> Release:
        with self.transaction() as db:
            db.execute("DELETE FROM config_vars WHERE app = ?", (app,))
            _set_config(db, app, target.config)
            return _insert_release(
                db,
                app,
                f"Rollback to v{target.version}",
                target.build_id,
                target.slug,
                dict(target.config),
                dict(target.process_types),
                user,
            )

    def attach_addon(self, addon: Addon, config: dict[str, str], *, user: str) -> Release:
        names = [f.name for f in fields(Addon)]
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO addons({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                [getattr(addon, n) for n in names],
            )
            description = f"Add {addon.service} add-on"
            return _release_current_slug(db, addon.app, config, (), description, user)

    def detach_addon(
        self, addon: Addon, *, unset: list[str], description: str, user: str
    ) -> Release:
        with self.transaction() as db:
            db.execute("DELETE FROM addons WHERE app = ? AND name = ?", (addon.app, addon.name))
            return _release_current_slug(db, addon.app, {}, unset, description, user)

    def list_addons(self, app: str) -> list[Addon]:
        rows = self._db.execute(
            "SELECT * FROM addons WHERE app = ? ORDER BY created_at", (app,)
        ).fetchall()
        return [Addon(**dict(r)) for r in rows]

    def get_release(self, app: str, version: int) -> Release | None:
        row = self._db.execute(
            "SELECT * FROM releases WHERE app = ? AND version = ?", (app, version)
        ).fetchone()
        return _release(row) if row else None

    def list_releases(self, app: str) -> list[Release]:
        rows = self._db.execute(
            "SELECT * FROM releases WHERE app = ? ORDER BY version DESC", (app,)
        ).fetchall()
        return [_release(r) for r in rows]

    def current_release(self, app: str) -> Release | None:
        return _current(self._db, app)

    def prune_slugs(self, app: str, keep: int) -> list[str]:
        with self.transaction() as db:
            rows = db.execute(
                "SELECT version, slug FROM releases WHERE app = ? AND slug IS NOT NULL"
                " AND slug_pruned = 0 ORDER BY version DESC",
                (app,),
            ).fetchall()
            keep_versions = {r["version"] for r in rows[: max(keep, 2)]}
            kept_slugs = {r["slug"] for r in rows if r["version"] in keep_versions}
            latest = db.execute(
                "SELECT slug FROM releases WHERE app = ? ORDER BY version DESC LIMIT 2", (app,)
            ).fetchall()
            kept_slugs |= {r["slug"] for r in latest}
            doomed = [r for r in rows if r["slug"] not in kept_slugs]
            db.executemany(
                "UPDATE releases SET slug_pruned = 1 WHERE app = ? AND version = ?",
                [(app, r["version"]) for r in doomed],
            )
        return sorted({r["slug"] for r in doomed})

    # Formation, dyno requests and dynos ---------------------------------------------------

    def formation(self, app: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT type, quantity FROM formation WHERE app = ? ORDER BY type", (app,)
        ).fetchall()
        return {r["type"]: r["quantity"] for r in rows}

    def all_formations(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for r in self._db.execute("SELECT app, type, quantity FROM formation"):
            result.setdefault(r["app"], {})[r["type"]] = r["quantity"]
        return result

    def set_formation(self, app: str, quantities: dict[str, int]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO formation(app, type, quantity) VALUES (?, ?, ?)"
                " ON CONFLICT(app, type) DO UPDATE SET quantity = excluded.quantity",
                [(app, t, q) for t, q in quantities.items()],
            )

    def request_dynos(self, app: str, action: DynoAction, target: str) -> DynoRequest:
        now = time.time()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO dyno_requests(app, action, target, created_at) VALUES (?, ?, ?, ?)",
                (app, action, target, now),
            )
        return DynoRequest(int(cursor.lastrowid or 0), app, DynoAction(action), target, now)

    def dyno_requests_after(self, request_id: int) -> list[DynoRequest]:
        rows = self._db.execute(
            "SELECT * FROM dyno_requests WHERE id > ? ORDER BY id", (request_id,)
        ).fetchall()
        return [_dyno_request(r) for r in rows]

    def last_dyno_request_id(self) -> int:
        row = self._db.execute("SELECT MAX(id) FROM dyno_requests").fetchone()
        return int(row[0] or 0)

    def forget_dyno_requests(self, up_to: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM dyno_requests WHERE id <= ?", (up_to,))

    def dynos(self, app: str | None = None) -> list[DynoRecord]:
        if app is None:
            rows = self._db.execute("SELECT * FROM dynos ORDER BY app, name, since").fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM dynos WHERE app = ? ORDER BY name, since", (app,)
            ).fetchall()
        return [_dyno(r) for r in rows]

    def claim_dyno(self, dyno: DynoRecord) -> bool:
        with self.transaction() as db:
            taken = db.execute(
                "SELECT 1 FROM dynos WHERE app = ? AND name = ?", (dyno.app, dyno.name)
            ).fetchone()
            if taken:
                return False
            _insert_dyno(db, dyno, "INSERT")
        return True

    def save_dyno(self, dyno: DynoRecord) -> None:
        with self.transaction() as db:
            _insert_dyno(db, dyno, "INSERT OR REPLACE")

    def delete_dyno(self, dyno_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM dynos WHERE id = ?", (dyno_id,))

    def delete_dynos(self, *, owner: DynoOwner) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM dynos WHERE owner = ?", (owner,))


def _set_config(db: sqlite3.Connection, app: str, values: Mapping[str, str]) -> None:
    db.executemany(
        "INSERT INTO config_vars(app, key, value) VALUES (?, ?, ?)"
        " ON CONFLICT(app, key) DO UPDATE SET value = excluded.value",
        [(app, k, v) for k, v in values.items()],
    )


def _release_current_slug(
    db: sqlite3.Connection,
    app: str,
    set_vars: Mapping[str, str],
    unset: Iterable[str],
    description: str,
    user: str,
) -> Release:
    """Change config vars, then append a release of the current slug that carries them."""
    _set_config(db, app, set_vars)
    db.executemany(
        "DELETE FROM config_vars WHERE app = ? AND key = ?", [(app, key) for key in unset]
    )
    current = _current(db, app)
    return _insert_release(
        db,
        app,
        description,
        current.build_id if current else None,
        current.slug if current else None,
        _config(db, app),
        current.process_types if current else {},
        user,
    )


def _config(db: sqlite3.Connection, app: str) -> dict[str, str]:
    rows = db.execute("SELECT key, value FROM config_vars WHERE app = ? ORDER BY key", (app,))
    return {r["key"]: r["value"] for r in rows}


def _current(db: sqlite3.Connection, app: str) -> Release | None:
    row = db.execute(
        "SELECT * FROM releases WHERE app = ? ORDER BY version DESC LIMIT 1", (app,)
    ).fetchone()
    return _release(row) if row else None


def _insert_release(
    db: sqlite3.Connection,
    app: str,
    description: str,
    build_id: str | None,
    slug: str | None,
    config: dict[str, str],
    process_types: dict[str, str],
    user: str,
) -> Release:
    last = db.execute("SELECT MAX(version) FROM releases WHERE app = ?", (app,)).fetchone()[0]
    release = Release(
        app=app,
        version=(last or 0) + 1,
        description=description,
        build_id=build_id,
        slug=slug,
        config=config,
        process_types=process_types,
        created_at=time.time(),
        user=user,
        slug_pruned=False,
    )
    db.execute(
        "INSERT INTO releases(app, version, description, build_id, slug, config,"
        " process_types, created_at, user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            app,
            release.version,
            description,
            build_id,
            slug,
            json.dumps(config),
            json.dumps(process_types),
            release.created_at,
            user,
        ),
    )
    return release


def _insert_dyno(db: sqlite3.Connection, dyno: DynoRecord, verb: str) -> None:
    names = [f.name for f in fields(DynoRecord)]
    db.execute(
        f"{verb} INTO dynos({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        [getattr(dyno, n) for n in names],
    )


def _release(row: sqlite3.Row) -> Release:
    data = dict(row)
    data["config"] = json.loads(data["config"])
    data["process_types"] = json.loads(data["process_types"])
    data["slug_pruned"] = bool(data["slug_pruned"])
    return Release(**data)


def _build(row: sqlite3.Row) -> Build:
    data = dict(row)
    data["status"] = BuildStatus(data["status"])
    return Build(**data)


def _dyno(row: sqlite3.Row) -> DynoRecord:
    data = dict(row)
    data["state"] = DynoState(data["state"])
    data["owner"] = DynoOwner(data["owner"])
    return DynoRecord(**data)


def _dyno_request(row: sqlite3.Row) -> DynoRequest:
    data = dict(row)
    data["action"] = DynoAction(data["action"])
    return DynoRequest(**data)
