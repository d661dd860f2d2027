"""The interface every package manager implements (pip, uv, Poetry, Pipenv).

A manager is chosen by its file (`requirements.txt`, `uv.lock`, `poetry.lock`,
`Pipfile.lock`; managers/detection.py) and then drives the build's package steps, in the
order the buildpack's bin/compile runs them:

  check_python_request   refuse a Python version source the tool can't use (uv: runtime.txt)
  cache_metadata         what the next build compares (the tool's version, lockfile digest)
  discard_reasons        why a cache made with this same manager can't be reused
  restore_tools          take the tool's own cache entries (uv's binary, Poetry's venv)
  install_tool           `-----> Installing uv X` / `Using cached uv X`
  install_dependencies   the install command into `.heroku/python`
  cache_entries          the tool's entries to save beside `.heroku` (never in the slug)

Every method has a default, so a new manager overrides only what it does differently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from gitserver.buildpacks.python.resolution import VersionRequest
from gitserver.buildpacks.python.rules import ManagerRules, rules_of
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.cache import BuildCache
from gitserver.pipeline.context import BuildContext

# Where the build keeps the tools' cache entries: CACHE_DIR as hooks see it (the build's own
# copy, never the last good cache), laid out as the buildpack lays out its cache directory.
TOOLS_CACHE = "cache"


def cache_dir(ctx: BuildContext) -> Path:
    """This build's cache directory (CACHE_DIR): the tools' entries, copied for this build."""
    return ctx.scratch / TOOLS_CACHE


def file_digest(path: Path) -> str:
    """The sha256 of a lockfile ("" if it can't be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


@dataclass(frozen=True)
class Installed:
    """The tool as installed: its version, and what it exports to the later steps."""

    version: str  # the version the build uses (the pin, or what stood in for it)
    # Variables the buildpack exports once the tool is installed (uv's UV_*, PATH with the
    # tool's directory first): its install command, Django's step and bin/post_compile see them.
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manager:
    """One package manager, bound to the file that chose it."""

    # Class-level facts (overridden by each manager).
    name: ClassVar[str] = ""  # as the buildpack's build data names it: "pip", "uv", …
    display_name: ClassVar[str] = ""  # as messages name it: "pip", "uv", "Poetry", "Pipenv"
    lockfile: ClassVar[str] = ""  # the file that selects it

    file: Path  # build_dir / lockfile
    generated: bool = False  # cedar-14: requirements.txt written for a setup.py-only app

    @property
    def requirements(self) -> Path:
        """The file this manager installs from (kept for pip's callers)."""
        return self.file

    def rules(self, ctx: BuildContext) -> ManagerRules:
        """This manager's section of the stack profile (`package_managers.<name>`)."""
        return rules_of(ctx).package_managers[self.name]

    def tool_version(self, ctx: BuildContext, python: ChosenPython) -> str:
        """The tool version this build installs (cheap: no install, no subprocess)."""
        return self.rules(ctx).version

    def check_python_request(self, ctx: BuildContext, request: VersionRequest, major: str) -> None:
        """Refuse a way of naming the Python version this tool can't use (default: any is fine)."""

    def cache_metadata(self, ctx: BuildContext, python: ChosenPython) -> dict[str, str]:
        """The keys of this manager in the cache's metadata."""
        return {
            f"{self.name}_version": self.tool_version(ctx, python),
            "lockfile_sha256": file_digest(self.file),
        }

    def discard_reasons(self, previous: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
        """Reasons, in the buildpack's words, not to reuse a cache this manager made."""
        key = f"{self.name}_version"
        if key in previous and previous[key] != current.get(key):
            return [
                f"The {self.display_name} version has changed from {previous[key]} to "
                f"{current.get(key)}"
            ]
        return []

    def restore_tools(self, ctx: BuildContext, cache: BuildCache) -> None:
        """Take this tool's entries from a cache that is being reused (default: none)."""
        for name, path in self.cache_entries(ctx).items():
            cache.take(name, path)

    def cache_entries(self, ctx: BuildContext) -> dict[str, Path]:
        """The tool's entries to save in the build cache, by name (default: none)."""
        return {}

    def install_tool(self, ctx: BuildContext, python: ChosenPython) -> Installed:
        """Install (or reuse) the tool, printing its step line."""
        raise NotImplementedError(self.name)

    def install_dependencies(
        self, ctx: BuildContext, python: ChosenPython, tool: Installed
    ) -> None:
        """Install the app's dependencies into `.heroku/python` with the installed tool."""
        raise NotImplementedError(self.name)
