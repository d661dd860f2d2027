"""bin/pre_compile and bin/post_compile: app-provided scripts run during the build."""

from __future__ import annotations

import os
from pathlib import Path

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
    env = dict(ctx.env)
    python_bin = ctx.build_dir / ".heroku" / "python" / "bin"
    if python_bin.is_dir():
        env["PATH"] = f"{python_bin}{os.pathsep}{env['PATH']}"
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
