"""Which Python an app asks for (heroku-reference §4), and which host interpreter provides it.

Parsing and resolution are pure functions over file contents and the stack profile's
`python` data; `choose_python` is the one step that reads the build directory, prints, finds
the host interpreter (runtimes.py) and records the decision in the build report.

heroku-24: runtime.txt (deprecated) > .python-version > Pipfile.lock > the major of the last
build (sticky) > the buildpack default. A major resolves to its newest patch.
cedar-14: runtime.txt holds a runtime name from the 2015 catalog; default python-2.7.9; the
runtime of the last build is sticky.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitserver.buildpacks.python import runtimes
from gitserver.buildpacks.python.types import ChosenPython, HostInterpreter
from gitserver.output import printable
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

RUNTIME_TXT = "runtime.txt"
PYTHON_VERSION_FILE = ".python-version"
PIPFILE_LOCK = "Pipfile.lock"
# A version file is one line; anything much bigger was committed under that name by mistake.
MAX_VERSION_FILE_BYTES = 64 * 1024
# How much of a bad version file an error message shows.
SHOWN_CHARS = 100

_INT = r"(?:0|[1-9][0-9]*)"
_VERSION = re.compile(rf"^({_INT})\.({_INT})(?:\.({_INT}))?$")
_RUNTIME_TXT = re.compile(rf"^\s*python-({_INT}\.{_INT}(?:\.{_INT})?)\s*$")
_STICKY = re.compile(rf"^python-({_INT}\.{_INT})\.{_INT}$")
_COMMENT_OR_BLANK = re.compile(r"^\s*(#.*)?$")
_BOMS = (
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF8,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
)


@dataclass(frozen=True)
class VersionRequest:
    """What the app asked for, before resolution."""

    version: str  # heroku-24: "3.12" or "3.12.1"; cedar-14: a runtime name, "python-3.4.2"
    source: str  # "runtime.txt", ".python-version", "Pipfile.lock", "sticky" or "default"
    requested: str | None  # as the app wrote it; None when the app named no version

    @property
    def explicit(self) -> bool:
        return self.source not in ("sticky", "default")


@dataclass(frozen=True)
class Notice:
    """A warning to print: Heroku's one-line summary, then our explanation."""

    summary: str
    body: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResolvedVersion:
    version: str  # the exact version Heroku would install, e.g. "3.12.14"
    warnings: tuple[Notice, ...] = field(default_factory=tuple)

    @property
    def major(self) -> str:
        return runtimes.major_of(self.version)


# Reading files -------------------------------------------------------------------------------


def read_version_file(
    path: Path, *, target: str = PYTHON_VERSION_FILE, example: str = "3.14"
) -> str:
    """The text of a version file in the pushed tree, read safely.

    A symlink is never followed (it could name any file on this host) and no more than
    MAX_VERSION_FILE_BYTES are read: both raise "Unable to read <name>.", as does a file that
    isn't UTF-8 text (decode_version_file). `target` and `example` say how to write a good file.
    """
    name = path.name
    if path.is_symlink():
        link = printable(os.readlink(path), 100)
        raise _unreadable(
            name,
            [
                f"Your {name} file is a symbolic link (to '{link}').",
                "The build never reads it through a link, which could point at any file",
                "outside your app: replace the link with a regular file.",
            ],
            target,
            example,
        )
    with open(path, "rb") as f:
        data = f.read(MAX_VERSION_FILE_BYTES + 1)
    if len(data) > MAX_VERSION_FILE_BYTES:
        size = path.stat().st_size
        raise _unreadable(
            name,
            [
                f"Your {name} file is {size:,} bytes long. A version file holds a single",
                f"line, such as {example}, so this can't be one (the build reads at most",
                f"{MAX_VERSION_FILE_BYTES:,} bytes of it). Was another file saved under this name?",
            ],
            target,
            example,
        )
    return decode_version_file(name, data, target=target, example=example)


