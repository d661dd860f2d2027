"""Typed build failures: a stable code, Heroku's one-line summary, and an explanation with a fix."""

from __future__ import annotations

from collections.abc import Sequence


class BuildError(Exception):
    """Raised by a phase; the pipeline prints it in the stack's style and fails the build.

    `summary` is the line users grep for (heroku-24 prints it as `Error: <summary>`); `body`
    explains what happened and how to fix it. cedar-14 messages set `legacy_lines`: the exact
    ` !     ` lines the 2015 buildpack printed instead of a block.
    """

    def __init__(
        self,
        code: str,
        summary: str,
        body: Sequence[str] = (),
        *,
        legacy_lines: Sequence[str] | None = None,
    ) -> None:
        super().__init__(summary)
        self.code = code
        self.summary = summary
        self.body = list(body)
        self.legacy_lines = list(legacy_lines) if legacy_lines is not None else None
