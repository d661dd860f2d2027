"""The tests' process launcher (tests/support/server.py): the URL from the first line, logs in
files that a restart appends to, and a clear error for a process that never listens."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.server import ListeningProcess

SCRIPT = """
import sys, time
sys.stderr.write("starting %s\\n" % sys.argv[1]); sys.stderr.flush()
print("demo listening on http://127.0.0.1:1234", flush=True)
time.sleep(60)
"""


def launch(tmp: Path, label: str) -> ListeningProcess:
    return ListeningProcess("demo", [sys.executable, "-c", SCRIPT, label], tmp)


def test_the_url_comes_from_the_first_line_and_stderr_is_kept(tmp_path: Path) -> None:
    with launch(tmp_path, "first") as process:
        assert process.url == "http://127.0.0.1:1234"
    assert process.proc.returncode is not None
    assert process.log_tail() == "starting first\n"
    assert process.log_tail("stdout") == "demo listening on http://127.0.0.1:1234\n"


def test_a_restart_under_the_same_name_appends_to_the_log(tmp_path: Path) -> None:
    launch(tmp_path, "first").stop()
    again = launch(tmp_path, "second")
    again.stop()
    assert again.log_tail() == "starting first\nstarting second\n"
    assert again.log_tail(limit=15) == "starting second\n"[-15:]


def test_a_process_that_never_listens_fails_with_its_stderr(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; sys.exit('no port for me')"]
    with pytest.raises(RuntimeError, match="no port for me"):
        ListeningProcess("broken", argv, tmp_path, timeout=10)
