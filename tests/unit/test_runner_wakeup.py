"""A push's nudge reaches the supervisor's wait through the data directory's socket."""

from __future__ import annotations

import stat
from pathlib import Path

from gitserver.datadir import DataDir
from gitserver.runner.wakeup import (
    UnpackRequest,
    Wakeup,
    nudge,
    parse_message,
    request_unpack,
    socket_path,
)


def test_a_nudge_from_another_process_wakes_the_waiting_supervisor(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    wakeup = Wakeup(data)
    try:
        assert wakeup.wait(0) is None  # nothing pending
        assert nudge(data)  # what a push does once its release exists
        assert nudge(data)
        assert wakeup.wait(10) == []
        assert wakeup.wait(0) is None  # both nudges were used up by one wake-up
        wakeup.set()  # a thread of the server itself
        assert wakeup.wait(10) == []
        assert request_unpack(data, "shop", tmp_path / "slugs" / "shop" / "b-1.tar.gz")
        assert request_unpack(data, "shop", tmp_path / "slugs" / "shop" / "b-1.tar.gz")
        assert wakeup.wait(10) == [UnpackRequest("shop", "b-1.tar.gz")]
        mode = socket_path(data).stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    finally:
        wakeup.close()
    assert not socket_path(data).exists()


def test_nudging_without_a_server_does_nothing(tmp_path: Path) -> None:
    assert not nudge(DataDir(tmp_path))  # no socket at all
    socket_path(DataDir(tmp_path)).write_text("")  # not a socket: still no error
    assert not nudge(DataDir(tmp_path))


def test_only_an_app_and_a_slug_file_name_make_an_unpack_request() -> None:
    assert parse_message(b"unpack shop 0b1e-77.tar.gz") == UnpackRequest("shop", "0b1e-77.tar.gz")
    for bad in (
        b"",
        b"unpack shop",
        b"unpack Shop b1.tar.gz",  # not an app name
        b"unpack shop ../../etc.tar.gz",  # a path, not a file name
        b"unpack shop b1.tar.gz extra",
        b"unpack shop b1.zip",
        b"unpack \xff b1.tar.gz",
        b"restart shop b1.tar.gz",
    ):
        assert parse_message(bad) is None, bad


def test_a_data_directory_too_deep_for_a_socket_still_gets_in_process_wakeups(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    wakeup = Wakeup(DataDir(deep))
    try:
        assert not nudge(DataDir(deep))
        assert wakeup.wait(0) is None
        wakeup.set()
        assert wakeup.wait(10) == []
    finally:
        wakeup.close()
