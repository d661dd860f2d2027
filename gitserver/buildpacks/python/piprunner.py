"""Running pip in the app's environment, as the stack's buildpack did: env, filters, streams."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from gitserver.buildpacks.python.pipnoop import INDENTED, PLAIN, Line
from gitserver.buildpacks.python.rules import rules_of
from gitserver.pipeline.commands import run_streamed
from gitserver.pipeline.context import BuildContext


def run_pip(
    ctx: BuildContext,
    env_dir: Path,
    args: Sequence[str],
    *,
    printed: list[Line] | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """`bin/python -m pip ARGS` in `env_dir`, its output filtered and indented; the exit code.

    `printed` collects the lines as printed (gitserver.buildpacks.python.pipnoop replays them);
    `env`: pip_environment's result, if the caller has it already."""
    rules = rules_of(ctx).pip
    emit = LineFilter(
        rules.hide_lines,
        ignore_case=rules.hide_ignore_case,
        collapse_ellipsis=rules.collapse_ellipsis,
        strip=rules.strip_patterns,
    )
    indent: Callable[[str], None] = ctx.out.indent
    plain: Callable[[str], None] = ctx.out.line
    if printed is not None:
        indent, plain = _collecting(indent, INDENTED, printed), _collecting(plain, PLAIN, printed)
    return run_streamed(
        ctx,
        [str(env_dir / "bin" / "python"), "-m", "pip", *args],
        env=env if env is not None else pip_environment(ctx, env_dir),
        merge_stderr=rules.indent_stderr,
        on_line=emit.wrap(indent),
        on_stderr=plain,  # 2015: `pip … | cleanup | indent` filtered stdout only
    )


def replay(ctx: BuildContext, lines: Iterable[Line]) -> None:
    """Print a kept run's lines as run_pip printed them."""
    for kind, text in lines:
        (ctx.out.indent if kind == INDENTED else ctx.out.line)(text)


def _collecting(sink: Callable[[str], None], kind: str, into: list[Line]) -> Callable[[str], None]:
    def emit(line: str) -> None:
        into.append((kind, line))
        sink(line)

    return emit


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
