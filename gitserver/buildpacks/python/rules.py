"""The Python buildpack's part of a stack profile, as frozen typed rules checked at load.

A stack's JSON file (gitserver/pipeline/profiles/) holds, beside the stack's own keys, the
sections this buildpack reads: `detect_files`, `detect_dirs`, `python`, `pip`,
`package_managers` and `django`.
They are parsed into the dataclasses below by their type hints: a missing key, a key of the
wrong type or a key no dataclass declares raises ProfileError naming the file and the key,
when the rules load, never mid-build. Every default is a dataclass field default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.profiles import STACK_KEYS, ProfileData, ProfileError, read_profile

# --- python -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deprecation:
    """When a deprecated major reaches end-of-life, and when the buildpack drops it."""

    eol: str
    removal: str


@dataclass(frozen=True)
class PythonRulesBase:
    """What both ways of naming a Python share."""

    nearest_major_allowed: bool  # may the settings ask for the host's nearest major?
    runtime_env: Mapping[str, str]  # exported by .profile.d/python.sh
    runtime_env_defaults: Mapping[str, str]  # exported there unless the dyno already sets them


@dataclass(frozen=True)
class VersionFileRules(PythonRulesBase):
    """heroku-24: versions from .python-version / runtime.txt / Pipfile.lock, newest patches."""

    scheme: Literal["version-files"]
    default_major: str
    latest_patches: Mapping[str, str]  # major -> the newest patch Heroku installs
    support_url: str
    deprecated_majors: Mapping[str, Deprecation]
    misspelled_files: Mapping[str, tuple[str, ...]]  # correct name -> known misspellings


@dataclass(frozen=True)
class RuntimeCatalog:
    """cedar-14's runtime names, by how the 2015 buildpack treated them."""

    supported: tuple[str, ...]
    endorsed: tuple[str, ...]
    unsupported: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Every runtime name the 2015 stack could install."""
        return (*self.supported, *self.endorsed, *self.unsupported)


@dataclass(frozen=True)
class RuntimeCatalogRules(PythonRulesBase):
    """cedar-14: runtime.txt names a runtime from the 2015 catalog."""

    scheme: Literal["runtime-catalog"]
    default_runtime: str
    catalog: RuntimeCatalog
    more_info_url: str
    pypy_language: Mapping[str, str]  # PyPy runtime name -> the Python line it implements


PythonRules = VersionFileRules | RuntimeCatalogRules
_PYTHON_SCHEMES: dict[str, type[VersionFileRules] | type[RuntimeCatalogRules]] = {
    "version-files": VersionFileRules,
    "runtime-catalog": RuntimeCatalogRules,
}

# --- pip --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    """A pinned tool (pip or setuptools), the Pythons it runs on and the majors it is for."""

    name: str
    version: str
    python: str = ""  # a simple specifier such as ">=3.10"; "" = any
    majors: tuple[str, ...] | None = None  # None: every major


@dataclass(frozen=True)
class PipMessages:
    installing_tools: str
    installing_dependencies: str
    tool_unavailable: str
    tool_incompatible: str
    bundled_instead: str
    arg_dropped: str
    listed_warning: tuple[str, ...]
    stale_step: str
    bootstrap_failed: str
    install_failed: str
    install_failed_body: tuple[str, ...]
    install_failed_legacy: tuple[str, ...] | None


@dataclass(frozen=True)
class PipRules:
    package_manager_files: tuple[str, ...]
    setup_py: Literal["sunset", "generate"]  # a setup.py-only app: refused, or `-e .`
    tools: tuple[ToolSpec, ...]
    announce_tools: bool
    install_args: tuple[str, ...]
    args_need_pip_below: Mapping[str, str]  # install arg -> the pip version that removed it
    config_vars: tuple[str, ...]  # the app's config vars pip may read
    indent_stderr: bool
    hide_lines: tuple[str, ...]
    hide_ignore_case: bool
    # Regular expressions removed from each line pip prints (heroku-24: the site-packages path).
    strip_patterns: tuple[str, ...]
    collapse_ellipsis: bool
    blank_line_after: bool
    warn_listed: tuple[str, ...]
    uninstall_stale: bool
    keep_declared: bool
    messages: PipMessages


# --- package managers -------------------------------------------------------------------------


@dataclass(frozen=True)
class ManagerRules:
    """One package manager besides pip (uv, Poetry, Pipenv): its pinned tool and its command.

    `version` is pinned as the buildpack pins it (its requirements/<tool>.txt); the tool's wheel
    is fetched into the tool wheels directory by the Makefile. The argument lists are the
    buildpack's: `command` (shown in the step line), `outside_ci_args` (added, and shown, unless
    the build is a CI run) and `extra_args` (run but not shown).
    """

    version: str
    command: tuple[str, ...] = ()
    outside_ci_args: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()


# --- django -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DjangoMessages:
    step: str
    disabled_env: str
    disabled_file: str
    no_manage_py: str
    failed: str
    # cedar-14 only: the 2015 buildpack's own lines.
    running: str = ""
    config_error: tuple[str, ...] = ()
    run_error: tuple[str, ...] = ()


@dataclass(frozen=True)
class DjangoRules:
    collectstatic_failure_fails_build: bool
    manage_py_max_depth: int
    require_django: bool
    dry_run_first: bool
    pythonpath_default: str | None
    hide_patterns: tuple[str, ...]  # regular expressions
    extra_args: tuple[str, ...]
    addon: str
    addon_needs_root_manage_py: bool
    addon_needs_modules: tuple[str, ...]
    messages: DjangoMessages


# --- the whole ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildpackRules:
    """Everything the Python buildpack reads from one stack's profile."""

    detect_files: tuple[str, ...]
    detect_dirs: tuple[str, ...]
    python: PythonRules
    pip: PipRules
    package_managers: Mapping[str, ManagerRules]  # by name ("uv", "poetry", "pipenv")
    django: DjangoRules


