"""Release metadata: process types from the Procfile and the buildpack's add-ons."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitserver.pipeline.buildpack import Buildpack
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError
from gitserver.pipeline.procfile import parse_procfile


@dataclass(frozen=True)
class ReleaseResult:
    process_types: dict[str, str] = field(default_factory=dict)
    addons: list[str] = field(default_factory=list)


def release(ctx: BuildContext, buildpack: Buildpack) -> ReleaseResult:
    metadata = buildpack.release(ctx)
    ctx.out.step("Discovering process types")
    types = dict(metadata.default_process_types)
    types.update(read_procfile(ctx))
    listed = ", ".join(sorted(types)) if types else "(none)"
    ctx.out.indent(f"Procfile declares types -> {listed}")
    ctx.out.line()
    ctx.report.process_types = types
    ctx.report.addons = list(metadata.addons)
    return ReleaseResult(process_types=types, addons=list(metadata.addons))


def read_procfile(ctx: BuildContext) -> dict[str, str]:
    path = ctx.build_dir / "Procfile"
    if not path.exists() and not path.is_symlink():
        return {}
    if path.is_symlink() or not path.is_file():
        raise BuildError(
            "INVALID_PROCFILE",
            "Invalid Procfile.",
            [
                "The Procfile must be a regular file in the root of the repository, not a "
                "directory or a symlink."
            ],
        )
    return parse_procfile(path.read_bytes().decode("utf-8", "replace"))
