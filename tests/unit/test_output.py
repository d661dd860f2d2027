"""The output vocabulary's `printable`: text from the pushed tree, safe to print on one line."""

from __future__ import annotations

import os

import pytest

from gitserver.output import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("3.12", "3.12"),
        ("tab\tkept, spaces kept", "tab\tkept, spaces kept"),
        ("\x1b[31mred\x1b[0m", "\ufffd[31mred\ufffd[0m"),
        ("two\nlines\r", "two\ufffdlines\ufffd"),
        ("\ufeff3.12", "\ufffd3.12"),
        ("nul\x00bell\x07", "nul\ufffdbell\ufffd"),
        (os.fsdecode(b"latin\xe9.txt"), "latin\ufffd.txt"),
        ("caf\u00e9 \u2603", "caf\u00e9 \u2603"),
    ],
)
def test_printable_replaces_what_would_not_print(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_cuts_long_text_and_marks_the_cut() -> None:
    assert printable("x" * 10, 10) == "x" * 10
    assert printable("x" * 11, 10) == "x" * 7 + "..."
    assert printable("\x00" * 10_000_000, 5) == "\ufffd\ufffd..."