def rules_of(ctx: BuildContext) -> BuildpackRules:
    """The rules of the stack `ctx` builds on."""
    return load_rules(ctx.profile.name)


@cache
def load_rules(stack: str) -> BuildpackRules:
    """`stack`'s rules, parsed once per process from its profile file."""
    return parse_rules(read_profile(stack))


def parse_rules(profile: ProfileData) -> BuildpackRules:
    """The buildpack's sections of a profile file; ProfileError names the file and the key."""
    data = {k: v for k, v in profile.data.items() if k not in STACK_KEYS}
    python = data.get("python")
    scheme = python.get("scheme") if isinstance(python, dict) else None
    python_rules = _PYTHON_SCHEMES.get(scheme) if isinstance(scheme, str) else None
    if python_rules is None:
        schemes = list(_PYTHON_SCHEMES)
        raise ProfileError(profile.source, "python.scheme", f"must be one of {schemes}")
    hints = {**typing.get_type_hints(BuildpackRules), "python": python_rules}
    return _build(BuildpackRules, hints, data, _Where(profile.source, ""))


@dataclass(frozen=True)
class _Where:
    """Where in which file a value is, for ProfileError."""

    source: str
    key: str

    def at(self, key: str | int) -> _Where:
        if isinstance(key, int):
            return _Where(self.source, f"{self.key}[{key}]")
        return _Where(self.source, f"{self.key}.{key}" if self.key else key)

    def error(self, problem: str) -> ProfileError:
        return ProfileError(self.source, self.key or "(file)", problem)


def _build(cls: type[Any], hints: Mapping[str, Any], value: object, where: _Where) -> Any:
    """An instance of dataclass `cls` from a JSON object: every key declared, none missing."""
    if not isinstance(value, dict):
        raise where.error("must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in value:
        if key not in fields:
            raise where.at(key).error("unknown key")
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _parse(hints[name], value[name], where.at(name))
        elif f.default is dataclasses.MISSING:
            raise where.at(name).error("missing")
    return cls(**kwargs)


def _parse(hint: Any, value: object, where: _Where) -> Any:
    """`value` checked against type `hint` (the few shapes the rules use), made immutable."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, typing.get_type_hints(hint), value, where)  # type: ignore[arg-type]
    if origin in (types.UnionType, typing.Union):  # `X | None`
        if value is None and type(None) in args:
            return None
        (inner,) = (a for a in args if a is not type(None))
        return _parse(inner, value, where)
    if origin is Literal:
        if value not in args:
            raise where.error(f"must be one of {list(args)}")
        return value
    if origin is tuple:  # tuple[X, ...]
        if not isinstance(value, list):
            raise where.error("must be a JSON array")
        return tuple(_parse(args[0], item, where.at(i)) for i, item in enumerate(value))
    if origin is Mapping:  # Mapping[str, X]
        if not isinstance(value, dict):
            raise where.error("must be a JSON object")
        parsed = {k: _parse(args[1], v, where.at(k)) for k, v in value.items()}
        return types.MappingProxyType(parsed)
    if hint in (str, int, bool):
        # JSON true is a Python int too: a count must be a number, a flag must be true/false.
        if type(value) is not hint:
            raise where.error(f"must be {_JSON_NAMES[hint]}")
        return value
    raise TypeError(f"rules.py cannot parse {hint!r}")  # a dataclass above uses a new shape


_JSON_NAMES = {str: "a string", int: "a whole number", bool: "true or false"}
