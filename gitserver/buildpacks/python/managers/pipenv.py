"""Pipenv: `pipenv install --deploy` into `.heroku/python` (not supported yet)."""

from __future__ import annotations

from typing import ClassVar

from gitserver.buildpacks.python.managers.unsupported import NotSupportedYet
from gitserver.pipeline.errors import BuildError


class Pipenv(NotSupportedYet):
    name: ClassVar[str] = "pipenv"
    display_name: ClassVar[str] = "Pipenv"
    lockfile: ClassVar[str] = "Pipfile.lock"

    @classmethod
    def missing_lock(cls) -> BuildError:
        """A Pipfile without its Pipfile.lock (checked before any other package manager file)."""
        return BuildError(
            "PIPFILE_LOCK_MISSING",
            "No 'Pipfile.lock' found!",
            [
                "A 'Pipfile' file was found, however, the associated 'Pipfile.lock'",
                "Pipenv lockfile wasn't. This means your app dependency versions",
                "aren't pinned, which means the package versions used on Heroku",
                "might not match those installed in other environments.",
                "",
                "Using Pipenv in this way is unsafe and no longer supported.",
                "",
                "Run 'pipenv lock' locally to generate the lockfile, and make sure",
                "that 'Pipfile.lock' isn't listed in '.gitignore' or '.slugignore'.",
                "",
                "Alternatively, if you wish to switch to another package manager,",
                "delete your 'Pipfile' and then add either a 'requirements.txt',",
                "'poetry.lock' or 'uv.lock' file.",
            ],
        )
