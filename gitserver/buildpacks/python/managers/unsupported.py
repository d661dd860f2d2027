"""A package manager cedarbox recognises but cannot install with yet: refused with a clear error.

Poetry and Pipenv derive from it until their own modules (managers/poetry.py,
managers/pipenv.py) implement the Manager interface; detection refuses them before any step.
"""

from __future__ import annotations

from typing import ClassVar

from gitserver.buildpacks.python.managers.base import Manager
from gitserver.pipeline.errors import BuildError


class NotSupportedYet(Manager):
    supported: ClassVar[bool] = False

    def refusal(self) -> BuildError:
        """The error a build with this manager's file fails with."""
        name, tool = self.file.name, self.display_name
        return BuildError(
            "PACKAGE_MANAGER_UNSUPPORTED",
            f"The {tool} package manager ({name}) isn't supported by cedarbox yet.",
            [
                f"Your app declares its dependencies with {tool} ('{name}'). Heroku supports",
                f"{tool}; cedarbox will support it later, but today it installs packages with",
                "pip or uv only.",
                "",
                "For now, export your dependencies to a 'requirements.txt' file (or use uv),",
                f"commit it, and remove '{name}' (the build needs exactly one package manager",
                "file).",
            ],
        )
