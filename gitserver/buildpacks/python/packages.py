"""pip's steps (heroku-reference §6): the pinned pip, then `pip install -r requirements.txt`.

The pip package manager (managers/pip.py) calls these.

Flags, output filters and message texts are the stack rules' `pip` section (rules.py); this
module runs the steps in order: the pinned tools (tools.py), the 2015 checks of what
requirements.txt lists, `pip install -r requirements.txt` (piprunner.py), then the
environment is made relocatable and what it holds goes into the build report.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from gitserver.buildpacks.python.pipnoop import RECORD, Line, PipRun, kept_lines, record
from gitserver.buildpacks.python.piprunner import pip_environment, replay, run_pip
from gitserver.buildpacks.python.requirements import normalize, requirement_names
from gitserver.buildpacks.python.rules import PipRules, rules_of
from gitserver.buildpacks.python.runtime import ENV_SUBDIR, make_relocatable
from gitserver.buildpacks.python.sitepackages import (
    PLATFORM_PACKAGES,
    installed_packages,
    installed_version,
    site_packages,
)
from gitserver.buildpacks.python.tools import install_tools, plan_tools, version_matches
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

DECLARED = "requirements-declared.txt"


def install_pip(ctx: BuildContext, python: ChosenPython) -> str:
    """Install the pinned pip (and setuptools) into `.heroku/python`; the pip version in use."""
    env_dir = ctx.build_dir / ENV_SUBDIR
    plan = plan_tools(ctx, python)
    install_tools(ctx, python, plan, env_dir)
    return installed_version(env_dir, "pip") or plan.pip_version


def install_requirements(ctx: BuildContext, requirements_file: Path, pip_version: str) -> None:
    """`pip install -r requirements.txt` into `.heroku/python`, then make it relocatable."""
    rules = rules_of(ctx).pip
    messages = rules.messages
    env_dir = ctx.build_dir / ENV_SUBDIR

    requirements = requirements_file.read_bytes().decode("utf-8", "replace")
    if rules.warn_listed:
        _warn_listed(ctx, requirements, rules)
    if rules.uninstall_stale:
        _uninstall_stale(ctx, env_dir, requirements, messages.stale_step)

    ctx.out.step(messages.installing_dependencies)
    code = _install_or_replay(ctx, env_dir, requirements, _install_args(ctx, rules, pip_version))
    if code != 0:
        raise BuildError(
            "PIP_INSTALL_FAILED",
            messages.install_failed,
            messages.install_failed_body,
            legacy_lines=messages.install_failed_legacy,
        )
    if rules.blank_line_after:
        ctx.out.line()
    if rules.keep_declared:
        _keep_declared(requirements_file.read_bytes(), env_dir / DECLARED)
    record_environment(ctx, env_dir)


def _install_or_replay(ctx: BuildContext, env_dir: Path, requirements: str, args: list[str]) -> int:
    """`pip install` ARGS, or the kept lines of a no-op run with the same inputs (pipnoop.py);
    a run that changed nothing is kept for the next build (noop_record: a cache entry)."""
    env = pip_environment(ctx, env_dir)
    run = PipRun(
        stack=ctx.request.stack,
        requirements=requirements,
        args=tuple(args),
        pip_version=installed_version(env_dir, "pip") or "",
        pip_env=env,
    )
    key = run.key(env_dir) if run.replayable() else None
    cache = ctx.cache
    if key is not None and cache is not None and cache.source and ctx.report.cache.reused:
        lines = kept_lines(_read(cache.source / RECORD), key)
        if lines is not None:
            replay(ctx, lines)
            ctx.report.package_manager.replayed = True
            _keep_noop(ctx, key, lines)
            return 0
    printed: list[Line] = []
    code = run_pip(ctx, env_dir, args, printed=printed, env=env)
    if code == 0 and key is not None and run.key(env_dir) == key:
        _keep_noop(ctx, key, printed)
    return code


def noop_record(ctx: BuildContext) -> Path:
    """Where this build keeps its no-op pip run (if any) for the cache: its scratch space."""
    return ctx.scratch / RECORD


def _keep_noop(ctx: BuildContext, key: str, lines: list[Line]) -> None:
    with contextlib.suppress(OSError):  # only an optimisation: the next build runs pip
        ctx.scratch.mkdir(parents=True, exist_ok=True)
        noop_record(ctx).write_text(record(key, lines))


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def record_environment(ctx: BuildContext, env_dir: Path) -> None:
    """After any installer: relocatable scripts, and what the environment holds in the report."""
    make_relocatable(env_dir)
    site = site_packages(env_dir)
    ctx.report.packages = installed_packages(site) if site else []


def _install_args(ctx: BuildContext, rules: PipRules, pip_version: str) -> list[str]:
    """The stack's `pip install` arguments, less those the pip in use no longer has."""
    args = list(rules.install_args)
    for arg, below in rules.args_need_pip_below.items():
        if arg in args and not version_matches(pip_version, f"<{below}"):
            args.remove(arg)
            ctx.out.indent(rules.messages.arg_dropped.format(pip=pip_version, arg=arg, below=below))
    return args


def _warn_listed(ctx: BuildContext, requirements: str, rules: PipRules) -> None:
    """2015: warn when requirements.txt lists a package the platform installs itself."""
    if set(requirement_names(requirements)) & {normalize(n) for n in rules.warn_listed}:
        lines = rules.messages.listed_warning
        for line in lines:
            ctx.out.bang(line)
        if lines:
            ctx.report.warn(lines[0])


def _uninstall_stale(ctx: BuildContext, env_dir: Path, requirements: str, step: str) -> None:
    """2015: uninstall what a previous build's requirements.txt listed and this one doesn't."""
    declared = env_dir / DECLARED
    if not declared.is_file() or declared.is_symlink():
        return
    previous = declared.read_bytes().decode("utf-8", "replace")
    if previous == requirements:
        return
    current = set(requirement_names(requirements))
    stale = [
        n
        for n in dict.fromkeys(requirement_names(previous))
        if n not in current and n not in PLATFORM_PACKAGES
    ]
    if not stale:
        return
    ctx.out.step(step)
    # As in 2015, a failed uninstall doesn't fail the build: the install step comes next.
    run_pip(ctx, env_dir, ["uninstall", "-y", "--disable-pip-version-check", *stale])


def _keep_declared(requirements: bytes, declared: Path) -> None:
    """2015: keep a copy of requirements.txt for the next build's stale-package check.

    An unchanged copy is left alone: its mtime is part of what lets the next slug reuse the
    cached `.heroku` member (gitserver.pipeline.slug).
    """
    with contextlib.suppress(OSError):
        if declared.read_bytes() == requirements:
            return
    declared.write_bytes(requirements)
