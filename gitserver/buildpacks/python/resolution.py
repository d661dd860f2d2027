"""What an app asks for (heroku-reference §4) and the exact Python Heroku would install for it.

heroku-24: runtime.txt (deprecated) > .python-version > Pipfile.lock > the major of the last
build (sticky) > the buildpack default. A major resolves to its newest patch.
cedar-14: runtime.txt holds a runtime name from the 2015 catalog; default python-2.7.9; the
runtime of the last build is sticky.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitserver.buildpacks.python.pyversions import major_of, version_key
from gitserver.buildpacks.python.rules import RuntimeCatalogRules, VersionFileRules
from gitserver.buildpacks.python.versionfiles import (
    PIPFILE_LOCK,
    PYTHON_VERSION_FILE,
    RUNTIME_TXT,
    SHOWN_CHARS,
    VERSION,
    misspelled_error,
    misspelled_file,
    parse_pipfile_lock,
    parse_python_version_file,
    parse_runtime_txt,
    pin_instructions,
    read_version_file,
    sticky_major,
)
from gitserver.output import printable
from gitserver.pipeline.errors import BuildError


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
        return major_of(self.version)


def request_python_version(
    root: Path, sticky_runtime: str | None, rules: VersionFileRules
) -> VersionRequest:
    """heroku-24: read the app's version files in order of precedence (parse errors raise)."""
    default_major = rules.default_major
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
    wrong = misspelled_file(names, rules.misspelled_files)
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


def resolve_python_version(request: VersionRequest, rules: VersionFileRules) -> ResolvedVersion:
    """heroku-24: the exact version Heroku would install, and the warnings it would print."""
    m = VERSION.match(request.version)
    if not m:
        raise ValueError(f"not a version request: {request.version!r}")
    latest = rules.latest_patches
    majors = sorted(latest, key=version_key)
    oldest, newest = majors[0], majors[-1]
    default_major = rules.default_major
    major = f"{m.group(1)}.{m.group(2)}"
    key = version_key(major)
    origin = request.source
    url = rules.support_url
    if key < version_key(oldest):
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
                    *pin_instructions(default_major),
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
                    *pin_instructions(newest),
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
    if version_key(version) > version_key(newest_patch):
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
                    *pin_instructions(major, delete=RUNTIME_TXT),
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
                    *pin_instructions(major),
                    "",
                    "If your app already has a .python-version file, check that it is in the",
                    "root directory, named exactly '.python-version' (lowercase), not listed in",
                    ".gitignore or .slugignore, and committed to git.",
                ),
            )
        )
    deprecation = rules.deprecated_majors.get(major)
    if deprecation is not None:
        warnings.append(
            Notice(
                f"Support for Python {major} is deprecated!",
                (
                    f"Python {major} reaches its upstream end-of-life in {deprecation.eol},",
                    "after which it receives no security fixes, and this buildpack will stop",
                    f"supporting it on {deprecation.removal}.",
                    "",
                    "Upgrade to a newer Python version soon, by changing the version in your",
                    f"{origin} file. For more information, see: {url}",
                ),
            )
        )
    if m.group(3) is not None and version_key(version) < version_key(newest_patch):
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


def request_runtime(
    root: Path, sticky_runtime: str | None, rules: RuntimeCatalogRules
) -> VersionRequest:
    """cedar-14: runtime.txt's content is the runtime name; else the last build's; else default.

    A sticky runtime the catalog doesn't have (from another stack) is ignored, as the 2015
    buildpack only ever cached names it had installed.
    """
    runtime_txt = root / RUNTIME_TXT
    if runtime_txt.is_symlink() or runtime_txt.is_file():
        example = rules.default_runtime
        name = read_version_file(runtime_txt, target=RUNTIME_TXT, example=example).strip()
        return VersionRequest(name, RUNTIME_TXT, name)
    if sticky_runtime and sticky_runtime.strip() in rules.catalog.names:
        return VersionRequest(sticky_runtime.strip(), "sticky", None)
    return VersionRequest(rules.default_runtime, "default", None)


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
