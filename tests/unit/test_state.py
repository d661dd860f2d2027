"""The per-app build lock, settings layering and the output vocabulary (the store: test_store)."""

from __future__ import annotations

import io
import multiprocessing
from pathlib import Path

import pytest

from gitserver.errors import AppLocked, UsageError
from gitserver.locks import AppLock
from gitserver.output import Output
from gitserver.settings import Settings


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
