"""uv: `uv sync --locked` into `.heroku/python` (the buildpack's lib/uv.sh and uv_spec.rb).

- The app must name its Python in `.python-version`; `runtime.txt` is refused (uv reads only
  the former, and must not pick a Python of its own).
- The pinned uv (`package_managers.uv.version`) comes from its wheel in the tool wheels
  directory: the binary is unpacked into the build cache (`CACHE_DIR/.heroku/python-uv`), never
  the slug, and reused by the next build (`Using cached uv X`). If the wheel is missing, a `uv`
  on the host's PATH stands in, and the build says so.
- uv manages `.heroku/python` itself (UV_PROJECT_ENVIRONMENT) with the interpreter the build
  chose; it never downloads a Python or uses one of its own (UV_PYTHON_DOWNLOADS=never,
  UV_NO_MANAGED_PYTHON=1), so no interpreter of the host is touched. Its download cache lives
  in the build's scratch space and is thrown away with it (site-packages is what is cached).
- A lockfile out of sync with pyproject.toml fails the build with uv's own message.
- The server's UV_* settings reach the command (a local index, offline mode); the app's
  `[[tool.uv.index]]` entries are uv's to honour.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import zipfile
from functools import cache
from pathlib import Path
from typing import ClassVar

from gitserver.buildpacks.python.managers.base import Installed, Manager, cache_dir
from gitserver.buildpacks.python.packages import record_environment
from gitserver.buildpacks.python.resolution import VersionRequest
from gitserver.buildpacks.python.runtime import ENV_SUBDIR
from gitserver.buildpacks.python.tools import find_wheel
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.commands import run_streamed
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

CACHE_ENTRY = "python-uv"  # the build cache entry holding the uv binary
# Settings of the server that would point uv at another interpreter (the exports below
# override the rest that would point it elsewhere).
_NOT_PASSED = frozenset({"UV_PYTHON", "UV_PYTHON_INSTALL_DIR", "UV_SYSTEM_PYTHON", "VIRTUAL_ENV"})

_VERSION_FILE_NOTE = [
    "Note: We strongly recommend that you don't specify the Python",
    "patch version number in your .python-version file, since it will",
    "pin your app to an exact Python version and so stop your app from",
    "receiving security updates each time it builds.",
]


class Uv(Manager):
    name: ClassVar[str] = "uv"
    display_name: ClassVar[str] = "uv"
    lockfile: ClassVar[str] = "uv.lock"

    def tool_dir(self, ctx: BuildContext) -> Path:
        return cache_dir(ctx) / ".heroku" / CACHE_ENTRY

    def tool_version(self, ctx: BuildContext, python: ChosenPython) -> str:
        pinned = self.rules(ctx).version
        if find_wheel(ctx.request.settings.tool_wheels, "uv", pinned) is not None:
            return pinned
        host = _host_uv(ctx)
        return _uv_version(host) if host else pinned

    def check_python_request(self, ctx: BuildContext, request: VersionRequest, major: str) -> None:
        if request.source == ".python-version":
            return
        if request.source == "runtime.txt":
            raise BuildError(
                "UV_RUNTIME_TXT",
                "The runtime.txt file isn't supported when using uv.",
                [
                    "When using the package manager uv on Heroku, you must specify",
                    "your app's Python version with a .python-version file and not",
                    "a runtime.txt file.",
                    "",
                    "To switch to a .python-version file:",
                    "",
                    "1. Make sure you are in the root directory of your app",
                    "   and not a subdirectory.",
                    "2. Delete your runtime.txt file.",
                    f"3. Run 'uv python pin {major}'",
                    "   (adjust to match your app's major Python version).",
                    "4. Commit the changes to your Git repository using",
                    "   'git add --all' and then 'git commit'.",
                    "",
                    *_VERSION_FILE_NOTE,
                ],
            )
        raise BuildError(
            "UV_PYTHON_VERSION_MISSING",
            "No Python version was specified.",
            [
                "When using the package manager uv on Heroku, you must specify",
                "your app's Python version with a .python-version file.",
                "",
                "To add a .python-version file:",
                "",
                "1. Make sure you are in the root directory of your app",
                "   and not a subdirectory.",
                f"2. Run 'uv python pin {major}'",
                "   (adjust to match your app's major Python version).",
                "3. Commit the changes to your Git repository using",
                "   'git add --all' and then 'git commit'.",
                "",
                *_VERSION_FILE_NOTE,
            ],
        )

    def cache_entries(self, ctx: BuildContext) -> dict[str, Path]:
        return {CACHE_ENTRY: self.tool_dir(ctx)}

    def install_tool(self, ctx: BuildContext, python: ChosenPython) -> Installed:
        pinned = self.rules(ctx).version
        uv_dir = self.tool_dir(ctx)
        binary = uv_dir / "uv"
        wheels = ctx.request.settings.tool_wheels
        if binary.is_file() and not binary.is_symlink():
            ctx.out.step(f"Using cached uv {pinned}")
            return Installed(pinned, _exports(ctx, uv_dir))
        ctx.out.step(f"Installing uv {pinned}")
        wheel = find_wheel(wheels, "uv", pinned)
        if wheel is not None:
            _unpack(wheel, pinned, uv_dir)
            return Installed(pinned, _exports(ctx, uv_dir))
        host = _host_uv(ctx)
        if host is None:
            raise BuildError(
                "UV_INSTALL_FAILED",
                "Unable to install uv.",
                [
                    f"The pinned uv {pinned} wheel is not in {wheels}, and there is no",
                    "'uv' on this host's PATH to use instead.",
                    "",
                    "Run `make install` (it fetches the stacks' pinned tools into",
                    ".wheels/tools), or set CEDARBOX_TOOL_WHEELS to a directory holding",
                    f"the uv {pinned} wheel, and push again.",
                ],
            )
        used = _uv_version(host)
        note = (
            f"Note: The pinned uv {pinned} wheel is not in {wheels}; using uv {used} "
            f"({host}) instead. Run `make install` (or set CEDARBOX_TOOL_WHEELS) to provide it."
        )
        ctx.out.indent(note)
        ctx.report.warn(note.removeprefix("Note: "))
        return Installed(used, _exports(ctx, host.parent))

    def install_dependencies(
        self, ctx: BuildContext, python: ChosenPython, tool: Installed
    ) -> None:
        rules = self.rules(ctx)
        # cedarbox has no CI runs (Heroku CI sets INSTALL_TEST): the default groups never install.
        shown = [*rules.command, *rules.outside_ci_args]
        ctx.out.step(f"Installing dependencies using 'uv {' '.join(shown)}'")
        env = {k: v for k, v in ctx.env.items() if k not in _NOT_PASSED}
        if not python.exact:
            # The host's interpreter stands in for the version .python-version names: uv would
            # look for that exact version elsewhere. Give it the one the build chose.
            env["UV_PYTHON"] = str(ctx.build_dir / ENV_SUBDIR / "bin" / "python")
        argv = [shutil.which("uv", path=env["PATH"]) or "uv", *shown, *rules.extra_args]
        code = run_streamed(ctx, argv, on_line=ctx.out.indent, env=env)
        if code != 0:
            raise BuildError(
                "UV_SYNC_FAILED",
                "Unable to install dependencies using uv.",
                ["See the log output above for more information."],
            )
        record_environment(ctx, ctx.build_dir / ENV_SUBDIR)


def _exports(ctx: BuildContext, uv_dir: Path) -> dict[str, str]:
    """What the buildpack exports once uv is installed, for every later step."""
    return {
        "PATH": f"{uv_dir}{os.pathsep}{ctx.env.get('PATH', '')}",
        "UV_PROJECT_ENVIRONMENT": str(ctx.build_dir / ENV_SUBDIR),
        "UV_NO_MANAGED_PYTHON": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        # The sandbox mounts the build dir and uv's cache apart, so hardlinks cannot cross.
        "UV_LINK_MODE": "copy",
        "UV_CACHE_DIR": str(ctx.scratch / "uv-cache"),
    }


def _unpack(wheel: Path, version: str, uv_dir: Path) -> None:
    """Unpack the uv binary from its wheel into `uv_dir` (atomically: a rename at the end)."""
    member = f"uv-{version}.data/scripts/uv"
    uv_dir.mkdir(parents=True, exist_ok=True)
    partial = uv_dir / "uv.partial"
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        partial.unlink(missing_ok=True)
        raise BuildError(
            "UV_INSTALL_FAILED",
            "Unable to install uv.",
            [
                f"The uv binary could not be unpacked from {wheel}: {exc}.",
                "Fetch the tool wheels again (`make install`) and push again.",
            ],
        ) from None
    partial.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    partial.rename(uv_dir / "uv")


def _host_uv(ctx: BuildContext) -> Path | None:
    found = shutil.which("uv", path=ctx.env.get("PATH", ""))
    return Path(found) if found else None


@cache
def _uv_version(binary: Path) -> str:
    """`uv --version` ("uv 0.12.5 (…)") -> "0.12.5"; "unknown" if it won't say."""
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out[1] if len(out) > 1 else "unknown"
