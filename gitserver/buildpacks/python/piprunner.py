"""Running pip in the app's environment, as the stack's buildpack did: env, filters, streams."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from gitserver.buildpacks.python.rules import rules_of
from gitserver.pipeline.commands import run_streamed
from gitserver.pipeline.context import BuildContext


def run_pip(ctx: BuildContext, env_dir: Path, args: Sequence[str]) -> int:
    """`bin/python -m pip ARGS` in `env_dir`, its output filtered and indented; the exit code."""
    rules = rules_of(ctx).pip
    emit = LineFilter(
        rules.hide_lines,
        ignore_case=rules.hide_ignore_case,
        collapse_ellipsis=rules.collapse_ellipsis,
        strip=rules.strip_patterns,
    )
    return run_streamed(
        ctx,
        [str(env_dir / "bin" / "python"), "-m", "pip", *args],
        env=pip_environment(ctx, env_dir),
        merge_stderr=rules.indent_stderr,
        on_line=emit.wrap(ctx.out.indent),
        on_stderr=ctx.out.line,  # 2015: `pip … | cleanup | indent` filtered stdout only
    )


def pip_environment(ctx: BuildContext, env_dir: Path) -> dict[str, str]:
    """The build env, the environment's bin first on PATH, plus the allowed pip config vars."""
    env = dict(ctx.env)
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    for name in rules_of(ctx).pip.config_vars:
        value = ctx.config_var(name)
        if not value:
            continue
        server = env.get(name)
        # pip reads several index URLs from one whitespace-separated variable: keep both.
        env[name] = f"{value} {server}" if server and name.endswith("_URL") else value
    return env


class LineFilter:
    """The buildpacks' `sed` filters over pip's output: hide some lines, tidy the rest.

    heroku-24 hides nothing and only removes the site-packages path from lines such as
    `Requirement already satisfied: x in /…/.heroku/python/lib/python3.12/site-packages (1.0)`.
    """

    def __init__(
        self,
        hide: Iterable[str],
        *,
        ignore_case: bool = False,
        collapse_ellipsis: bool = False,
        strip: Iterable[str] = (),
    ) -> None:
        flags = re.IGNORECASE if ignore_case else 0
        self._hide = [re.compile(re.escape(text), flags) for text in hide]
        self._collapse = collapse_ellipsis
        self._strip = [re.compile(pattern) for pattern in strip]

    def keep(self, line: str) -> bool:
        return not any(p.search(line) for p in self._hide)

    def tidy(self, line: str) -> str:
        for pattern in self._strip:
            line = pattern.sub("", line)
        return re.sub(r"\.\.\.+", "...", line) if self._collapse else line

    def wrap(self, sink: Callable[[str], None]) -> Callable[[str], None]:
        def emit(line: str) -> None:
            if self.keep(line):
                sink(self.tidy(line))

        return emit
