"""Pipenv: `pipenv install --deploy` into `.heroku/python` (the buildpack's lib/pipenv.sh).

- A Pipfile without its Pipfile.lock is refused before anything else (detection asks
  `Pipenv.missing_lock()`); an invalid lock, or one whose python_version isn't a version, is
  refused by the Python version step (versionfiles.parse_pipfile_lock), which reads
  Pipfile.lock after runtime.txt and .python-version, as the buildpack does.
- The pinned Pipenv (`package_managers.pipenv.version`) is installed offline into a venv of
  its own inside the app's environment, `.heroku/python/pipenv` (managers/toolvenv.py): as on
  Heroku it ships in the slug, and dynos have `pipenv` on PATH (some Procfiles run
  `pipenv run …`). The next build reuses it (`Using cached Pipenv X`).
- Pipenv installs into the app's environment (PIPENV_SYSTEM, VIRTUAL_ENV naming it, its
  `bin` first on PATH), never another interpreter. `--deploy` refuses a lock out of date with
  the Pipfile with Pipenv's own message; the build fails and the push is refused.
- Pipenv never uninstalls what a new lock drops, so a changed Pipfile.lock discards the cache
  (`The contents of Pipfile.lock changed`), as does a changed pin.
- The Pipfile's `[[source]]` entries are Pipenv's to honour; the app's PIP_EXTRA_INDEX_URL
  config var reaches the pip Pipenv runs, as the buildpack passes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from gitserver.buildpacks.python.managers.base import Installed, Manager
from gitserver.buildpacks.python.managers.toolvenv import (
    ensure_tool_venv,
    tool_script,
)
from gitserver.buildpacks.python.packages import record_environment
from gitserver.buildpacks.python.piprunner import pip_environment
from gitserver.buildpacks.python.runtime import ENV_SUBDIR, PROFILE_SCRIPT
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.commands import run_streamed
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

TOOL_SUBDIR = "pipenv"  # inside .heroku/python: Pipenv's own environment, shipped in the slug
# Settings that would point Pipenv at another environment or interpreter.
_NOT_PASSED = ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PIPENV_PYTHON", "WORKON_HOME")
_LOCK_CHANGED = "The contents of Pipfile.lock changed"


class Pipenv(Manager):
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
                "",
                "If you aren't sure which package manager to use, we recommend",
                "trying uv, since it supports lockfiles, is extremely fast, and",
                "is actively maintained by a full-time team:",
                "https://docs.astral.sh/uv/",
            ],
        )

    def tool_root(self, ctx: BuildContext) -> Path:
        return ctx.build_dir / ENV_SUBDIR / TOOL_SUBDIR

    def discard_reasons(self, previous: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
        reasons = super().discard_reasons(previous, current)
        key = "lockfile_sha256"
        if key in previous and previous[key] != current.get(key):
            reasons.append(_LOCK_CHANGED)
        return reasons

    def install_tool(self, ctx: BuildContext, python: ChosenPython) -> Installed:
        version = self.rules(ctx).version
        root = self.tool_root(ctx)
        bin_dir = ensure_tool_venv(
            ctx, python, root, tool="pipenv", display="Pipenv", version=version
        )
        _write_profile(ctx)
        env_dir = ctx.build_dir / ENV_SUBDIR
        path = f"{bin_dir}{os.pathsep}{ctx.env.get('PATH', '')}"
        return Installed(
            version,
            {
                "PATH": path,
                # Pipenv manages the app's environment, never a virtualenv of its own …
                "PIPENV_SYSTEM": "1",
                "PIPENV_VERBOSITY": "-1",
                # … and that environment is named, so no interpreter on PATH is ever chosen.
                "VIRTUAL_ENV": str(env_dir),
            },
        )

    def install_dependencies(
        self, ctx: BuildContext, python: ChosenPython, tool: Installed
    ) -> None:
        rules = self.rules(ctx)
        env_dir = ctx.build_dir / ENV_SUBDIR
        # cedarbox has no CI runs (Heroku CI sets INSTALL_TEST): no --dev.
        shown = [*rules.command, *rules.outside_ci_args]
        ctx.out.step(f"Installing dependencies using 'pipenv {' '.join(shown)}'")
        # The server's PIP_* settings and the app's PIP_EXTRA_INDEX_URL reach the pip Pipenv runs.
        env = {k: v for k, v in pip_environment(ctx, env_dir).items() if k not in _NOT_PASSED}
        env.update(tool.env)
        env["PATH"] = os.pathsep.join([str(env_dir / "bin"), tool.env["PATH"]])
        env["PIPENV_NOSPIN"] = "1"
        env["PIPENV_CACHE_DIR"] = str(ctx.scratch / "pipenv-cache")
        env["PIP_SRC"] = str(env_dir / "src")
        argv = [str(tool_script(self.tool_root(ctx), "pipenv")), *shown, *rules.extra_args]
        code = run_streamed(ctx, argv, on_line=ctx.out.indent, env=env)
        if code != 0:
            raise BuildError(
                "PIPENV_INSTALL_FAILED",
                "Unable to install dependencies using Pipenv.",
                ["See the log output above for more information."],
            )
        record_environment(ctx, env_dir)


def _write_profile(ctx: BuildContext) -> None:
    """Dynos get Pipenv on PATH and its settings, as the buildpack's profile.d script gives."""
    script = ctx.build_dir / PROFILE_SCRIPT
    lines = [
        "# Pipenv ships in the slug (some Procfiles run `pipenv run …`).",
        # The app's environment stays first, as on Heroku.
        f'export PATH="$HOME/{ENV_SUBDIR}/bin:$HOME/{ENV_SUBDIR}/{TOOL_SUBDIR}/bin:$PATH"',
        'export PIPENV_SYSTEM="1"',
        'export PIPENV_VERBOSITY="-1"',
        f'export VIRTUAL_ENV="$HOME/{ENV_SUBDIR}"',
    ]
    text = script.read_text() if script.is_file() else ""
    if lines[2] not in text:
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(text + "\n".join(lines) + "\n")
