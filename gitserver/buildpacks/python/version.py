"""The version step: which Python the build uses, and which host interpreter provides it.

What the app asked for and what Heroku would install are decided by resolution.py (over
versionfiles.py); this step reads the build directory, prints, finds the host interpreter
(runtimes.py, selection.py) and records the decision in the build report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gitserver.buildpacks.python import runtimes, selection
from gitserver.buildpacks.python.pyversions import major_of
from gitserver.buildpacks.python.resolution import (
    Notice,
    VersionRequest,
    request_python_version,
    request_runtime,
    resolve_python_version,
    runtime_not_available,
    split_runtime,
    version_line,
)
from gitserver.buildpacks.python.rules import RuntimeCatalogRules, VersionFileRules, rules_of
from gitserver.buildpacks.python.types import ChosenPython, HostInterpreter
from gitserver.buildpacks.python.versionfiles import SHOWN_CHARS
from gitserver.output import printable
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

# A package manager's check of how the app named its Python (request, resolved major).
RequestCheck = Callable[[BuildContext, VersionRequest, str], None]


def choose_python(ctx: BuildContext, check: RequestCheck | None = None) -> ChosenPython:
    """Decide the build's Python, print what Heroku prints, and find the host interpreter.

    heroku-24: `check` (the package manager's) runs once the version is resolved, before any
    warning about it, where the buildpack checks the version file a package manager needs.
    """
    rules = rules_of(ctx).python
    if isinstance(rules, RuntimeCatalogRules):
        return _choose_runtime(ctx, rules)
    return _choose_version(ctx, rules, check)


def _choose_version(
    ctx: BuildContext, pp: VersionFileRules, check: RequestCheck | None
) -> ChosenPython:
    record = ctx.report.python
    request = request_python_version(ctx.build_dir, ctx.request.sticky_runtime, pp)
    record.requested, record.source = request.requested, request.source
    ctx.out.step(version_line(request))
    resolved = resolve_python_version(request, pp)
    record.resolved = resolved.version
    if check is not None:
        check(ctx, request, major_of(resolved.version))
    record.runtime_name = f"python-{resolved.version}"
    interpreters = runtimes.list_runtimes(ctx.request.settings)
    interp = selection.find_interpreter(interpreters, resolved.version)
    fallback = None
    if interp is None and not request.explicit:
        fallback = selection.newest_of_majors(interpreters, pp.latest_patches)
        interp = fallback
    if interp is None:
        raise _missing_on_host(ctx, request, resolved.version, interpreters)
    chosen = ChosenPython(
        version=resolved.version,
        runtime_name=f"python-{resolved.version}",
        requested=request.requested,
        source=request.source,
        interpreter=interp,
    )
    _record(ctx, chosen)
    note = selection.host_note(chosen)
    if note:
        ctx.out.indent(note)
    for notice in resolved.warnings:
        _warn(ctx, notice)
    if fallback is not None:
        _warn(ctx, _fallback_notice(request, resolved.version, fallback))
    return chosen


def _choose_runtime(ctx: BuildContext, pp: RuntimeCatalogRules) -> ChosenPython:
    record = ctx.report.python
    request = request_runtime(ctx.build_dir, ctx.request.sticky_runtime, pp)
    record.requested, record.source = request.requested, request.source
    name = request.version
    if name not in pp.catalog.names:
        # 2015: the download failed after the runtime step had been announced.
        previous = ctx.cache.previous.get("runtime_name") if ctx.cache is not None else None
        if previous and previous != name:
            ctx.out.step(f"Found runtime {previous}, removing")
        ctx.out.step(f"Installing runtime ({printable(name, SHOWN_CHARS)})")
        raise runtime_not_available(name, ctx.request.stack, pp.more_info_url)
    implementation, version = split_runtime(name)
    record.resolved = version
    record.runtime_name = name
    interpreters = runtimes.list_runtimes(ctx.request.settings)
    interp = selection.find_interpreter(interpreters, version, implementation)
    if interp is None and implementation == "pypy":
        interp = selection.newest_pypy(interpreters, pp.pypy_language.get(name, ""))
    if interp is None and pp.nearest_major_allowed and ctx.request.settings.nearest_major:
        interp = selection.nearest_major(interpreters, version, implementation)
    fallback = None
    if interp is None and not request.explicit:
        majors = {major_of(split_runtime(n)[1]) for n in pp.catalog.supported}
        fallback = selection.newest_of_majors(interpreters, majors)
        interp = fallback
    if interp is None:
        raise _missing_on_host(ctx, request, version, interpreters, implementation)
    chosen = ChosenPython(
        version=version,
        runtime_name=name,
        requested=request.requested,
        source=request.source,
        interpreter=interp,
    )
    _record(ctx, chosen)
    if fallback is not None:
        notice = _fallback_notice(request, version, fallback)
        ctx.out.bang("\n".join([notice.summary, *notice.body]))
        ctx.report.warn(notice.summary)
    return chosen


def _record(ctx: BuildContext, chosen: ChosenPython) -> None:
    record = ctx.report.python
    record.runtime_name = chosen.runtime_name
    record.resolved = chosen.version
    record.used = chosen.interpreter.version
    record.interpreter = str(chosen.interpreter.path)
    record.exact = chosen.exact


def _warn(ctx: BuildContext, notice: Notice) -> None:
    ctx.out.warning(notice.summary, notice.body)
    ctx.report.warn(notice.summary)


def _fallback_notice(request: VersionRequest, version: str, used: HostInterpreter) -> Notice:
    wanted = major_of(version)
    why = "the buildpack default" if request.source == "default" else "the last build's version"
    return Notice(
        f"Python {wanted} isn't installed on this host; using Python {used.major} instead.",
        (
            f"Your app names no Python version, so Heroku would use {why}, Python {version}.",
            f"This host has no Python {wanted}, so the build uses the newest supported Python",
            f"it does have: {used.version} ({used.path}).",
            "",
            "To build with the same Python as Heroku, make it available on this host:",
            *_provide_instructions(version),
            "Or name your app's Python version in a .python-version file.",
        ),
    )


def _provide_instructions(version: str) -> list[str]:
    return [
        f"  pyenv install {major_of(version)}      (or: uv python install {major_of(version)})",
        f"  cedarbox runtimes:add {version} /path/to/python{major_of(version)}",
    ]


def _missing_on_host(
    ctx: BuildContext,
    request: VersionRequest,
    version: str,
    interpreters: Sequence[HostInterpreter],
    implementation: str = "cpython",
) -> BuildError:
    has = selection.describe(interpreters)
    if implementation == "pypy":
        what = f"PyPy {version}"
        provide = [
            "  install PyPy (e.g. pyenv install pypy2.7-7.3.17), or register one with:",
            "  cedarbox runtimes:add pypy-<version> /path/to/pypy",
        ]
    else:
        what = f"Python {major_of(version)}"
        provide = _provide_instructions(version)
    asked = (
        f"Your {request.source} file asks for {request.requested}"
        if request.explicit
        else f"The build would use {request.version}"
    )
    body = [
        f"{asked}; Heroku would install {what.split()[0]} {version}.",
        "cedarbox builds with the interpreters already on this machine and found no",
        f"{what} (this host has: {has}).",
        "",
        "Provide one, then push again:",
        *provide,
    ]
    legacy = [f"Requested runtime ({request.version}) is not installed on this host.", *body[1:]]
    if rules_of(ctx).python.nearest_major_allowed and implementation == "cpython":
        nearest = selection.nearest_major(interpreters, version)
        if nearest is not None and not ctx.request.settings.nearest_major:
            hint = (
                "Or set CEDARBOX_NEAREST_MAJOR=1 on the cedarbox server to build with the "
                f"nearest major this host has (Python {nearest.version})."
            )
            body.append(hint)
            legacy.append(hint)
    return BuildError(
        "RUNTIME_MISSING_ON_HOST",
        f"{what} isn't installed on this host.",
        body,
        legacy_lines=legacy,
    )