def decode_version_file(
    name: str, data: bytes, *, target: str = PYTHON_VERSION_FILE, example: str = "3.14"
) -> str:
    """The text of a version file, or BuildError "Unable to read <name>." (BOM, UTF-16, binary)."""
    if data.startswith(codecs.BOM_UTF8):
        problem = "it starts with a UTF-8 byte order mark (BOM)"
    elif data.startswith(_BOMS):
        problem = "it starts with a UTF-16 byte order mark: it was saved as UTF-16"
    elif b"\x00" in data:
        problem = "it contains NUL bytes: it is binary data, or text saved as UTF-16"
    else:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            problem = "it isn't valid UTF-8 text"
    raise _unreadable(
        name,
        [
            f"The {name} file in your app couldn't be read as plain text: {problem}.",
            "",
            "Some editors and shells (Windows PowerShell's `echo ... > file`, for example)",
            "save files as UTF-16 or add a BOM. Save the file as UTF-8 text without a BOM.",
        ],
        target,
        example,
    )


def _unreadable(name: str, problem: Sequence[str], target: str, example: str) -> BuildError:
    """The "Unable to read" error: what is wrong with the file, then how to write a good one."""
    fix = ["For example, from a POSIX shell:", f"  printf '{example}\\n' > {target}"]
    if target != name:
        fix.insert(0, f"{name} is deprecated: delete it (git rm {name}) and use {target} instead.")
    fix.append("Then commit the change and push again.")
    summary = f"Unable to read {name}."
    body = [*problem, "", *fix]
    legacy = [summary, *(line for line in body if line)]
    return BuildError("PYTHON_VERSION_UNREADABLE", summary, body, legacy_lines=legacy)


def _pin_instructions(major: str, *, delete: str | None = None) -> list[str]:
    if delete:
        lines = [
            f"Delete {delete} and create a file named .python-version in the root",
            "directory of your app (with the leading dot, no '.txt' extension),",
            f"containing only the major version, for example: {major}",
        ]
    else:
        lines = [
            "Create a file named .python-version in the root directory of your app",
            "(with the leading dot, no '.txt' extension), containing only the major",
            f"version, for example: {major}",
        ]
    return [
        *lines,
        "",
        "Naming only the major version lets every build get the newest patch release,",
        "with its security fixes. Then commit the file and push again.",
    ]


def parse_runtime_txt(text: str, default_major: str) -> str:
    """heroku-24: `python-3.12` or `python-3.12.1` (surrounding whitespace allowed) -> "3.12"."""
    m = _RUNTIME_TXT.match(text)
    if m:
        return m.group(1)
    shown = "\n".join(printable(line) for line in text.strip()[:SHOWN_CHARS].splitlines())
    raise BuildError(
        "PYTHON_VERSION_INVALID",
        "Invalid Python version in runtime.txt.",
        [
            "Your runtime.txt file doesn't contain a Python version in the form",
            "python-<major>.<minor> or python-<major>.<minor>.<patch>. It contains:",
            shown,
            "",
            "runtime.txt is deprecated, so rather than fixing it, replace it:",
            *_pin_instructions(default_major, delete=RUNTIME_TXT),
        ],
    )


def parse_python_version_file(text: str, default_major: str) -> str:
    """heroku-24: one line `3.12` or `3.12.1`; comments (#) and blank lines are ignored."""
    lines = [line for line in text.splitlines() if not _COMMENT_OR_BLANK.match(line)]
    if not lines:
        raise BuildError(
            "PYTHON_VERSION_EMPTY",
            "No Python version found in .python-version.",
            [
                "Your .python-version file has no version in it: only blank lines or",
                "comments (lines starting with '#').",
                "",
                f"Put the major Python version on a line of its own, for example: {default_major}",
                "Then commit the file and push again.",
            ],
        )
    if len(lines) > 1:
        raise BuildError(
            "PYTHON_VERSION_MULTIPLE",
            "Multiple Python versions found in .python-version.",
            [
                "Your .python-version file lists more than one version:",
                *[printable(line.strip(), SHOWN_CHARS) for line in lines[:5]],
                "",
                "Heroku installs a single Python. Keep one version line (for example",
                f"{default_major}) and start any comment lines with '#'.",
            ],
        )
    line = lines[0]
    version = line.strip()
    if _VERSION.match(version):
        return version
    raise BuildError(
        "PYTHON_VERSION_INVALID",
        "Invalid Python version in .python-version.",
        [
            "This line of your .python-version file isn't a Python version:",
            printable(line.strip(), SHOWN_CHARS),
            "",
            f"Write the major version only ({default_major}, recommended) or an exact",
            f"release ({default_major}.0): no quotes, no 'python-' prefix, no wildcards.",
            "Put comments on their own lines, starting with '#'.",
        ],
    )


