"""Django: collectstatic during compile, and the Postgres add-on in release metadata (§7).

Texts, filters and rules are the stack rules' `django` section (rules.py). As Heroku's
buildpack does (its `sub_env`), collectstatic runs with the app's config vars exported, so
settings that read e.g. SECRET_KEY from the environment work at build time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from gitserver.buildpacks.python.rules import DjangoRules, rules_of
from gitserver.buildpacks.python.runtime import ENV_SUBDIR
from gitserver.buildpacks.python.sitepackages import module_available
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.commands import run_quiet, run_streamed
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

MANAGE_PY = "manage.py"
DISABLE_VAR = "DISABLE_COLLECTSTATIC"
DISABLED_FILE = Path(".heroku") / "collectstatic_disabled"
# Heroku's sub_env never exports these config vars into build steps (buildpack-stdlib).
_NOT_EXPORTED = frozenset(
    {
        "PATH",
        "GIT_DIR",
        "CPATH",
        "CPPATH",
        "LD_PRELOAD",
        "LIBRARY_PATH",
        "LD_LIBRARY_PATH",
        "PYTHONHOME",
    }
)
_SKIPPED_DIRS = frozenset({".heroku", ".git"})


def collectstatic(ctx: BuildContext, python: ChosenPython) -> None:
    """Run `manage.py collectstatic --noinput` when the app is a Django app."""
    rules = rules_of(ctx).django
    if ctx.profile.legacy:
        _collectstatic_legacy(ctx, rules)
    else:
        _collectstatic(ctx, rules)


def addons(ctx: BuildContext) -> list[str]:
    """The add-ons bin/release asks for: Postgres for Django apps, nothing otherwise."""
    rules = rules_of(ctx).django
    if not rules.addon:
        return []
    if rules.addon_needs_root_manage_py:
        manage = ctx.build_dir / MANAGE_PY
        if not (manage.is_file() and not manage.is_symlink()):
            return []
    elif find_manage_py(ctx.build_dir, rules.manage_py_max_depth) is None:
        return []
    env_dir = ctx.build_dir / ENV_SUBDIR
    if not all(module_available(env_dir, m) for m in rules.addon_needs_modules):
        return []
    return [rules.addon]


def find_manage_py(root: Path, max_depth: int = 3) -> Path | None:
    """The shallowest regular file named manage.py within `max_depth` (`find -maxdepth`).

    Depth 1 is the root itself. Symlinks are neither followed nor matched, and the build's
    own `.heroku` (and `.git`) are not searched.
    """
    level = [root]
    for _ in range(max_depth):
        next_level: list[Path] = []
        for directory in level:
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.name == MANAGE_PY and entry.is_file(follow_symlinks=False):
                    return Path(entry.path)
            next_level.extend(
                Path(e.path)
                for e in entries
                if e.is_dir(follow_symlinks=False)
                and not (directory == root and e.name in _SKIPPED_DIRS)
            )
        level = next_level
    return None


def collectstatic_environment(ctx: BuildContext, *, pythonpath: str | None) -> dict[str, str]:
    """The build env, the app's config vars (as Heroku's sub_env exports them), PATH first."""
    env = dict(ctx.env)
    env.update(_config_vars(ctx))
    bin_dir = ctx.build_dir / ENV_SUBDIR / "bin"
    env["PATH"] = f"{bin_dir}{os.pathsep}{ctx.env.get('PATH', '')}"
    if pythonpath is not None:
        env.setdefault("PYTHONPATH", pythonpath)
    return env


# --- heroku-24 --------------------------------------------------------------------------------


def _collectstatic(ctx: BuildContext, rules: DjangoRules) -> None:
    messages = rules.messages
    if (ctx.build_dir / DISABLED_FILE).exists():
        ctx.out.step(messages.disabled_file)
        ctx.out.warning(
            "The .heroku/collectstatic_disabled file is deprecated.",
            ["Please remove the file and set the config var DISABLE_COLLECTSTATIC=1 instead."],
        )
        ctx.report.warn("The .heroku/collectstatic_disabled file is deprecated.")
        return
    if _disabled_by_config(ctx):
        ctx.out.step(messages.disabled_env)
        return
    env_dir = ctx.build_dir / ENV_SUBDIR
    if rules.require_django and not module_available(env_dir, "django"):
        return
    manage = find_manage_py(ctx.build_dir, rules.manage_py_max_depth)
    if manage is None:
        ctx.out.step(messages.no_manage_py)
        return
    relative = manage.relative_to(ctx.build_dir).as_posix()
    ctx.out.step(messages.step.format(manage=relative))
    argv = [
        str(env_dir / "bin" / "python"),
        relative,
        "collectstatic",
        "--noinput",
        *rules.extra_args,
    ]
    emit = _shown_lines(ctx, rules)
    env = collectstatic_environment(ctx, pythonpath=rules.pythonpath_default)
    code = run_streamed(ctx, argv, on_line=emit, env=env)
    ctx.out.line()
    if code == 0:
        return
    summary = messages.failed
    if rules.collectstatic_failure_fails_build:
        raise BuildError(
            "COLLECTSTATIC_FAILED",
            summary,
            [
                f"The 'python {relative} collectstatic --noinput' Django management",
                "command, which generates your app's static files, failed.",
                "",
                "See the traceback above for details.",
                "",
                "You may need to update your app's code to fix this. Or, if your app does",
                "not need collectstatic at build time, disable it by setting the config var",
                "",
                "   DISABLE_COLLECTSTATIC=1",
            ],
        )
    ctx.out.warning(summary, ["See the output above for details."])
    ctx.report.warn(summary)


# --- cedar-14 (2015) --------------------------------------------------------------------------


def _collectstatic_legacy(ctx: BuildContext, rules: DjangoRules) -> None:
    messages = rules.messages
    if (ctx.build_dir / DISABLED_FILE).exists() or _disabled_by_config(ctx):
        return
    env_dir = ctx.build_dir / ENV_SUBDIR
    if rules.require_django and not module_available(env_dir, "django"):
        return
    manage = find_manage_py(ctx.build_dir, rules.manage_py_max_depth)
    if manage is None:
        return
    relative = manage.relative_to(ctx.build_dir).as_posix()
    python_bin = str(env_dir / "bin" / "python")
    env = collectstatic_environment(ctx, pythonpath=rules.pythonpath_default)
    ctx.out.step(messages.step)
    configured = True
    if rules.dry_run_first:
        # 2015: a dry run decides whether collectstatic is configured; its output is dropped.
        code, _ = run_quiet(
            ctx, [python_bin, relative, "collectstatic", "--dry-run", "--noinput"], env=env
        )
        configured = code == 0
    if not configured:
        for line in messages.config_error:
            ctx.out.indent(line.format(manage=relative))
        ctx.report.warn(messages.config_error[0])
        ctx.out.line()
        return
    ctx.out.indent(messages.running)
    emit = _shown_lines(ctx, rules)
    code = run_streamed(
        ctx,
        [python_bin, relative, "collectstatic", "--noinput", *rules.extra_args],
        on_line=emit,
        env=env,
    )
    if code != 0:
        first, *rest = messages.run_error
        ctx.out.bang(first)
        for line in rest:
            ctx.out.indent(line)
        ctx.report.warn(first)
    ctx.out.line()


# --- shared -----------------------------------------------------------------------------------


def _shown_lines(ctx: BuildContext, rules: DjangoRules) -> Callable[[str], None]:
    """Indent collectstatic's output lines, less those the stack's buildpack filtered out."""
    hide = [re.compile(p) for p in rules.hide_patterns]

    def emit(line: str) -> None:
        if not any(p.search(line) for p in hide):
            ctx.out.indent(line)

    return emit


def _disabled_by_config(ctx: BuildContext) -> bool:
    value = ctx.config_var(DISABLE_VAR)
    if ctx.profile.legacy:
        return bool(value)  # 2015: `[ ! "$DISABLE_COLLECTSTATIC" ]`, any value disables
    return value is not None and value not in ("", "0")


def _config_vars(ctx: BuildContext) -> dict[str, str]:
    env_dir = ctx.request.env_dir
    values: dict[str, str] = {}
    try:
        names = sorted(p.name for p in env_dir.iterdir() if p.is_file())
    except OSError:
        return values
    for name in names:
        if name in _NOT_EXPORTED or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            continue
        try:
            # As `$(cat file)` does: the value without its trailing newlines.
            values[name] = (env_dir / name).read_text().rstrip("\n")
        except (OSError, UnicodeDecodeError):
            continue
    return values
