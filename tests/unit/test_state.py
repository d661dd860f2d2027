"""The SQLite store, the per-app build lock, settings layering and the output vocabulary."""

from __future__ import annotations

import io
import multiprocessing
from pathlib import Path

import pytest

from gitserver.errors import AppExists, AppLocked, AppNotFound, UsageError
from gitserver.locks import AppLock
from gitserver.output import Output
from gitserver.settings import Settings
from gitserver.store import Store


def test_store_apps_builds_and_releases(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
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
    store.delete_app("my-app")
    assert store.list_releases("my-app") == []
    with pytest.raises(AppNotFound):
        store.get_app("my-app")


def test_builds_left_pending_by_a_killed_hook_are_ended(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
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


def test_store_reopens_an_existing_database(tmp_path: Path) -> None:
    Store(tmp_path / "state.db").create_app("keep", "cedar-14")
    assert Store(tmp_path / "state.db").get_app("keep").stack == "cedar-14"


def _hold(
    path: str, ready: multiprocessing.synchronize.Event, stop: multiprocessing.synchronize.Event
) -> None:
    lock = AppLock(Path(path), "app").acquire({"build_id": "first", "source_version": "f" * 40})
    ready.set()
    stop.wait(10)
    lock.release()


def test_app_lock_refuses_a_second_build_and_names_the_first(tmp_path: Path) -> None:
    path = tmp_path / "app.lock"
    ctx = multiprocessing.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(path), ready, stop))
    holder.start()
    assert ready.wait(10)
    with pytest.raises(AppLocked) as info:
        AppLock(path, "app").acquire({"build_id": "second"})
    assert "build first of fffffff" in info.value.message
    stop.set()
    holder.join()
    AppLock(path, "app").acquire({"build_id": "third"}).release()


def test_app_lock_is_released_when_its_holder_dies(tmp_path: Path) -> None:
    path = tmp_path / "app.lock"
    ctx = multiprocessing.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(path), ready, stop))
    holder.start()
    assert ready.wait(10)
    holder.kill()
    holder.join()
    AppLock(path, "app").acquire({"build_id": "next"}).release()


def test_settings_layering(tmp_path: Path) -> None:
    env = {"CEDARBOX_PORT": "6000", "CEDARBOX_DATA_DIR": str(tmp_path), "CEDARBOX_AUTO_CREATE": "0"}
    settings = Settings.from_env(env, port=7000)
    assert settings.port == 7000 and settings.data_dir == tmp_path
    assert settings.auto_create is False
    assert Settings.from_env(settings.to_env()) == settings
    with pytest.raises(UsageError, match="CEDARBOX_PORT"):
        Settings.from_env({"CEDARBOX_PORT": "lots"})
    with pytest.raises(UsageError, match="stack"):
        Settings.from_env({"CEDARBOX_DEFAULT_STACK": "bamboo"})


def test_output_vocabulary() -> None:
    stream = io.BytesIO()
    out = Output(stream, colour_blocks=False)
    out.step("Python app detected")
    out.indent("Collecting flask\nDone")
    out.warning("No Python version was specified.", ["Pin one in .python-version."])
    out.bang("Push failed")
    assert stream.getvalue().decode().splitlines() == [
        "-----> Python app detected",
        "       Collecting flask",
        "       Done",
        "",
        " !     Warning: No Python version was specified.",
        " !     ",
        " !     Pin one in .python-version.",
        "",
        " !     Push failed",
    ]
    assert out.transcript[0] == "-----> Python app detected"


def test_output_colours_blocks_like_heroku() -> None:
    stream = io.BytesIO()
    Output(stream).error("Unable to install dependencies using pip.")
    assert "\x1b[1;31m !     Error: Unable to install dependencies using pip.\x1b[0m" in (
        stream.getvalue().decode()
    )
