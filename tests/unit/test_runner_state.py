"""The SQLite store's migration 2 over a version-1 database; the server record that tells hooks
and the CLI whether a server runs. (The store's operations: test_store.)"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from gitserver import serverinfo
from gitserver.errors import ServerRunning
from gitserver.processes import start_time
from gitserver.sqliteschema import MIGRATIONS
from gitserver.sqlitestore import SQLiteStore


def test_a_version_1_database_gains_the_running_tables(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO apps(name, stack, created_at) VALUES ('shop', 'heroku-24', 0)")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.find_app("shop") is not None
    assert store.formation("shop") == {}
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_server_record_names_a_live_server_only(tmp_path: Path) -> None:
    path = tmp_path / "server.json"
    assert serverinfo.running_server(path) is None
    record = serverinfo.claim(path, "http://127.0.0.1:5000")
    assert serverinfo.running_server(path) == record
    assert serverinfo.claim(path, "http://127.0.0.1:5001").url == "http://127.0.0.1:5001"

    # Another live process holding the record: refused. A dead (or reused) pid: ignored.
    parent = os.getppid()
    path.write_text(json.dumps({"url": "u", "pid": parent, "proc_start": start_time(parent)}))
    with pytest.raises(ServerRunning):
        serverinfo.claim(path, "http://127.0.0.1:5002")
    path.write_text(json.dumps({"url": "u", "pid": parent, "proc_start": 1}))
    assert serverinfo.running_server(path) is None
    serverinfo.release_claim(path)  # not ours: left alone
    assert path.exists()
    serverinfo.claim(path, "http://127.0.0.1:5003")
    serverinfo.release_claim(path)
    assert not path.exists()
