"""pip, setuptools and the app's requirements in `.heroku/python` (heroku-reference §6).

Pins, flags, output filters and message texts come from the stack profile's `"pip"` object;
this module only runs the steps. The pinned pip and setuptools are installed offline from
the tool wheels directory (`Settings.tool_wheels`): pip installs itself by running from its own
wheel. When a pin can't be used (wheel missing, or pip 7.0.1 on a Python it can't run on),
the interpreter's bundled pip (ensurepip) is used instead and the build says so.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gitserver.buildpacks.python.types import ChosenPython, PackageManager
from gitserver.pipeline.commands import run_quiet, run_streamed
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

ENV_SUBDIR = Path(".heroku") / "python"
DECLARED = "requirements-declared.txt"
# Not listed by `pip freeze`, and never "stale": the platform owns them.
_PLATFORM_PACKAGES = frozenset({"pip", "setuptools", "wheel", "distribute"})


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


# --- public API ---------------------------------------------------------------------------


def planned_pip_version(ctx: BuildContext, python: ChosenPython) -> str:
    """The pip version this build installs (part of the cache's metadata): cheap, no install."""
    return plan_tools(ctx, python).pip_version


def plan_tools(ctx: BuildContext, python: ChosenPython) -> ToolPlan:
    """Which pins apply to `python`, which are usable, and the resulting pip version."""
    wheels = ctx.request.settings.tool_wheels
    interpreter_version = python.interpreter.language
    pins = []
    for spec in ctx.profile.pip.get("tools", []):
        majors = spec.get("majors")
        if majors is not None and python.major not in majors:
            continue
        pins.append(
            ToolPin(
                name=spec["name"],
                version=spec["version"],
                wheel=find_wheel(wheels, spec["name"], spec["version"]),
                runs=version_matches(interpreter_version, spec.get("python", "")),
            )
        )
    pip_pin = next((p for p in pins if p.name == "pip"), None)
    if pip_pin is not None and pip_pin.usable:
        usable = tuple(p for p in pins if p.usable)
        return ToolPlan(tuple(pins), usable, bundled=False, pip_version=pip_pin.version)
    bundled = bundled_pip_version(python.interpreter.path)
    return ToolPlan(tuple(pins), (), bundled=True, pip_version=bundled or "unknown")


def install_dependencies(ctx: BuildContext, python: ChosenPython, manager: PackageManager) -> None:
    """Install pip (and setuptools), then the app's requirements, into `.heroku/python`."""
    rules = ctx.profile.pip
    messages: Mapping[str, Any] = rules.get("messages", {})
    env_dir = ctx.build_dir / ENV_SUBDIR
    python_bin = env_dir / "bin" / "python"

    plan = plan_tools(ctx, python)
    _install_tools(ctx, python, plan, env_dir)
    pip_version = installed_version(env_dir, "pip") or plan.pip_version

    requirements = manager.requirements.read_bytes().decode("utf-8", "replace")
    if rules.get("warn_listed"):
        _warn_listed(ctx, requirements, rules["warn_listed"], messages.get("listed_warning", []))
    if rules.get("uninstall_stale"):
        _uninstall_stale(ctx, env_dir, requirements, messages.get("stale_step", ""))

    ctx.out.step(messages["installing_dependencies"])
    argv = [str(python_bin), "-m", "pip", *_install_args(ctx, rules, pip_version, messages)]
    emit = _LineFilter(
        rules.get("hide_lines", []),
        ignore_case=bool(rules.get("hide_ignore_case")),
        collapse_ellipsis=bool(rules.get("collapse_ellipsis")),
    )
    code = run_streamed(
        ctx,
        argv,
        env=pip_environment(ctx, env_dir),
        merge_stderr=bool(rules.get("indent_stderr", True)),
        on_line=emit.wrap(ctx.out.indent),
        on_stderr=ctx.out.line,  # 2015: `pip … | cleanup | indent` filtered stdout only
    )
    if code != 0:
        raise BuildError(
            "PIP_INSTALL_FAILED",
            messages["install_failed"],
            messages.get("install_failed_body", []),
            legacy_lines=messages.get("install_failed_legacy"),
        )
    if rules.get("blank_line_after"):
        ctx.out.line()
    if rules.get("keep_declared"):
        _keep_declared(manager.requirements.read_bytes(), env_dir / DECLARED)
    _make_relocatable(env_dir)
    site = site_packages(env_dir)
    ctx.report.packages = installed_packages(site) if site else []


# --- helpers other steps use ------------------------------------------------------------------


def site_packages(env_dir: Path) -> Path | None:
    """The environment's site-packages (CPython venv/virtualenv layout, or PyPy's)."""
    candidates = [*sorted(env_dir.glob("lib/*/site-packages")), env_dir / "site-packages"]
    return next((c for c in candidates if c.is_dir()), None)


def module_available(env_dir: Path, module: str) -> bool:
    """Whether `import module` would find a top-level module in the environment (no subprocess)."""
    site = site_packages(env_dir)
    if site is None:
        return False
    if (site / module).is_dir():
        return True
    return any(site.glob(f"{module}.py")) or any(site.glob(f"{module}.*.so"))


def installed_version(env_dir: Path, name: str) -> str | None:
    """The installed version of distribution `name`, from its dist-info/egg-info directory."""
    site = site_packages(env_dir)
    if site is None:
        return None
    wanted = normalize(name)
    for meta_name, version in _distributions(site):
        if normalize(meta_name) == wanted:
            return version
    return None


def installed_packages(site: Path) -> list[str]:
    """`pip freeze`-like "name==version" lines, read from metadata files (no pip subprocess)."""
    seen: dict[str, str] = {}
    for name, version in _distributions(site):
        key = normalize(name)
        if key not in _PLATFORM_PACKAGES:
            seen.setdefault(key, f"{name}=={version}")
    return [seen[k] for k in sorted(seen)]


def requirement_names(text: str) -> list[str]:
    """The project names a requirements file lists (normalised; options and URLs handled)."""
    names = []
    for line in _logical_lines(text):
        egg = re.search(r"#egg=([A-Za-z0-9._-]+)", line)
        if line.startswith(("-e ", "--editable ", "-e\t", "--editable=")) or "://" in line:
            if egg:
                names.append(normalize(egg.group(1)))
            continue
        if line.startswith("-"):
            continue  # -r, -c, --index-url, … : not a requirement
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if match:
            names.append(normalize(match.group(1)))
    return names


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


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


def pip_environment(ctx: BuildContext, env_dir: Path) -> dict[str, str]:
    """The build env, the environment's bin first on PATH, plus the allowed pip config vars."""
    env = dict(ctx.env)
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    for name in ctx.profile.pip.get("config_vars", []):
        value = ctx.config_var(name)
        if not value:
            continue
        server = env.get(name)
        # pip reads several index URLs from one whitespace-separated variable: keep both.
        env[name] = f"{value} {server}" if server and name.endswith("_URL") else value
    return env


# --- steps ------------------------------------------------------------------------------------


def _install_tools(ctx: BuildContext, python: ChosenPython, plan: ToolPlan, env_dir: Path) -> None:
    rules = ctx.profile.pip
    messages: Mapping[str, Any] = rules.get("messages", {})
    if rules.get("announce_tools"):
        shown = plan.install if not plan.bundled else ()
        names = [f"{p.name} {p.version}" for p in shown] or [f"pip {plan.pip_version}"]
        ctx.out.step(messages["installing_tools"].format(tools=" and ".join(names)))
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
            messages.get("bootstrap_failed", "Unable to install pip."),
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
    ctx: BuildContext, python: ChosenPython, plan: ToolPlan, messages: Mapping[str, Any]
) -> list[str]:
    """Plain notes about pins that can't be honoured on this host."""
    notes = []
    wheels = ctx.request.settings.tool_wheels
    instead = messages["bundled_instead"].format(
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
        key = "tool_incompatible" if pin.wheel is not None else "tool_unavailable"
        notes.append(
            messages[key].format(
                tool=tool, wheels=wheels, python=python.interpreter.version, instead=what
            )
        )
    return notes


def _install_args(
    ctx: BuildContext, rules: Mapping[str, Any], pip_version: str, messages: Mapping[str, Any]
) -> list[str]:
    """The profile's `pip install` arguments, less those the pip in use no longer has."""
    args = list(rules["install_args"])
    for arg, below in rules.get("args_need_pip_below", {}).items():
        if arg in args and not version_matches(pip_version, f"<{below}"):
            args.remove(arg)
            ctx.out.indent(messages["arg_dropped"].format(pip=pip_version, arg=arg, below=below))
    return args


def _warn_listed(
    ctx: BuildContext, requirements: str, listed: Iterable[str], lines: Iterable[str]
) -> None:
    if set(requirement_names(requirements)) & {normalize(n) for n in listed}:
        lines = list(lines)
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
        if n not in current and n not in _PLATFORM_PACKAGES
    ]
    if not stale:
        return
    ctx.out.step(step)
    rules = ctx.profile.pip
    emit = _LineFilter(
        rules.get("hide_lines", []),
        ignore_case=bool(rules.get("hide_ignore_case")),
        collapse_ellipsis=bool(rules.get("collapse_ellipsis")),
    )
    argv = [
        str(env_dir / "bin" / "python"),
        "-m",
        "pip",
        "uninstall",
        "-y",
        "--disable-pip-version-check",
        *stale,
    ]
    # As in 2015, a failed uninstall doesn't fail the build: the install step comes next.
    run_streamed(
        ctx,
        argv,
        env=pip_environment(ctx, env_dir),
        merge_stderr=bool(rules.get("indent_stderr", True)),
        on_line=emit.wrap(ctx.out.indent),
        on_stderr=ctx.out.line,  # 2015: `pip … | cleanup | indent` filtered stdout only
    )


