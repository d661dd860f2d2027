"""bin/pre_compile and bin/post_compile: app-provided scripts run during the build.

A hook sees the build's environment (for post_compile, with what the package manager's tool
exported: uv's UV_* and its directory on PATH), the app's config vars (from ENV_DIR, as the
buildpack's `sub_env` exports them, less the variables it never takes from config) and, on
heroku-24, the variables bin/compile exports before the hooks run (hooks_spec.rb): CACHE_DIR,
the include and library paths of `.heroku/python`, LANG and PYTHONUNBUFFERED. CACHE_DIR is this
build's own copy of the tools' cache, never the app's last good cache.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gitserver.buildpacks.python.managers.base import cache_dir
from gitserver.buildpacks.python.runtime import ENV_SUBDIR
from gitserver.pipeline.commands import run_streamed
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError


def run_hook(ctx: BuildContext, name: str) -> None:
    """Run `bin/<name>` if the app has one; a non-zero exit fails the build."""
    script = ctx.build_dir / "bin" / name
    if not script.is_file():
        return
    if ctx.profile.legacy:
        ctx.out.step(f"Running {name.replace('_', '-')} hook")
    else:
        ctx.out.step(f"Running bin/{name} hook")
    _make_executable(ctx.build_dir, script)
    env = hook_environment(ctx)
    try:
        code = run_streamed(ctx, [str(script)], on_line=ctx.out.indent, env=env)
    except OSError as exc:  # not executable, a bad #! line, …: the script never started
        raise BuildError(
            "HOOK_FAILED",
            f"Failed to run the bin/{name} script.",
            [
                f"The bin/{name} script could not be started: {exc.strerror or exc}.",
                "Check its first line (for example #!/bin/sh or #!/usr/bin/env bash), and that",
                "it is a regular file in your app rather than a link to a file outside it.",
            ],
            legacy_lines=[f"bin/{name} could not be started: {exc.strerror or exc}."],
        ) from None
    if code != 0:
        raise BuildError(
            "HOOK_FAILED",
            f"Failed to run the bin/{name} script.",
            [
                f"The bin/{name} script exited with status {code}.",
                "See the log output above for more information.",
            ],
            legacy_lines=[f"bin/{name} exited with status {code}."],
        )


def _make_executable(root: Path, script: Path) -> None:
    """`chmod +x`, as Heroku does; never through a symlink to a file outside the app."""
    target = script.resolve()
    if target.is_relative_to(root.resolve()):
        target.chmod(target.stat().st_mode | 0o111)


# Config vars a hook never gets from ENV_DIR (the buildpack stdlib's `export_env` blocklist).
NEVER_FROM_CONFIG = frozenset(
    {"PATH", "CPATH", "CPPATH", "LD_PRELOAD", "LIBRARY_PATH", "LD_LIBRARY_PATH", "PYTHONHOME"}
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def hook_environment(ctx: BuildContext) -> dict[str, str]:
    """What bin/pre_compile and bin/post_compile see (module docstring)."""
    env = dict(ctx.env)
    python = ctx.build_dir / ENV_SUBDIR
    if not ctx.profile.legacy:
        cache = cache_dir(ctx)
        cache.mkdir(parents=True, exist_ok=True)
        env["CACHE_DIR"] = str(cache)
        env["LANG"] = "en_US.UTF-8"
        env["PYTHONUNBUFFERED"] = "1"
        for name, sub in (
            ("C_INCLUDE_PATH", "include"),
            ("CPLUS_INCLUDE_PATH", "include"),
            ("LIBRARY_PATH", "lib"),
            ("LD_LIBRARY_PATH", "lib"),
            ("PKG_CONFIG_PATH", "lib/pkg-config"),
        ):
            env[name] = _prepend(str(python / sub), env.get(name))
    if (python / "bin").is_dir() or not ctx.profile.legacy:
        env["PATH"] = _prepend(str(python / "bin"), env.get("PATH"))
    env.update(config_vars(ctx.request.env_dir))
    return env


def config_vars(env_dir: Path) -> dict[str, str]:
    """The app's config vars as a hook gets them: ENV_DIR's files, trailing newlines removed."""
    found: dict[str, str] = {}
    try:
        entries = sorted(env_dir.iterdir())
    except OSError:
        return found
    for path in entries:
        name = path.name
        if not _NAME.fullmatch(name) or name in NEVER_FROM_CONFIG or not path.is_file():
            continue
        try:
            value = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found[name] = value.rstrip("\n").replace("\0", "")
    return found


def _prepend(first: str, rest: str | None) -> str:
    return f"{first}{os.pathsep}{rest}" if rest else first
