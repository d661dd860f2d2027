"""Package managers: pip, uv, Poetry and Pipenv behind one interface (managers/base.py).

`detection.find_manager` chooses one from the app's files; `install` runs its two steps (the
tool, then the app's dependencies) and records it in the build report. One module per manager.
"""

from __future__ import annotations

from gitserver.buildpacks.python.managers.base import Installed, Manager, file_digest
from gitserver.buildpacks.python.managers.detection import MANAGERS, find_manager
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.context import BuildContext

__all__ = ["MANAGERS", "Installed", "Manager", "find_manager", "install"]


def install(ctx: BuildContext, python: ChosenPython, manager: Manager) -> Installed:
    """Install the tool and then the app's dependencies; the tool's exports stay in the env."""
    record = ctx.report.package_manager
    record.name = manager.name
    record.lockfile = manager.file.name
    record.lockfile_sha256 = file_digest(manager.file)
    tool = manager.install_tool(ctx, python)
    record.version = tool.version
    ctx.env.update(tool.env)
    manager.install_dependencies(ctx, python, tool)
    return tool
