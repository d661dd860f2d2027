"""The pytest plugin's pure parts: `remote:` lines, the JSON line, assert_transcript's message."""

from __future__ import annotations

import pytest

from gitserver.testing import assert_transcript
from gitserver.testing.results import failure_code, remote_lines
from gitserver.testing.server import ServerInfo

GIT_OUTPUT = (
    "remote: Building source:        \n"
    "remote: \n"
    "remote: -----> Python app detected        \n"
    "remote: \x1b[1;31m !     Error: Unable to install dependencies using pip.\x1b[0m        \n"
    "remote:  !     Error code: BUILD_FAILED (PIP_INSTALL_FAILED)        \n"
    "To http://127.0.0.1:5000/app.git\n"
    " ! [remote rejected] main -> main (pre-receive hook declined)\n"
)


def test_remote_lines_drop_the_prefix_padding_and_colours_and_keep_the_rest() -> None:
    assert remote_lines(GIT_OUTPUT) == [
        "Building source:",
        "",
        "-----> Python app detected",
        " !     Error: Unable to install dependencies using pip.",
        " !     Error code: BUILD_FAILED (PIP_INSTALL_FAILED)",
    ]


def test_server_info_reads_the_json_line() -> None:
    info = ServerInfo.from_line(
        '{"url": "http://127.0.0.1:1234", "https_url": null, "data_dir": "/tmp/d",'
        ' "api_key": "k", "pid": 7}'
    )
    assert (info.url, str(info.data_dir), info.api_key, info.pid, info.https_url) == (
        "http://127.0.0.1:1234",
        "/tmp/d",
        "k",
        7,
        None,
    )


def test_assert_transcript_takes_lines_in_order_with_others_between() -> None:
    lines = remote_lines(GIT_OUTPUT)
    assert_transcript(lines, ["Building source:", "-----> Python app detected"])
    assert_transcript(lines, ["!     Error code: BUILD_FAILED (PIP_INSTALL_FAILED)"])  # stripped
    assert_transcript(lines, [])


def test_assert_transcript_failure_names_the_line_the_closest_and_the_transcript() -> None:
    lines = remote_lines(GIT_OUTPUT)
    with pytest.raises(AssertionError) as failure:
        assert_transcript(lines, ["-----> Python app detected", "Building source:"])
    message = str(failure.value)
    assert message.splitlines()[0] == (
        "expected line 2 not found after transcript line 3: 'Building source:'"
    )
    assert "  + -----> Python app detected\n  - Building source:" in message
    assert "     1 | Building source:" in message

    with pytest.raises(AssertionError) as failure:
        assert_transcript(lines, ["-----> Python app detetced"])
    message = str(failure.value)
    assert message.startswith("expected line 1 not found anywhere in the transcript")
    assert "closest line there: '-----> Python app detected'" in message


def test_failure_code_prefers_the_report_then_the_error_code_line() -> None:
    lines = remote_lines(GIT_OUTPUT)
    assert failure_code({"failure_code": "SLUG_TOO_LARGE"}, lines) == "SLUG_TOO_LARGE"
    assert failure_code({"failure_code": None}, lines) == "PIP_INSTALL_FAILED"
    assert failure_code(None, [" !     Error code: APP_LOCKED", ""]) == "APP_LOCKED"
    assert failure_code(None, ["Released v1"]) is None