def parse_pipfile_lock(text: str, default_major: str) -> str | None:
    """The version in Pipfile.lock's `_meta.requires` (python_full_version, else python_version)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BuildError(
            "PIPFILE_LOCK_INVALID",
            "Can't parse Pipfile.lock.",
            [
                f"Your Pipfile.lock isn't valid JSON ({exc}).",
                "Run 'pipenv lock' to regenerate it, commit it and push again.",
            ],
        ) from None
    requires = data.get("_meta", {}).get("requires", {}) if isinstance(data, dict) else {}
    if not isinstance(requires, dict):
        return None
    version = requires.get("python_full_version") or requires.get("python_version")
    if version is None:
        return None
    if isinstance(version, str) and _VERSION.match(version):
        return version
    raise BuildError(
        "PYTHON_VERSION_INVALID",
        "Invalid Python version in Pipfile.lock.",
        [
            "The python_full_version / python_version field of your Pipfile.lock isn't a",
            f"Python version: {str(version)[:100]}",
            "",
            f"Set python_version in your Pipfile to a major version such as {default_major},",
            "run 'pipenv lock' to regenerate Pipfile.lock, commit both and push again.",
        ],
    )


def misspelled_file(
    names: Collection[str], python_profile: Mapping[str, Any]
) -> tuple[str, str] | None:
    """(found, correct) when a known misspelling of a version file is among `names`."""
    for correct, wrong_names in python_profile.get("misspelled_files", {}).items():
        for wrong in wrong_names:
            if wrong in names:
                return wrong, correct
    return None


def misspelled_error(found: str, correct: str, default_major: str) -> BuildError:
    if correct == RUNTIME_TXT:
        fix = [
            "runtime.txt is deprecated, so rather than renaming the file, replace it:",
            *_pin_instructions(default_major, delete=found),
        ]
    else:
        fix = [
            f"Rename it (git mv {found} {correct}), commit and push again. The file should",
            f"contain only the major Python version, for example: {default_major}",
        ]
    return BuildError(
        "PYTHON_VERSION_FILE_MISSPELLED",
        f"Your {correct} file is spelled incorrectly.",
        [
            f"Your app has a file named '{found}', but the buildpack only reads a file",
            f"named exactly '{correct}' in the root directory of the app, so the file",
            "would be ignored and your app would get the default Python version.",
            "",
            *fix,
        ],
    )


def sticky_major(runtime_name: str | None) -> str | None:
    """heroku-24: the major of the last build's runtime ("python-3.12.14" -> "3.12"), if CPython."""
    if not runtime_name:
        return None
    m = _STICKY.match(runtime_name.strip())
    return m.group(1) if m else None


def request_python_version(
    root: Path, sticky_runtime: str | None, python_profile: Mapping[str, Any]
) -> VersionRequest:
    """heroku-24: read the app's version files in order of precedence (parse errors raise)."""
    default_major = python_profile["default_major"]
    runtime_txt = root / RUNTIME_TXT
    if runtime_txt.is_symlink() or runtime_txt.is_file():
        text = read_version_file(runtime_txt, example=default_major)
        version = parse_runtime_txt(text, default_major)
        return VersionRequest(version, RUNTIME_TXT, version)
    version_file = root / PYTHON_VERSION_FILE
    if version_file.is_symlink() or version_file.is_file():
        text = read_version_file(version_file, example=default_major)
        version = parse_python_version_file(text, default_major)
        return VersionRequest(version, PYTHON_VERSION_FILE, version)
    try:
        names = {p.name for p in root.iterdir() if p.is_file()}
    except OSError:
        names = set()
    wrong = misspelled_file(names, python_profile)
    if wrong is not None:
        raise misspelled_error(*wrong, default_major)
    pipfile_lock = root / PIPFILE_LOCK
    if pipfile_lock.is_file():
        text = pipfile_lock.read_text(encoding="utf-8", errors="replace")
        found = parse_pipfile_lock(text, default_major)
        if found is not None:
            return VersionRequest(found, PIPFILE_LOCK, found)
    major = sticky_major(sticky_runtime)
    if major is not None:
        return VersionRequest(major, "sticky", None)
    return VersionRequest(default_major, "default", None)


