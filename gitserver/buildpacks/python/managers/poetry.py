"""Poetry: `poetry sync --only main` into `.heroku/python` (the buildpack's lib/poetry.sh).

- The pinned Poetry (`package_managers.poetry.version`) is installed offline into a venv of its
  own (managers/toolvenv.py) kept in the build cache, `CACHE_DIR/.heroku/python-poetry`: it is
  a build-only tool, never in the slug. The next build reuses it (`Using cached Poetry X`); a
  changed pin discards the cache (`The Poetry version has changed from A to B`).
- Poetry manages `.heroku/python` itself: virtualenvs disabled, and VIRTUAL_ENV naming the
  app's environment, so it never picks another interpreter from PATH (measured with Poetry
  2.4.1: without VIRTUAL_ENV it chose a pyenv Python on PATH and uninstalled its packages).
  Its download cache lives in the build's scratch space and is thrown away with it: the
  installed site-packages is what the cache keeps.
- `poetry sync` refuses a poetry.lock out of date with pyproject.toml with Poetry's own
  message; the build fails with the buildpack's error and the push is refused.
- The app's `[[tool.poetry.source]]` entries are Poetry's to honour.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from gitserver.buildpacks.python.managers.base import Installed, Manager, cache_dir
from gitserver.buildpacks.python.managers.toolvenv import (
    ensure_tool_venv,
    tool_script,
)
from gitserver.buildpacks.python.packages import record_environment
from gitserver.buildpacks.python.piprunner import LineFilter
from gitserver.buildpacks.python.runtime import ENV_SUBDIR
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.commands import run_streamed
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

CACHE_ENTRY = "python-poetry"  # the build cache entry holding Poetry's own environment
# Settings that would point Poetry at another environment or interpreter.
_NOT_PASSED = ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")


class Poetry(Manager):
    name: ClassVar[str] = "poetry"
    display_name: ClassVar[str] = "Poetry"
    lockfile: ClassVar[str] = "poetry.lock"

    def tool_root(self, ctx: BuildContext) -> Path:
        return cache_dir(ctx) / ".heroku" / CACHE_ENTRY

    def cache_entries(self, ctx: BuildContext) -> dict[str, Path]:
        return {CACHE_ENTRY: self.tool_root(ctx)}

    def install_tool(self, ctx: BuildContext, python: ChosenPython) -> Installed:
        version = self.rules(ctx).version
        root = self.tool_root(ctx)
        bin_dir = ensure_tool_venv(
            ctx, python, root, tool="poetry", display="Poetry", version=version
        )
        env_dir = ctx.build_dir / ENV_SUBDIR
        path = f"{bin_dir}{os.pathsep}{ctx.env.get('PATH', '')}"
        return Installed(
            version,
            {
                "PATH": path,
                # Poetry installs into the app's environment, never a venv of its own …
                "POETRY_VIRTUALENVS_CREATE": "false",
                "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true",
                # … and that environment is named, so no interpreter on PATH is ever chosen.
                "VIRTUAL_ENV": str(env_dir),
                "POETRY_CACHE_DIR": str(ctx.scratch / "poetry-cache"),
            },
        )

    def install_dependencies(
        self, ctx: BuildContext, python: ChosenPython, tool: Installed
    ) -> None:
        rules = self.rules(ctx)
        # cedarbox has no CI runs (Heroku CI sets INSTALL_TEST): only the main group installs.
        shown = [*rules.command, *rules.outside_ci_args]
        ctx.out.step(f"Installing dependencies using 'poetry {' '.join(shown)}'")
        env = {k: v for k, v in ctx.env.items() if not k.startswith(_NOT_PASSED)}
        env.update(tool.env)
        env_dir = ctx.build_dir / ENV_SUBDIR
        # The app's environment first on PATH, then Poetry's script (as the buildpack's order).
        env["PATH"] = os.pathsep.join([str(env_dir / "bin"), tool.env["PATH"]])
        # The buildpack drops Poetry's note that it skips creating a virtualenv (we asked it to).
        emit = LineFilter(["Skipping virtualenv creation"]).wrap(ctx.out.indent)
        argv = [str(tool_script(self.tool_root(ctx), "poetry")), *shown, *rules.extra_args]
        code = run_streamed(ctx, argv, on_line=emit, env=env)
        if code != 0:
            raise BuildError(
                "POETRY_SYNC_FAILED",
                "Unable to install dependencies using Poetry.",
                ["See the log output above for more information."],
            )
        record_environment(ctx, env_dir)
