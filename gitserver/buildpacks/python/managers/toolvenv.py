"""A package manager's own environment (Poetry's, Pipenv's): a venv holding only the pinned tool.

The buildpack (lib/poetry.sh, lib/pipenv.sh) makes `<root>/venv` with `python -m venv
--without-pip`, installs the pinned tool into it with pip, and exposes only the tool's script
through `<root>/bin/<tool>`, so the rest of `venv/bin` (its dependencies' scripts, `activate`)
never reaches PATH. cedarbox does the same, offline, from the tool wheels directory (the
Makefile fetches the tools with their dependencies there), with two differences that let the
environment move (Poetry's lives in the per-build cache copy, Pipenv's in a slug unpacked
elsewhere): its scripts find their interpreter next to themselves (runtime.make_relocatable),
and `<root>/bin/<tool>` is a relative symlink.

The venv is made from the interpreter the build chose; pip runs `--isolated` with pip config
files off, so neither the server's PIP_* settings nor the app's config vars reach the install
of a platform tool.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gitserver.buildpacks.python.runtime import make_relocatable
from gitserver.buildpacks.python.tools import find_wheel, planned_pip_version
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.commands import run_quiet
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError


def tool_script(root: Path, tool: str) -> Path:
    """`<root>/bin/<tool>`: the one entry of the tool's environment on PATH."""
    return root / "bin" / tool


def installed(root: Path, tool: str) -> bool:
    """Whether `<root>/bin/<tool>` leads to a script that exists (a broken link does not)."""
    script = tool_script(root, tool)
    return script.is_symlink() and script.is_file()


def ensure_tool_venv(
    ctx: BuildContext, python: ChosenPython, root: Path, *, tool: str, display: str, version: str
) -> Path:
    """The tool's environment at `root`, reused if it is there (`Using cached Poetry 2.4.1`),
    else installed (`Installing Poetry 2.4.1`); returns the directory of its script, for PATH."""
    if installed(root, tool):
        ctx.out.step(f"Using cached {display} {version}")
    else:
        ctx.out.step(f"Installing {display} {version}")
        install_tool_venv(ctx, python, root, tool=tool, display=display, version=version)
    return tool_script(root, tool).parent


def install_tool_venv(
    ctx: BuildContext, python: ChosenPython, root: Path, *, tool: str, display: str, version: str
) -> None:
    """Make `<root>/venv` with `tool==version` installed, and `<root>/bin/<tool>` pointing at it.

    Raises BuildError `<TOOL>_INSTALL_FAILED` with the buildpack's summary ("Unable to install
    Poetry.") and what to do about it here (the wheels are missing, or pip failed).
    """
    wheels = ctx.request.settings.tool_wheels
    code_name = f"{tool.upper()}_INSTALL_FAILED"
    summary = f"Unable to install {display}."
    pip_wheel = find_wheel(wheels, "pip", planned_pip_version(ctx, python))
    if pip_wheel is None or find_wheel(wheels, tool, version) is None:
        missing = f"{tool} {version}" if pip_wheel is not None else "pip"
        raise BuildError(
            code_name,
            summary,
            [
                f"The pinned {missing} wheel is not in the tool wheels directory",
                f"({wheels}), and builds install {display} offline from there.",
                "",
                "Run `make install` (it fetches the stacks' pinned tools with their",
                "dependencies), or set CEDARBOX_TOOL_WHEELS to a directory holding them,",
                "and push again.",
            ],
        )
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    venv = root / "venv"
    env = {k: v for k, v in ctx.env.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    steps = [
        [str(python.interpreter.path), "-m", "venv", "--without-pip", str(venv)],
        [
            str(venv / "bin" / "python"),
            f"{pip_wheel}/pip",
            "install",
            "--isolated",
            "--no-index",
            "--find-links",
            str(wheels),
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--no-input",
            "--quiet",
            f"{tool}=={version}",
        ],
    ]
    for argv in steps:
        code, output = run_quiet(ctx, argv, env=env)
        if code != 0:
            for line in output.splitlines():
                ctx.out.indent(line)
            shutil.rmtree(root, ignore_errors=True)
            raise BuildError(
                code_name,
                summary,
                [
                    f"Installing {display} {version} into its own environment failed (output",
                    f"above). cedarbox installs it offline from {wheels}",
                    f"with Python {python.interpreter.version} ({python.interpreter.path}).",
                    "Check that the tool wheels were fetched for this Python (`make install`)",
                    "and push again.",
                ],
            )
    make_relocatable(venv)
    script = tool_script(root, tool)
    script.parent.mkdir(parents=True, exist_ok=True)
    script.symlink_to(Path("..") / "venv" / "bin" / tool)