def version_line(request: VersionRequest) -> str:
    """heroku-24's step line saying which Python the build uses and why."""
    if request.source == "default":
        return (
            "No Python version was specified. Using the buildpack default: "
            f"Python {request.version}"
        )
    if request.source == "sticky":
        return (
            "No Python version was specified. Using the same major version as the last "
            f"build: Python {request.version}"
        )
    return f"Using Python {request.requested} specified in {request.source}"


def resolve_python_version(
    request: VersionRequest, python_profile: Mapping[str, Any]
) -> ResolvedVersion:
    """heroku-24: the exact version Heroku would install, and the warnings it would print."""
    m = _VERSION.match(request.version)
    if not m:
        raise ValueError(f"not a version request: {request.version!r}")
    latest: dict[str, str] = python_profile["latest_patches"]
    majors = sorted(latest, key=runtimes.version_key)
    oldest, newest = majors[0], majors[-1]
    default_major = python_profile["default_major"]
    major = f"{m.group(1)}.{m.group(2)}"
    key = runtimes.version_key(major)
    origin = request.source
    url = python_profile.get("support_url", "")
    if key < runtimes.version_key(oldest):
        if origin == "sticky":
            raise BuildError(
                "PYTHON_VERSION_EOL",
                "The cached Python version has reached end-of-life.",
                [
                    "Your app doesn't specify a Python version, so the build would reuse the",
                    f"major version of the last build, Python {major}. Python {major} has reached",
                    "its upstream end-of-life (no more security fixes), and this stack no",
                    f"longer supports it: {url}",
                    "",
                    f"Choose a supported version, at least Python {oldest}.",
                    *_pin_instructions(default_major),
                ],
            )
        raise BuildError(
            "PYTHON_VERSION_EOL",
            "The requested Python version has reached end-of-life.",
            [
                f"Python {major} has reached its upstream end-of-life: it no longer receives",
                f"security fixes, and this stack no longer supports it: {url}",
                "",
                f"Upgrade to at least Python {oldest} by changing the version in your {origin}",
                f"file; Python {default_major} is the best choice if your app allows it.",
            ],
        )
    if major not in latest:
        if origin == "sticky":
            raise BuildError(
                "PYTHON_VERSION_UNKNOWN",
                "The cached Python version isn't recognised.",
                [
                    "Your app doesn't specify a Python version, so the build would reuse the",
                    f"major version of the last build, Python {major}, which this version of",
                    f"the buildpack doesn't know (the newest it supports is Python {newest}).",
                    "",
                    "Request a supported version explicitly:",
                    *_pin_instructions(newest),
                ],
            )
        raise BuildError(
            "PYTHON_VERSION_UNKNOWN",
            "The requested Python version isn't recognised.",
            [
                f"Python {major} isn't a version this buildpack knows: supported versions are",
                f"Python {oldest} to {newest} ({url}).",
                "",
                "Check that the version has been released upstream. Otherwise change the",
                f"version in your {origin} file to a supported one, such as {newest}.",
            ],
        )
    newest_patch = latest[major]
    version = request.version if m.group(3) is not None else newest_patch
    if runtimes.version_key(version) > runtimes.version_key(newest_patch):
        raise BuildError(
            "PYTHON_VERSION_UNAVAILABLE",
            "The requested Python version isn't available.",
            [
                f"Your {origin} file asks for Python {version}, but the newest Python {major}",
                f"release this stack can install is {newest_patch}.",
                "",
                f"Check the version for typos. Requesting just {major} always gets the newest",
                f"available Python {major} release, currently {newest_patch}.",
            ],
        )
    warnings: list[Notice] = []
    if origin == RUNTIME_TXT:
        warnings.append(
            Notice(
                "The runtime.txt file is deprecated.",
                (
                    "The runtime.txt file has been replaced by the .python-version file, which",
                    "other Python tools (pyenv, uv and others) also understand.",
                    "",
                    *_pin_instructions(major, delete=RUNTIME_TXT),
                    "",
                    "A future version of the buildpack will stop reading runtime.txt.",
                ),
            )
        )
    elif origin in ("default", "sticky"):
        why = (
            "so the buildpack used its default version"
            if origin == "default"
            else "so the build reused the major version of the last build"
        )
        warnings.append(
            Notice(
                "No Python version was specified.",
                (
                    f"Your app doesn't say which Python it needs, {why}",
                    f"(Python {major}). That choice can change over time and may not match your",
                    "local development environment or CI.",
                    "",
                    *_pin_instructions(major),
                    "",
                    "If your app already has a .python-version file, check that it is in the",
                    "root directory, named exactly '.python-version' (lowercase), not listed in",
                    ".gitignore or .slugignore, and committed to git.",
                ),
            )
        )
    deprecation = python_profile.get("deprecated_majors", {}).get(major)
    if deprecation is not None:
        warnings.append(
            Notice(
                f"Support for Python {major} is deprecated!",
                (
                    f"Python {major} reaches its upstream end-of-life in {deprecation['eol']},",
                    "after which it receives no security fixes, and this buildpack will stop",
                    f"supporting it on {deprecation['removal']}.",
                    "",
                    "Upgrade to a newer Python version soon, by changing the version in your",
                    f"{origin} file. For more information, see: {url}",
                ),
            )
        )
    if m.group(3) is not None and runtimes.version_key(version) < runtimes.version_key(
        newest_patch
    ):
        warnings.append(
            Notice(
                "A Python patch update is available!",
                (
                    f"Your app uses Python {version}, but a newer Python {major} release is",
                    f"available: {newest_patch}. Patch releases fix bugs and security problems,",
                    "so it's important to stay on the newest one.",
                    "",
                    f"Request only the major version, {major}, in your {origin} file instead of an",
                    "exact release: every build then gets the newest patch automatically, and",
                    "this warning goes away.",
                ),
            )
        )
    return ResolvedVersion(version, tuple(warnings))


