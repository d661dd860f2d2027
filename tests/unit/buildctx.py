"""Real BuildContexts for unit tests of buildpack steps: a build dir, settings, output, report."""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from pathlib import Path

from gitserver.output import Output
from gitserver.pipeline.context import BuildContext, BuildRequest, build_environment
from gitserver.pipeline.profiles import load_profile
from gitserver.pipeline.report import BuildReport
from gitserver.settings import Settings


def make_context(
    root: Path,
    *,
    stack: str = "heroku-24",
    files: Mapping[str, str | bytes] | None = None,
    sticky_runtime: str | None = None,
    nearest_major: bool = False,
    name: str = "build",
    data_dir: Path | None = None,
) -> BuildContext:
    """A context whose build directory `root/<name>` holds `files` (name -> content)."""
    build_dir = root / name
    build_dir.mkdir(parents=True, exist_ok=True)
    for rel, content in (files or {}).items():
        path = build_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    settings = Settings(data_dir=data_dir or root / "data", nearest_major=nearest_major)
    request = BuildRequest(
        app="test-app",
        stack=stack,
        build_dir=build_dir,
        cache_root=None,
        env_dir=root / f"{name}-env",
        slug_path=None,
        source_version="0" * 40,
        settings=settings,
        sticky_runtime=sticky_runtime,
    )
    request.env_dir.mkdir(parents=True, exist_ok=True)
    home = root / f"{name}-home"
    home.mkdir(parents=True, exist_ok=True)
    scratch = root / f"{name}-scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    return BuildContext(
        request=request,
        profile=load_profile(stack),
        out=Output(io.BytesIO(), colour_blocks=False),
        report=BuildReport(app="test-app", stack=stack, source_version=request.source_version),
        env=build_environment(request, home=home),
        deadline=time.monotonic() + 300,
        scratch=scratch,
    )


def step_lines(ctx: BuildContext) -> list[str]:
    """The `-----> ` lines printed so far."""
    return [line for line in ctx.out.transcript if line.startswith("-----> ")]
