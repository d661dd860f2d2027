"""`cedarbox build DIR`: the push pipeline on a local directory, with no git and no server."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from gitserver.buildpacks import load_buildpacks
from gitserver.datadir import DataDir
from gitserver.errors import UsageError
from gitserver.output import Output
from gitserver.pipeline.build import BuildResult, run_build
from gitserver.pipeline.context import BuildRequest
from gitserver.pipeline.profiles import load_profile
from gitserver.settings import Settings


def build_directory(
    settings: Settings,
    directory: Path,
    *,
    stack: str | None,
    slug: Path | None,
    report: Path | None,
) -> BuildResult:
    """Build a copy of `directory` (never the directory itself); print what a push would."""
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory.", hint="Pass the app's root directory.")
    data = DataDir(settings.data_dir).ensure()
    out = Output(sys.stdout.buffer)
    with tempfile.TemporaryDirectory(prefix="local-", dir=data.work()) as tmp:
        build_dir = Path(tmp) / "source"
        shutil.copytree(directory, build_dir, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        (Path(tmp) / "env").mkdir()
        request = BuildRequest(
            app=directory.resolve().name,
            stack=stack or settings.default_stack,
            build_dir=build_dir,
            cache_root=None,
            env_dir=Path(tmp) / "env",
            slug_path=slug.resolve() if slug else None,
            source_version="local",
            settings=settings,
            build_id=str(uuid.uuid4()),
        )
        for line in load_profile(request.stack).start_lines:
            out.line(line)
        result = run_build(request, out, load_buildpacks(settings.buildpacks))
    if report is not None:
        report.write_text(json.dumps(result.report.to_json(), indent=2) + "\n")
    return result