# cedar-14 (2015) ------------------------------------------------------------------------


def catalog(python_profile: Mapping[str, Any]) -> list[str]:
    """Every runtime name the 2015 stack could install: supported, endorsed and unsupported."""
    groups = python_profile.get("catalog", {})
    return [
        name for group in ("supported", "endorsed", "unsupported") for name in groups.get(group, ())
    ]


def request_runtime(
    root: Path, sticky_runtime: str | None, python_profile: Mapping[str, Any]
) -> VersionRequest:
    """cedar-14: runtime.txt's content is the runtime name; else the last build's; else default.

    A sticky runtime the catalog doesn't have (from another stack) is ignored, as the 2015
    buildpack only ever cached names it had installed.
    """
    runtime_txt = root / RUNTIME_TXT
    if runtime_txt.is_symlink() or runtime_txt.is_file():
        default = python_profile["default_runtime"]
        name = read_version_file(runtime_txt, target=RUNTIME_TXT, example=default).strip()
        return VersionRequest(name, RUNTIME_TXT, name)
    if sticky_runtime and sticky_runtime.strip() in catalog(python_profile):
        return VersionRequest(sticky_runtime.strip(), "sticky", None)
    return VersionRequest(python_profile["default_runtime"], "default", None)


def split_runtime(name: str) -> tuple[str, str]:
    """ "python-3.4.2" -> ("cpython", "3.4.2"); "pypy-1.9" -> ("pypy", "1.9")."""
    prefix, _, version = name.partition("-")
    return ("pypy" if prefix == "pypy" else "cpython"), version


