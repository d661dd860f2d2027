"""Assertions on deploys whose failure messages show what differs, line by line."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Protocol


class HasTranscript(Protocol):
    @property
    def transcript(self) -> list[str]: ...


def assert_transcript(result: HasTranscript | Sequence[str], expected: Sequence[str]) -> None:
    """Every line of `expected` appears in the transcript, in this order (other lines may come
    between); lines are compared without their surrounding whitespace."""
    lines = list(result) if isinstance(result, Sequence) else result.transcript
    at = 0
    for index, want in enumerate(expected):
        for position in range(at, len(lines)):
            if lines[position].strip() == want.strip():
                at = position + 1
                break
        else:
            raise AssertionError(_missing(lines, expected, index, at))


def _missing(lines: list[str], expected: Sequence[str], index: int, at: int) -> str:
    want = expected[index]
    where = f"after transcript line {at}" if at else "anywhere in the transcript"
    out = [f"expected line {index + 1} not found {where}: {want.strip()!r}"]
    close = difflib.get_close_matches(
        want.strip(), [line.strip() for line in lines[at:]], n=1, cutoff=0.6
    )
    if close:
        out.append(f"closest line there: {close[0]!r}")
    out.append("expected (+ found in order, - missing):")
    out += [f"  {'+' if i < index else '-'} {line}" for i, line in enumerate(expected)]
    out.append("transcript:")
    out += [f"  {n:4} | {line}" for n, line in enumerate(lines, 1)]
    return "\n".join(out)
