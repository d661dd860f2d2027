"""Running-app state in the store: migration 2 over a version-1 database, formation, requests,
dynos; the server record that tells hooks and the CLI whether a server runs."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from gitserver import serverinfo
from gitserver.errors import ServerRunning
from gitserver.processes import start_time
from gitserver.records import DynoRecord
from gitserver.store import MIGRATIONS, Store


def dyno(name: str, **changes: object) -> DynoRecord:
    values: dict[str, object] = {
        "id": f"id-{name}",
        "app": "shop",
        "name": name,
        "type": name.split(".")[0],
        "release_version": 3,
        "state": "up",
        "since": time.time(),
        "command": "gunicorn app:app",
        "pid": 123,
        "proc_start": 456,
        "port": 5001,
        "restarts": 0,
        "owner": "supervisor",
    }
    values.update(changes)
    return DynoRecord(**values)  # type: ignore[arg-type]


def test_a_version_1_database_gains_the_running_tables(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO apps(name, stack, created_at) VALUES ('shop', 'heroku-24', 0)")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    store = Store(path)
    assert store.find_app("shop") is not None
    assert store.formation("shop") == {}
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_formation_requests_and_dynos(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.create_app("shop", "heroku-24")
    store.set_formation("shop", {"web": 2})
    store.set_formation("shop", {"worker": 1, "web": 0})
    assert store.formation("shop") == {"web": 0, "worker": 1}
    assert store.all_formations() == {"shop": {"web": 0, "worker": 1}}

    first = store.request_dynos("shop", "restart", "web")
    second = store.request_dynos("shop", "stop", "web.1")
    assert [r.id for r in store.dyno_requests_after(0)] == [first.id, second.id]
    assert store.dyno_requests_after(first.id) == [second]
    assert store.last_dyno_request_id() == second.id
    store.forget_dyno_requests(first.id)
    assert store.dyno_requests_after(0) == [second]

    store.save_dyno(dyno("web.1"))
    store.save_dyno(dyno("web.1", state="crashed", detail="exited with status 1"))
    assert [(d.name, d.state, d.detail) for d in store.dynos("shop")] == [
        ("web.1", "crashed", "exited with status 1")
    ]
    assert store.save_dyno_if_absent(dyno("run.1234", id="r1", owner="run"))
    assert not store.save_dyno_if_absent(dyno("run.1234", id="r2", owner="run"))
    store.delete_dynos(owner="supervisor")
    assert [d.name for d in store.dynos()] == ["run.1234"]
    # Deleting the app drops its desired state; dyno records stay for the supervisor to clean.
    store.delete_app("shop")
    assert store.formation("shop") == {} and store.dyno_requests_after(0) == []
    assert [d.name for d in store.dynos("shop")] == ["run.1234"]


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