def runtime_not_available(name: str, stack: str, url: str) -> BuildError:
    lines = [
        f"Requested runtime ({printable(name, SHOWN_CHARS)}) is not available for this stack "
        f"({stack}).",
        f"Aborting.  More info: {url}",
    ]
    return BuildError("RUNTIME_NOT_AVAILABLE", lines[0], [lines[1]], legacy_lines=lines)


# The step -----------------------------------------------------------------------------------


def choose_python(ctx: BuildContext) -> ChosenPython:
    """Decide the build's Python, print what Heroku prints, and find the host interpreter."""
    if ctx.profile.python.get("scheme") == "runtime-catalog":
        return _choose_runtime(ctx)
    return _choose_version(ctx)


def _choose_version(ctx: BuildContext) -> ChosenPython:
    pp = ctx.profile.python
    record = ctx.report.python
    request = request_python_version(ctx.build_dir, ctx.request.sticky_runtime, pp)
    record.requested, record.source = request.requested, request.source
    ctx.out.step(version_line(request))
    resolved = resolve_python_version(request, pp)
    record.resolved = resolved.version
    record.runtime_name = f"python-{resolved.version}"
    interpreters = runtimes.list_runtimes(ctx.request.settings)
    interp = runtimes.find_interpreter(interpreters, resolved.version)
    fallback = None
    if interp is None and not request.explicit:
        fallback = runtimes.newest_of_majors(interpreters, pp["latest_patches"])
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
    note = runtimes.host_note(chosen)
    if note:
        ctx.out.indent(note)
    for notice in resolved.warnings:
        _warn(ctx, notice)
    if fallback is not None:
        _warn(ctx, _fallback_notice(request, resolved.version, fallback))
    return chosen


def _choose_runtime(ctx: BuildContext) -> ChosenPython:
    pp = ctx.profile.python
    record = ctx.report.python
    request = request_runtime(ctx.build_dir, ctx.request.sticky_runtime, pp)
    record.requested, record.source = request.requested, request.source
    name = request.version
    if name not in catalog(pp):
        # 2015: the download failed after the runtime step had been announced.
        previous = ctx.cache.previous.get("runtime_name") if ctx.cache is not None else None
        if previous and previous != name:
            ctx.out.step(f"Found runtime {previous}, removing")
        ctx.out.step(f"Installing runtime ({printable(name, SHOWN_CHARS)})")
        raise runtime_not_available(name, ctx.request.stack, pp["more_info_url"])
    implementation, version = split_runtime(name)
    record.resolved = version
    record.runtime_name = name
    interpreters = runtimes.list_runtimes(ctx.request.settings)
    interp = runtimes.find_interpreter(interpreters, version, implementation)
    if interp is None and implementation == "pypy":
        interp = runtimes.newest_pypy(interpreters, pp.get("pypy_language", {}).get(name, ""))
    if interp is None and pp.get("nearest_major_allowed") and ctx.request.settings.nearest_major:
        interp = runtimes.nearest_major(interpreters, version, implementation)
    fallback = None
    if interp is None and not request.explicit:
        majors = {runtimes.major_of(split_runtime(n)[1]) for n in pp["catalog"]["supported"]}
        fallback = runtimes.newest_of_majors(interpreters, majors)
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
    wanted = runtimes.major_of(version)
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
        f"  pyenv install {runtimes.major_of(version)}      (or: uv python install "
        f"{runtimes.major_of(version)})",
        f"  cedarbox runtimes:add {version} /path/to/python{runtimes.major_of(version)}",
    ]


def _missing_on_host(
    ctx: BuildContext,
    request: VersionRequest,
    version: str,
    interpreters: Sequence[HostInterpreter],
    implementation: str = "cpython",
) -> BuildError:
    has = runtimes.describe(interpreters)
    if implementation == "pypy":
        what = f"PyPy {version}"
        provide = [
            "  install PyPy (e.g. pyenv install pypy2.7-7.3.17), or register one with:",
            "  cedarbox runtimes:add pypy-<version> /path/to/pypy",
        ]
    else:
        what = f"Python {runtimes.major_of(version)}"
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
    if ctx.profile.python.get("nearest_major_allowed") and implementation == "cpython":
        nearest = runtimes.nearest_major(interpreters, version)
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
