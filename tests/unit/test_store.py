"""The store's contract, through the `Store` interface only: every implementation passes these.

`opener` gives, per implementation, a function that opens the same state each time it is
called (a second process, or the same server after a restart); a new implementation joins by
adding itself to `IMPLEMENTATIONS`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitserver.errors import AppExists, AppNotFound
from gitserver.records import (
    Addon,
    BuildStatus,
    DynoAction,
    DynoOwner,
    DynoRecord,
    DynoState,
)
from gitserver.sqlitestore import SQLiteStore
from gitserver.store import Store, open_store

Opener = Callable[[], Store]

IMPLEMENTATIONS: dict[str, Callable[[Path], Opener]] = {
    "sqlite": lambda tmp: lambda: SQLiteStore(tmp / "state.db"),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[Store] = []

    def open_state() -> Store:
        opened.append(IMPLEMENTATIONS[request.param](tmp_path)())
        return opened[-1]

    yield open_state
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener()


def dyno(name: str, **changes: object) -> DynoRecord:
    values: dict[str, object] = {
        "id": f"id-{name}",
        "app": "shop",
        "name": name,
        "type": name.split(".")[0],
        "release_version": 3,
        "state": DynoState.UP,
        "since": time.time(),
        "command": "gunicorn app:app",
        "pid": 123,
        "proc_start": 456,
        "port": 5001,
        "restarts": 0,
        "owner": DynoOwner.SUPERVISOR,
    }
    values.update(changes)
    return DynoRecord(**values)  # type: ignore[arg-type]


def test_open_store_opens_the_state_at_a_path(tmp_path: Path) -> None:
    first = open_store(tmp_path / "state.db")
    first.create_app("keep", "cedar-14")
    first.close()
    second = open_store(tmp_path / "state.db")
    assert second.get_app("keep").stack == "cedar-14"
    second.close()


def test_store_apps_builds_and_releases(store: Store) -> None:
    store.create_app("my-app", "heroku-24")
    with pytest.raises(AppExists):
        store.create_app("my-app", "cedar-14")
    store.start_build("b1", "my-app", "a" * 40, "heroku-24")
    r1 = store.create_release(
        "my-app", "Deploy aaaaaaa", build_id="b1", slug="s1", process_types={}
    )
    store.finish_build("b1", failure_code=None, release_version=1, python_runtime="python-3.12.14")
    r2 = store.create_release("my-app", "Deploy again", build_id=None, slug="s1", process_types={})
    assert (r1.version, r2.version) == (1, 2)
    assert store.current_release("my-app") == r2
    last = store.last_successful_build("my-app")
    assert last is not None and last.python_runtime == "python-3.12.14"
    assert last.status is BuildStatus.SUCCEEDED
    store.delete_app("my-app")
    assert store.list_releases("my-app") == []
    with pytest.raises(AppNotFound):
        store.get_app("my-app")


def test_builds_left_pending_by_a_killed_hook_are_ended(store: Store) -> None:
    store.create_app("my-app", "heroku-24")
    store.create_app("other", "heroku-24")
    store.start_build("cut-early", "my-app", "a" * 40, "heroku-24")
    store.start_build("cut-late", "my-app", "b" * 40, "heroku-24")
    store.create_release(
        "my-app", "Deploy bbbbbbb", build_id="cut-late", slug="s", process_types={}
    )
    store.start_build("elsewhere", "other", "c" * 40, "heroku-24")

    assert store.end_interrupted_builds("my-app") == ["cut-early"]

    builds = {b.id: b for b in store.list_builds("my-app")}
    assert (builds["cut-early"].status, builds["cut-early"].failure_code) == (
        "failed",
        "BUILD_INTERRUPTED",
    )
    assert (builds["cut-late"].status, builds["cut-late"].release_version) == ("succeeded", 1)
    assert [b.status for b in store.list_builds("other")] == ["pending"]
    assert store.end_interrupted_builds("my-app") == []


def test_a_deploy_release_is_recorded_on_its_build(store: Store) -> None:
    store.create_app("my-app", "heroku-24")
    store.start_build("b1", "my-app", "a" * 40, "heroku-24")
    store.create_release("my-app", "Deploy aaaaaaa", build_id="b1", slug="s1", process_types={})
    assert [b.release_version for b in store.list_builds("my-app")] == [1]


def test_store_reopens_an_existing_database(opener: Opener) -> None:
    opener().create_app("keep", "cedar-14")
    assert opener().get_app("keep").stack == "cedar-14"


def test_config_changes_and_add_ons_release_the_current_slug(store: Store) -> None:
    store.create_app("shop", "heroku-24")
    config = store.change_config(
        "shop", set_vars={"A": "1", "B": "2"}, unset=[], description="Set A, B", user="u"
    )
    # Before any deploy there is no slug to carry.
    assert (config.version, config.slug, config.config) == (1, None, {"A": "1", "B": "2"})
    deploy = store.create_release(
        "shop", "Deploy aaaaaaa", build_id=None, slug="s1", process_types={"web": "gunicorn"}
    )
    assert deploy.config == {"A": "1", "B": "2"}
    unset = store.change_config("shop", set_vars={"A": "3"}, unset=["B"], description="d", user="u")
    assert (unset.slug, unset.process_types, unset.config) == (
        "s1",
        {"web": "gunicorn"},
        {"A": "3"},
    )
    assert (unset.description, unset.user) == ("d", "u")

    addon = Addon("shop", "pg-1", "heroku-postgresql", "mini", "sqlite", "DATABASE_URL", 1.0)
    attached = store.attach_addon(addon, {"DATABASE_URL": "sqlite:///x"}, user="u")
    assert (attached.version, attached.slug, attached.description) == (
        4,
        "s1",
        "Add heroku-postgresql add-on",
    )
    assert attached.config == {"A": "3", "DATABASE_URL": "sqlite:///x"}
    assert store.list_addons("shop") == [addon]
    detached = store.detach_addon(addon, unset=["DATABASE_URL"], description="Remove", user="u")
    assert (detached.version, detached.slug, detached.config) == (5, "s1", {"A": "3"})
    assert store.list_addons("shop") == [] and store.config("shop") == {"A": "3"}
    assert store.current_release("shop") == detached == store.get_release("shop", 5)


def test_rollback_reuses_the_slug_and_config_of_its_target(store: Store) -> None:
    store.create_app("shop", "heroku-24")
    store.change_config("shop", set_vars={"A": "1"}, unset=[], description="Set A", user="u")
    first = store.create_release("shop", "Deploy 1", build_id=None, slug="s1", process_types={})
    store.change_config("shop", set_vars={"A": "2", "B": "x"}, unset=[], description="d", user="u")
    store.create_release("shop", "Deploy 2", build_id=None, slug="s2", process_types={"w": "x"})
    back = store.rollback("shop", first, user="u")
    assert (back.version, back.description, back.slug) == (5, "Rollback to v2", "s1")
    assert (back.config, back.process_types) == ({"A": "1"}, {})
    assert store.config("shop") == {"A": "1"}
    assert [r.version for r in store.list_releases("shop")] == [5, 4, 3, 2, 1]


def test_prune_keeps_the_newest_two_and_slugs_still_in_use(store: Store) -> None:
    store.create_app("shop", "heroku-24")
    for slug in ("s1", "s2", "s3", "s4"):
        store.create_release("shop", "Deploy", build_id=None, slug=slug, process_types={})
    old = store.get_release("shop", 1)
    assert old is not None
    store.rollback("shop", old, user="u")  # v5 uses s1 again
    assert store.prune_slugs("shop", keep=1) == ["s2", "s3"]
    assert [r.slug_pruned for r in store.list_releases("shop")] == [
        False,
        False,
        True,
        True,
        False,
    ]
    assert store.prune_slugs("shop", keep=1) == []


def test_formation_requests_and_dynos(store: Store) -> None:
    store.create_app("shop", "heroku-24")
    store.set_formation("shop", {"web": 2})
    store.set_formation("shop", {"worker": 1, "web": 0})
    assert store.formation("shop") == {"web": 0, "worker": 1}
    assert store.all_formations() == {"shop": {"web": 0, "worker": 1}}

    first = store.request_dynos("shop", DynoAction.RESTART, "web")
    second = store.request_dynos("shop", DynoAction.STOP, "web.1")
    assert [r.id for r in store.dyno_requests_after(0)] == [first.id, second.id]
    assert store.dyno_requests_after(first.id) == [second]
    assert store.last_dyno_request_id() == second.id
    store.forget_dyno_requests(first.id)
    assert store.dyno_requests_after(0) == [second]

    store.save_dyno(dyno("web.1"))
    store.save_dyno(dyno("web.1", state=DynoState.CRASHED, detail="exited with status 1"))
    assert [(d.name, d.state, d.detail) for d in store.dynos("shop")] == [
        ("web.1", "crashed", "exited with status 1")
    ]
    assert store.claim_dyno(dyno("run.1234", id="r1", owner=DynoOwner.RUN))
    assert not store.claim_dyno(dyno("run.1234", id="r2", owner=DynoOwner.RUN))
    store.delete_dynos(owner=DynoOwner.SUPERVISOR)
    assert [d.name for d in store.dynos()] == ["run.1234"]
    # Deleting the app drops its desired state; dyno records stay for the supervisor to clean.
    store.delete_app("shop")
    assert store.formation("shop") == {} and store.dyno_requests_after(0) == []
    assert [d.name for d in store.dynos("shop")] == ["run.1234"]


def test_records_come_back_with_their_states(store: Store) -> None:
    store.create_app("shop", "heroku-24")
    store.start_build("b1", "shop", "a" * 40, "heroku-24")
    store.request_dynos("shop", DynoAction.STOP, "")
    store.save_dyno(dyno("web.1", state=DynoState.STARTING))
    assert store.list_builds("shop")[0].status is BuildStatus.PENDING
    assert store.dyno_requests_after(0)[0].action is DynoAction.STOP
    record = store.dynos("shop")[0]
    assert record.state is DynoState.STARTING and record.owner is DynoOwner.SUPERVISOR


def test_a_claimed_name_is_free_again_once_its_dyno_is_deleted(store: Store) -> None:
    store.create_app("shop", "heroku-24")
    assert store.claim_dyno(dyno("release.1", id="a", owner=DynoOwner.RUN))
    assert not store.claim_dyno(dyno("release.1", id="b", owner=DynoOwner.RUN))
    store.delete_dyno("a")
    assert store.claim_dyno(dyno("release.1", id="b", owner=DynoOwner.RUN))
    assert [d.id for d in store.dynos("shop")] == ["b"]


def test_the_change_token_moves_with_every_write_by_anyone(opener: Opener) -> None:
    reader, writer = opener(), opener()
    before = reader.change_token()
    assert reader.change_token() == before
    writer.create_app("shop", "heroku-24")
    after_create = reader.change_token()
    assert after_create != before
    writer.set_formation("shop", {"web": 1})
    assert reader.change_token() != after_create


def test_deploy_keys_are_kept_by_digest_and_go_with_their_app(opener: Opener) -> None:
    from gitserver.records import DeployKey

    store = opener()
    store.create_app("a", "heroku-24")
    store.create_app("b", "heroku-24")
    key = DeployKey("k1", "a", "d" * 64, 1.0, None)
    store.add_deploy_key(key)
    store.add_deploy_key(DeployKey("k2", "b", "e" * 64, 2.0, None))
    with pytest.raises(AppNotFound):
        store.add_deploy_key(DeployKey("k3", "ghost", "f" * 64, 3.0, None))
    assert opener().find_deploy_key("d" * 64) == key
    assert store.find_deploy_key("0" * 64) is None
    assert [k.id for k in store.list_deploy_keys()] == ["k1", "k2"]
    assert [k.id for k in store.list_deploy_keys("b")] == ["k2"]
    store.mark_deploy_key_used("k1", 5.0)
    assert opener().list_deploy_keys("a")[0].last_used_at == 5.0
    assert store.delete_deploy_key("k1") is not None
    assert store.delete_deploy_key("k1") is None
    assert store.find_deploy_key("d" * 64) is None
    store.delete_app("b")
    assert store.list_deploy_keys() == []
