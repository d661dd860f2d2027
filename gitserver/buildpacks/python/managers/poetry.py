"""Poetry: `poetry sync --only main` into `.heroku/python` (not supported yet)."""

from __future__ import annotations

from typing import ClassVar

from gitserver.buildpacks.python.managers.unsupported import NotSupportedYet


class Poetry(NotSupportedYet):
    name: ClassVar[str] = "poetry"
    display_name: ClassVar[str] = "Poetry"
    lockfile: ClassVar[str] = "poetry.lock"