def _keep_declared(requirements: bytes, declared: Path) -> None:
    """2015: keep a copy of requirements.txt for the next build's stale-package check.

    An unchanged copy is left alone: its mtime is part of what lets the next slug reuse the
    cached `.heroku` member (gitserver.pipeline.slug).
    """
    with contextlib.suppress(OSError):
        if declared.read_bytes() == requirements:
            return
    declared.write_bytes(requirements)


def _make_relocatable(env_dir: Path) -> None:
    # Imported here: runtime.py is written alongside this module and imports packages' helpers.
    try:
        from gitserver.buildpacks.python import runtime
    except ModuleNotFoundError as exc:
        if exc.name != "gitserver.buildpacks.python.runtime":
            raise
        return
    runtime.make_relocatable(env_dir)


def _isolated_env(ctx: BuildContext, env_dir: Path) -> dict[str, str]:
    """Installing the platform's own tools: no PIP_* settings or pip config files apply."""
    env = {k: v for k, v in ctx.env.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


# --- small pieces -----------------------------------------------------------------------------


class _LineFilter:
    """The buildpacks' `sed` filters over pip's output: hide some lines, tidy the rest."""

    def __init__(
        self, hide: Iterable[str], *, ignore_case: bool = False, collapse_ellipsis: bool = False
    ) -> None:
        flags = re.IGNORECASE if ignore_case else 0
        self._hide = [re.compile(re.escape(text), flags) for text in hide]
        self._collapse = collapse_ellipsis

    def keep(self, line: str) -> bool:
        return not any(p.search(line) for p in self._hide)

    def tidy(self, line: str) -> str:
        return re.sub(r"\.\.\.+", "...", line) if self._collapse else line

    def wrap(self, sink: Callable[[str], None]) -> Callable[[str], None]:
        def emit(line: str) -> None:
            if self.keep(line):
                sink(self.tidy(line))

        return emit


def _logical_lines(text: str) -> list[str]:
    """Requirement-file lines: continuations joined, comments and blanks dropped."""
    joined = re.sub(r"\\\r?\n", "", text)
    lines = []
    for raw in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            lines.append(line)
    return lines


def _distributions(site: Path) -> list[tuple[str, str]]:
    """(name, version) of every distribution in site-packages, from its metadata headers."""
    found = []
    try:
        entries = sorted(os.scandir(site), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        meta: Path | None = None
        path = Path(entry.path)
        if entry.name.endswith(".dist-info"):
            meta = path / "METADATA"
        elif entry.name.endswith(".egg-info"):
            meta = path / "PKG-INFO" if entry.is_dir() else path
        elif entry.name.endswith(".egg-link"):
            meta = _egg_link_metadata(path)
        headers = _headers(meta) if meta is not None else None
        if headers:
            found.append(headers)
    return found


def _egg_link_metadata(link: Path) -> Path | None:
    """An old-style editable install (`pip install -e`): the egg-info in the source tree."""
    try:
        source = Path(link.read_text().splitlines()[0].strip())
    except (OSError, IndexError):
        return None
    return next(iter(sorted(source.glob("*.egg-info/PKG-INFO"))), None)


def _headers(meta: Path) -> tuple[str, str] | None:
    name = version = None
    try:
        with open(meta, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                if key == "Name":
                    name = value.strip()
                elif key == "Version":
                    version = value.strip()
                if name and version:
                    break
    except OSError:
        return None
    return (name, version) if name and version else None


def _padded(a: str, b: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    left = tuple(int(p) for p in re.findall(r"\d+", a))
    right = tuple(int(p) for p in re.findall(r"\d+", b))
    width = max(len(left), len(right))
    return left + (0,) * (width - len(left)), right + (0,) * (width - len(right))
