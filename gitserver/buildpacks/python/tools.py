"""pip and setuptools in `.heroku/python`: which pins apply, and installing them offline.

The pinned pip and setuptools (the stack rules' `pip.tools`) are installed offline from the
tool wheels directory (`Settings.tool_wheels`): pip installs itself by running from its own
wheel. When a pin can't be used (wheel missing, or pip 7.0.1 on a Python it can't run on),
the interpreter's bundled pip (ensurepip) is used instead and the build says so.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gitserver.buildpacks.python.rules import PipMessages, rules_of
from gitserver.buildpacks.python.sitepackages import installed_version
from gitserver.buildpacks.python.types import ChosenPython
from gitserver.pipeline.commands import run_quiet
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError


@dataclass(frozen=True)
class ToolPin:
    """One pinned tool (pip or setuptools) for this build, and whether it can be used."""

    name: str
    version: str
    wheel: Path | None  # the wheel in the tool wheels directory; None if missing
    runs: bool  # the interpreter satisfies the pin's "python" constraint

    @property
    def usable(self) -> bool:
        return self.wheel is not None and self.runs


@dataclass(frozen=True)
class ToolPlan:
    """What the pip step installs: the pinned tools, or the interpreter's bundled pip."""

    pins: tuple[ToolPin, ...]  # the profile's tools that apply to this Python
    install: tuple[ToolPin, ...]  # the usable pins, installed from the tool wheels
    bundled: bool  # True: the pip pin can't be used; ensurepip provides pip instead
    pip_version: str  # the pip this build ends up with


def planned_pip_version(ctx: BuildContext, python: ChosenPython) -> str:
    """The pip version this build installs (part of the cache's metadata): cheap, no install."""
    return plan_tools(ctx, python).pip_version


def plan_tools(ctx: BuildContext, python: ChosenPython) -> ToolPlan:
    """Which pins apply to `python`, which are usable, and the resulting pip version."""
    wheels = ctx.request.settings.tool_wheels
    interpreter_version = python.interpreter.language
    pins = []
    for spec in rules_of(ctx).pip.tools:
        if spec.majors is not None and python.major not in spec.majors:
            continue
        pins.append(
            ToolPin(
                name=spec.name,
                version=spec.version,
                wheel=find_wheel(wheels, spec.name, spec.version),
                runs=version_matches(interpreter_version, spec.python),
            )
        )
    pip_pin = next((p for p in pins if p.name == "pip"), None)
    if pip_pin is not None and pip_pin.usable:
        usable = tuple(p for p in pins if p.usable)
        return ToolPlan(tuple(pins), usable, bundled=False, pip_version=pip_pin.version)
    bundled = bundled_pip_version(python.interpreter.path)
    return ToolPlan(tuple(pins), (), bundled=True, pip_version=bundled or "unknown")


def version_matches(version: str, spec: str) -> bool:
    """Whether `version` ("3.12.1") satisfies a simple specifier (">=3.10", "<3.5", "" = any)."""
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        match = re.fullmatch(r"(>=|<=|==|!=|>|<)\s*([0-9.]+)", clause)
        if not match:
            raise ValueError(f"unsupported version constraint {clause!r}")
        op, bound = match.groups()
        left, right = _padded(version, bound)
        ok = {
            ">=": left >= right,
            "<=": left <= right,
            "==": left == right,
            "!=": left != right,
            ">": left > right,
            "<": left < right,
        }[op]
        if not ok:
            return False
    return True


def find_wheel(directory: Path, name: str, version: str) -> Path | None:
    """The wheel of `name==version` in `directory`, if present."""
    if not directory.is_dir():
        return None
    for candidate in {name, name.replace("-", "_")}:
        for path in sorted(directory.glob(f"{candidate}-{version}-*.whl")):
            if path.is_file():
                return path
    return None


@cache
def bundled_pip_version(interpreter: Path) -> str | None:
    """The pip version the interpreter's ensurepip installs (None: it has no ensurepip)."""
    try:
        proc = subprocess.run(
            [str(interpreter), "-E", "-s", "-c", "import ensurepip; print(ensurepip.version())"],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def install_tools(ctx: BuildContext, python: ChosenPython, plan: ToolPlan, env_dir: Path) -> None:
    """Install the plan's tools into `env_dir` (unless it already has them), saying so."""
    rules = rules_of(ctx).pip
    messages = rules.messages
    if rules.announce_tools:
        shown = plan.install if not plan.bundled else ()
        names = [f"{p.name} {p.version}" for p in shown] or [f"pip {plan.pip_version}"]
        ctx.out.step(messages.installing_tools.format(tools=" and ".join(names)))
    for note in _tool_notes(ctx, python, plan, messages):
        ctx.out.indent(note)
        ctx.report.warn(note.removeprefix("Note: "))

    if plan.bundled:
        if installed_version(env_dir, "pip") == plan.pip_version:
            return  # a restored cache already has it
        argv = [str(env_dir / "bin" / "python"), "-m", "ensurepip"]
    else:
        if all(installed_version(env_dir, p.name) == p.version for p in plan.install):
            return  # warm redeploy: nothing to do (measured: saves 1.7 s)
        pip_wheel = next(p.wheel for p in plan.install if p.name == "pip")
        argv = [
            str(env_dir / "bin" / "python"),
            f"{pip_wheel}/pip",
            "install",
            "--no-index",
            "--find-links",
            str(ctx.request.settings.tool_wheels),
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--quiet",
            *(f"{p.name}=={p.version}" for p in plan.install),
        ]
    code, output = run_quiet(ctx, argv, env=_isolated_env(ctx, env_dir))
    if code != 0:
        for line in output.splitlines():
            ctx.out.indent(line)
        raise BuildError(
            "PIP_BOOTSTRAP_FAILED",
            messages.bootstrap_failed,
            [
                "Installing pip into the app's Python environment failed (output above).",
                f"cedarbox installs it offline from {ctx.request.settings.tool_wheels}",
                "or from the interpreter's own bundled copy (ensurepip). Check that the",
                "tool wheels are present (`make install` fetches them) and that the host's",
                f"Python {python.interpreter.version} ({python.interpreter.path}) has ensurepip.",
            ],
            legacy_lines=["Unable to install pip; see the output above."],
        )


def _tool_notes(
    ctx: BuildContext, python: ChosenPython, plan: ToolPlan, messages: PipMessages
) -> list[str]:
    """Plain notes about pins that can't be honoured on this host."""
    notes = []
    wheels = ctx.request.settings.tool_wheels
    instead = messages.bundled_instead.format(
        python=python.interpreter.version, version=plan.pip_version
    )
    for pin in plan.pins:
        tool = f"{pin.name} {pin.version}"
        if pin.usable:
            continue
        if pin.name == "pip":
            what = instead
        elif plan.bundled:
            continue  # ensurepip brings its own setuptools (or none): covered by pip's note
        else:
            what = f"{pin.name} is not installed"
        unusable = messages.tool_incompatible if pin.wheel else messages.tool_unavailable
        notes.append(
            unusable.format(
                tool=tool, wheels=wheels, python=python.interpreter.version, instead=what
            )
        )
    return notes


def _isolated_env(ctx: BuildContext, env_dir: Path) -> dict[str, str]:
    """Installing the platform's own tools: no PIP_* settings or pip config files apply."""
    env = {k: v for k, v in ctx.env.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _padded(a: str, b: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    left = tuple(int(p) for p in re.findall(r"\d+", a))
    right = tuple(int(p) for p in re.findall(r"\d+", b))
    width = max(len(left), len(right))
    return left + (0,) * (width - len(left)), right + (0,) * (width - len(right))
