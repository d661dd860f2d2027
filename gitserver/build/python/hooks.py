"""bin/pre_compile and bin/post_compile: app-provided scripts run during the build."""

from __future__ import annotations

import os

from gitserver.build.context import BuildContext
from gitserver.build.errors import BuildError
from gitserver.build.run import run_streamed


def run_hook(ctx: BuildContext, name: str) -> None:
    """Run `bin/<name>` if the app has one; a non-zero exit fails the build."""
    script = ctx.build_dir / "bin" / name
    if not script.is_file():
        return
    if ctx.profile.legacy:
        ctx.out.step(f"Running {name.replace('_', '-')} hook")
    else:
        ctx.out.step(f"Running bin/{name} hook")
    script.chmod(script.stat().st_mode | 0o111)
    env = dict(ctx.env)
    python_bin = ctx.build_dir / ".heroku" / "python" / "bin"
    if python_bin.is_dir():
        env["PATH"] = f"{python_bin}{os.pathsep}{env['PATH']}"
    code = run_streamed(ctx, [str(script)], on_line=ctx.out.indent, env=env)
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
