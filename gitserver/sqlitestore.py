"""The SQLite implementation of the store (gitserver.store): one database file in WAL mode.

The server, pre-receive hooks running in parallel and the CLI all open the same file. Every
write runs in one `BEGIN IMMEDIATE` transaction, so a crash leaves the previous state. The
schema (gitserver.sqliteschema) is migrated on open.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from gitserver.datadir import private_file
from gitserver.errors import AppExists, AppNotFound
from gitserver.records import (
    Addon,
    App,
    Build,
    BuildStatus,
    DeployKey,
    DynoAction,
    DynoOwner,
    DynoRecord,
    DynoRequest,
    DynoState,
    Release,
)
from gitserver.sqliteschema import MIGRATIONS, migrate, schema_version

R = TypeVar("R")


class SQLiteStore:
    """The platform state in `path`; satisfies gitserver.store.Store."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Config vars live here: 0600; SQLite gives -wal and -shm the file's own mode.
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file == path or file.exists():
                private_file(file)
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
        if schema_version(self._db) == len(MIGRATIONS):
            return
        with self.transaction() as db:
            migrate(db)

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
        return _one(self._db, App, "SELECT * FROM apps WHERE name = ?", name)

    def get_app(self, name: str) -> App:
        app = self.find_app(name)
        if app is None:
            raise AppNotFound(
                f"Couldn't find that app: {name!r}.",
                hint="List apps with `cedarbox apps`, or create it with `cedarbox apps:create`.",
            )
        return app

    def list_apps(self) -> list[App]:
        return _all(self._db, App, "SELECT * FROM apps ORDER BY name")

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
        return _all(
            self._db, Build, "SELECT * FROM builds WHERE app = ? ORDER BY started_at DESC", app
        )

    def last_successful_build(self, app: str) -> Build | None:
        return _one(
            self._db,
            Build,
            "SELECT * FROM builds WHERE app = ? AND status = ? ORDER BY started_at DESC LIMIT 1",
            app,
            BuildStatus.SUCCEEDED,
        )

    def prune_builds(self, app: str, keep: int) -> list[str]:
        with self.transaction() as db:
            rows = db.execute(
                "SELECT id, status FROM builds WHERE app = ? ORDER BY started_at DESC", (app,)
            ).fetchall()
            last_good = next((r["id"] for r in rows if r["status"] == BuildStatus.SUCCEEDED), None)
            doomed = [
                r["id"]
                for r in rows[max(keep, 1) :]
                if r["status"] != BuildStatus.PENDING and r["id"] != last_good
            ]
            db.executemany("DELETE FROM builds WHERE id = ?", [(i,) for i in doomed])
        return doomed

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
        with self.transaction() as db:
            _insert(db, "INSERT", "addons", addon)
            description = f"Add {addon.service} add-on"
            return _release_current_slug(db, addon.app, config, (), description, user)

    def detach_addon(
        self, addon: Addon, *, unset: list[str], description: str, user: str
    ) -> Release:
        with self.transaction() as db:
            db.execute("DELETE FROM addons WHERE app = ? AND name = ?", (addon.app, addon.name))
            return _release_current_slug(db, addon.app, {}, unset, description, user)

    def list_addons(self, app: str) -> list[Addon]:
        return _all(self._db, Addon, "SELECT * FROM addons WHERE app = ? ORDER BY created_at", app)

    def get_release(self, app: str, version: int) -> Release | None:
        sql = "SELECT * FROM releases WHERE app = ? AND version = ?"
        return _one(self._db, Release, sql, app, version)

    def list_releases(self, app: str) -> list[Release]:
        sql = "SELECT * FROM releases WHERE app = ? ORDER BY version DESC"
        return _all(self._db, Release, sql, app)

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
        sql = "SELECT * FROM dyno_requests WHERE id > ? ORDER BY id"
        return _all(self._db, DynoRequest, sql, request_id)

    def last_dyno_request_id(self) -> int:
        row = self._db.execute("SELECT MAX(id) FROM dyno_requests").fetchone()
        return int(row[0] or 0)

    def forget_dyno_requests(self, up_to: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM dyno_requests WHERE id <= ?", (up_to,))

    def dynos(self, app: str | None = None) -> list[DynoRecord]:
        if app is None:
            return _all(self._db, DynoRecord, "SELECT * FROM dynos ORDER BY app, name, since")
        sql = "SELECT * FROM dynos WHERE app = ? ORDER BY name, since"
        return _all(self._db, DynoRecord, sql, app)

    def claim_dyno(self, dyno: DynoRecord) -> bool:
        with self.transaction() as db:
            taken = db.execute(
                "SELECT 1 FROM dynos WHERE app = ? AND name = ?", (dyno.app, dyno.name)
            ).fetchone()
            if taken:
                return False
            _insert(db, "INSERT", "dynos", dyno)
        return True

    def save_dyno(self, dyno: DynoRecord) -> None:
        with self.transaction() as db:
            _insert(db, "INSERT OR REPLACE", "dynos", dyno)

    def delete_dyno(self, dyno_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM dynos WHERE id = ?", (dyno_id,))

    def delete_dynos(self, *, owner: DynoOwner) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM dynos WHERE owner = ?", (owner,))

    # Deploy keys -------------------------------------------------------------------------

    def add_deploy_key(self, key: DeployKey) -> None:
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM apps WHERE name = ?", (key.app,)).fetchone() is None:
                raise AppNotFound(
                    f"Couldn't find that app: {key.app!r}.",
                    hint="List apps with `cedarbox apps`; a deploy key is for an existing app.",
                )
            _insert(db, "INSERT", "deploy_keys", key)

    def find_deploy_key(self, digest: str) -> DeployKey | None:
        return _one(self._db, DeployKey, "SELECT * FROM deploy_keys WHERE digest = ?", digest)

    def list_deploy_keys(self, app: str | None = None) -> list[DeployKey]:
        if app is None:
            sql = "SELECT * FROM deploy_keys ORDER BY app, created_at, id"
            return _all(self._db, DeployKey, sql)
        sql = "SELECT * FROM deploy_keys WHERE app = ? ORDER BY created_at, id"
        return _all(self._db, DeployKey, sql, app)

    def delete_deploy_key(self, key_id: str) -> DeployKey | None:
        with self.transaction() as db:
            key = _one(db, DeployKey, "SELECT * FROM deploy_keys WHERE id = ?", key_id)
            db.execute("DELETE FROM deploy_keys WHERE id = ?", (key_id,))
        return key

    def mark_deploy_key_used(self, key_id: str, when: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE deploy_keys SET last_used_at = ? WHERE id = ?", (when, key_id))


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
    return _one(
        db, Release, "SELECT * FROM releases WHERE app = ? ORDER BY version DESC LIMIT 1", app
    )


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


def _insert(
    db: sqlite3.Connection, verb: str, table: str, record: Addon | DynoRecord | DeployKey
) -> None:
    """`verb` ("INSERT", "INSERT OR REPLACE") the record: its fields are the table's columns."""
    names = [f.name for f in fields(record)]
    db.execute(
        f"{verb} INTO {table}({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        [getattr(record, n) for n in names],
    )


def _one(db: sqlite3.Connection, kind: Callable[..., R], sql: str, *args: object) -> R | None:
    row = db.execute(sql, args).fetchone()
    return _record(kind, row) if row else None


def _all(db: sqlite3.Connection, kind: Callable[..., R], sql: str, *args: object) -> list[R]:
    return [_record(kind, row) for row in db.execute(sql, args)]


# How a column's stored value becomes its record's field; other columns are stored as they are.
_DECODE: dict[object, dict[str, Callable[[Any], object]]] = {
    Build: {"status": BuildStatus},
    Release: {"config": json.loads, "process_types": json.loads, "slug_pruned": bool},
    DynoRecord: {"state": DynoState, "owner": DynoOwner},
    DynoRequest: {"action": DynoAction},
}


def _record(kind: Callable[..., R], row: sqlite3.Row) -> R:
    decode = _DECODE.get(kind, {})
    return kind(**{k: decode[k](v) if k in decode else v for k, v in dict(row).items()})
