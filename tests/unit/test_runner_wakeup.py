"""A push's nudge reaches the supervisor's wait through the data directory's socket."""

from __future__ import annotations

import stat
from pathlib import Path

from gitserver.datadir import DataDir
from gitserver.runner.wakeup import Wakeup, nudge, socket_path


def test_a_nudge_from_another_process_wakes_the_waiting_supervisor(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    wakeup = Wakeup(data)
    try:
        assert not wakeup.wait(0)  # nothing pending
        nudge(data)  # what a push does once its release exists
        nudge(data)
        assert wakeup.wait(10)
        assert not wakeup.wait(0)  # both nudges were used up by one wake-up
        wakeup.set()  # a thread of the server itself
        assert wakeup.wait(10)
        mode = socket_path(data).stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    finally:
        wakeup.close()
    assert not socket_path(data).exists()


def test_nudging_without_a_server_does_nothing(tmp_path: Path) -> None:
    nudge(DataDir(tmp_path))  # no socket at all
    socket_path(DataDir(tmp_path)).write_text("")  # not a socket: still no error
    nudge(DataDir(tmp_path))


def test_a_data_directory_too_deep_for_a_socket_still_gets_in_process_wakeups(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    wakeup = Wakeup(DataDir(deep))
    try:
        nudge(DataDir(deep))
        assert not wakeup.wait(0)
        wakeup.set()
        assert wakeup.wait(10)
    finally:
        wakeup.close()
