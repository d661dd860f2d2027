"""pip: `pip install -r requirements.txt`, with the stack's pinned pip (packages.py, tools.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from gitserver.buildpacks.python import packages, pipnoop, tools
from gitserver.buildpacks.python.managers.base import Installed, Manager, file_digest
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.cache import BuildCache
from gitserver.pipeline.context import BuildContext


class Pip(Manager):
    name: ClassVar[str] = "pip"
    display_name: ClassVar[str] = "pip"
    lockfile: ClassVar[str] = "requirements.txt"

    def tool_version(self, ctx: BuildContext, python: ChosenPython) -> str:
        return tools.planned_pip_version(ctx, python)

    def cache_metadata(self, ctx: BuildContext, python: ChosenPython) -> dict[str, str]:
        return {
            "pip_version": self.tool_version(ctx, python),
            "requirements_sha256": file_digest(self.file),
        }

    def restore_tools(self, ctx: BuildContext, cache: BuildCache) -> None:
        """Nothing to copy: the kept no-op run is read where the cache has it (packages.py)."""

    def cache_entries(self, ctx: BuildContext) -> dict[str, Path]:
        """The no-op pip run this build kept (buildpacks.python.pipnoop), if any."""
        record = packages.noop_record(ctx)
        return {pipnoop.RECORD: record} if record.is_file() else {}

    def discard_reasons(self, previous: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
        def changed(key: str) -> bool:
            return key in previous and previous[key] != current.get(key)

        reasons = []
        if changed("pip_version"):
            reasons.append(
                f"The pip version has changed from {previous['pip_version']} to "
                f"{current['pip_version']}"
            )
        # pip installs but never removes: a changed requirements.txt means a fresh environment.
        if changed("requirements_sha256"):
            reasons.append("The contents of requirements.txt changed")
        return reasons

    def install_tool(self, ctx: BuildContext, python: ChosenPython) -> Installed:
        return Installed(version=packages.install_pip(ctx, python))

    def install_dependencies(
        self, ctx: BuildContext, python: ChosenPython, tool: Installed
    ) -> None:
        packages.install_requirements(ctx, self.file, tool.version)
