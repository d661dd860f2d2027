"""Keep or discard the cached `.heroku` (heroku-reference §5), and record what to save.

Reasons to discard are collected as data first, then acted on, as the buildpack does.
"""

from __future__ import annotations

import hashlib

from gitserver.buildpacks.python import tools
from gitserver.buildpacks.python.types import ChosenPython, PackageManager
from gitserver.pipeline.buildpack import CacheToSave
from gitserver.pipeline.cache import BuildCache
from gitserver.pipeline.context import BuildContext

CACHED = ".heroku"


def metadata_for(
    ctx: BuildContext, python: ChosenPython, manager: PackageManager
) -> dict[str, str]:
    """What the next build compares against to decide whether this cache still fits."""
    return {
        "stack": ctx.request.stack,
        "python_version": python.version,
        "runtime_name": python.runtime_name,
        "interpreter": str(python.interpreter.path),
        "interpreter_version": python.interpreter.version,
        "package_manager": manager.name,
        "pip_version": tools.planned_pip_version(ctx, python),
        "requirements_sha256": _digest(manager),
    }


def discard_reasons(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    """Heroku's reasons, in Heroku's order and words, plus one for a changed host interpreter."""
    reasons = []

    def changed(key: str) -> bool:
        return key in previous and previous[key] != current[key]

    if changed("stack"):
        reasons.append(f"The stack has changed from {previous['stack']} to {current['stack']}")
    if changed("python_version"):
        reasons.append(
            f"The Python version has changed from {previous['python_version']} to "
            f"{current['python_version']}"
        )
    elif changed("interpreter_version") or changed("interpreter"):
        reasons.append(
            f"The host's Python interpreter has changed from "
            f"{previous.get('interpreter_version')} ({previous.get('interpreter')}) to "
            f"{current['interpreter_version']} ({current['interpreter']})"
        )
    if changed("package_manager"):
        reasons.append(
            f"The package manager has changed from {previous['package_manager']} to "
            f"{current['package_manager']}"
        )
    elif changed("pip_version"):
        reasons.append(
            f"The pip version has changed from {previous['pip_version']} to "
            f"{current['pip_version']}"
        )
    if changed("requirements_sha256"):
        reasons.append("The contents of requirements.txt changed")
    return reasons


def restore(ctx: BuildContext, python: ChosenPython, manager: PackageManager) -> None:
    """Move the cached `.heroku` into the build, or discard it saying why."""
    cache = ctx.cache
    assert cache is not None, "the restore phase runs before compile"
    record = ctx.report.cache
    if cache.empty:
        return
    current = metadata_for(ctx, python, manager)
    reasons = discard_reasons(cache.previous, current)
    if ctx.profile.legacy:
        # 2015: `.heroku` is copied in silently; the runtime and pip steps purge or prune it.
        if cache.previous.get("stack") not in (None, ctx.request.stack):
            record.discarded, record.reasons = True, reasons[:1]
            cache.discard()
            return
        _take(ctx, cache)
        return
    if reasons:
        ctx.out.step("Discarding cache since:")
        for reason in reasons:
            ctx.out.indent(f"- {reason}")
        record.discarded, record.reasons = True, reasons
        cache.discard()
        return
    ctx.out.step("Restoring cache")
    _take(ctx, cache)


def _take(ctx: BuildContext, cache: BuildCache) -> None:
    """Give the build its copy of the cached `.heroku`; the report says whether and how."""
    ctx.report.cache.reused = cache.take(CACHED, ctx.build_dir / CACHED)
    ctx.report.cache.from_spare = CACHED in cache.from_spare


def prepare_save(ctx: BuildContext, python: ChosenPython, manager: PackageManager) -> CacheToSave:
    """Say what the save-cache phase commits once the slug is exported."""
    if not ctx.profile.legacy:
        ctx.out.step("Saving cache")
    ctx.report.python.runtime_name = python.runtime_name
    return CacheToSave({CACHED: ctx.build_dir / CACHED}, metadata_for(ctx, python, manager))


def _digest(manager: PackageManager) -> str:
    try:
        return hashlib.sha256(manager.requirements.read_bytes()).hexdigest()
    except OSError:
        return ""
