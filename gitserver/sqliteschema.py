"""The SQLite store's schema: its migrations, in order, and how a database is brought up to date.

A database's version is `PRAGMA user_version`, the number of migrations applied to it. A
migration is never edited once released: a change to the schema is a new one at the end.
"""

from __future__ import annotations

import sqlite3

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
    # 3: per-app deploy keys (only their SHA-256 digests); they go with their app.
    """
    CREATE TABLE deploy_keys (
        id            TEXT PRIMARY KEY,
        app           TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        digest        TEXT NOT NULL UNIQUE,
        created_at    REAL NOT NULL,
        last_used_at  REAL
    );
    CREATE INDEX deploy_keys_by_app ON deploy_keys(app, created_at);
    """,
)


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations the database lacks; call inside a transaction."""
    current = schema_version(db)
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version={version}")
