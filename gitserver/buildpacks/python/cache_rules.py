"""Keep or discard the cached `.heroku` (heroku-reference §5), and record what to save.

Reasons to discard are collected as data first, then acted on, as the buildpack does.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitserver.buildpacks.python.managers import Manager
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.buildpack import CacheToSave
from gitserver.pipeline.cache import BuildCache
from gitserver.pipeline.context import BuildContext

CACHED = ".heroku"


def metadata_for(ctx: BuildContext, python: ChosenPython, manager: Manager) -> dict[str, str]:
    """What the next build compares against to decide whether this cache still fits."""
    return {
        "stack": ctx.request.stack,
        "python_version": python.version,
        "runtime_name": python.runtime_name,
        "interpreter": str(python.interpreter.path),
        "interpreter_version": python.interpreter.version,
        "package_manager": manager.name,
        **manager.cache_metadata(ctx, python),
    }


def discard_reasons(
    previous: Mapping[str, str], current: Mapping[str, str], manager: Manager
) -> list[str]:
    """Heroku's reasons, in Heroku's order and words, plus one for a changed host interpreter.

    The manager adds its own (tool version, lockfile) when the manager itself is unchanged.
    """
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
    else:
        reasons.extend(manager.discard_reasons(previous, current))
    return reasons


def restore(ctx: BuildContext, python: ChosenPython, manager: Manager) -> None:
    """Move the cached `.heroku` into the build, or discard it saying why."""
    cache = ctx.cache
    assert cache is not None, "the restore phase runs before compile"
    record = ctx.report.cache
    if cache.empty:
        return
    current = metadata_for(ctx, python, manager)
    reasons = discard_reasons(cache.previous, current, manager)
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
    manager.restore_tools(ctx, cache)


def _take(ctx: BuildContext, cache: BuildCache) -> None:
    """Give the build its copy of the cached `.heroku`; the report says whether and how."""
    ctx.report.cache.reused = cache.take(CACHED, ctx.build_dir / CACHED)
    ctx.report.cache.from_spare = CACHED in cache.from_spare


def prepare_save(ctx: BuildContext, python: ChosenPython, manager: Manager) -> CacheToSave:
    """Say what the save-cache phase commits once the slug is exported."""
    if not ctx.profile.legacy:
        ctx.out.step("Saving cache")
    ctx.report.python.runtime_name = python.runtime_name
    entries = {CACHED: ctx.build_dir / CACHED, **manager.cache_entries(ctx)}
    return CacheToSave(entries, metadata_for(ctx, python, manager))
