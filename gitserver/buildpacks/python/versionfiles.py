"""The app's version files (heroku-reference §4): read safely, then parsed by pure functions.

Each parser takes a file's text and returns the version it names, or raises the BuildError
Heroku's buildpack prints for that mistake; `read_version_file` is the one reader of the
pushed tree, and never follows a symlink nor reads a file larger than a version file can be.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from gitserver.output import printable
from gitserver.pipeline.errors import BuildError

RUNTIME_TXT = "runtime.txt"
PYTHON_VERSION_FILE = ".python-version"
PIPFILE_LOCK = "Pipfile.lock"
# A version file is one line; anything much bigger was committed under that name by mistake.
MAX_VERSION_FILE_BYTES = 64 * 1024
# How much of a bad version file an error message shows.
SHOWN_CHARS = 100
_INT = r"(?:0|[1-9][0-9]*)"
VERSION = re.compile(rf"^({_INT})\.({_INT})(?:\.({_INT}))?$")  # "3.12" or "3.12.1"
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


def pin_instructions(major: str, *, delete: str | None = None) -> list[str]:
    """How to pin the major in .python-version (deleting `delete` first), for messages."""
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
            *pin_instructions(default_major, delete=RUNTIME_TXT),
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
    if VERSION.match(version):
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
    """The version in Pipfile.lock's `_meta.requires` (python_full_version, else python_version).

    The buildpack's errors (lib/python_version.sh): invalid JSON, and a version that is neither
    a major nor an exact patch release. Both fields are optional: no version is None.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BuildError(
            "PIPFILE_LOCK_INVALID",
            "Can't parse Pipfile.lock.",
            [
                "A Pipfile.lock file was found, however, it couldn't be parsed:",
                printable(str(exc), SHOWN_CHARS),
                "",
                "This is likely due to it not being valid JSON.",
                "",
                "Run 'pipenv lock' to regenerate/fix the lockfile.",
            ],
        ) from None
    meta = data.get("_meta") if isinstance(data, dict) else None
    requires = meta.get("requires") if isinstance(meta, dict) else None
    if not isinstance(requires, dict):
        return None
    version = requires.get("python_full_version") or requires.get("python_version")
    if version is None:
        return None
    if isinstance(version, str) and VERSION.match(version):
        return version
    raise BuildError(
        "PYTHON_VERSION_INVALID",
        "Invalid Python version in Pipfile.lock.",
        [
            "The Python version specified in your Pipfile.lock file by the",
            "'python_version' or 'python_full_version' fields isn't valid.",
            "",
            "The following version was found:",
            printable(str(version), SHOWN_CHARS),
            "",
            "However, the Python version must be specified as either:",
            f"1. The major version only, for example: {default_major} (recommended)",
            f"2. An exact patch version, for example: {default_major}.999",
            "",
            "Wildcards aren't supported.",
            "",
            "Please update your Pipfile to use a valid Python version and",
            "then run 'pipenv lock' to regenerate Pipfile.lock.",
            "",
            "We strongly recommend that you don't specify the Python patch",
            "version number, since it will pin your app to an exact Python",
            "version and so stop your app from receiving security updates",
            "each time it builds.",
            "",
            "For more information, see:",
            "https://pipenv.pypa.io/en/stable/specifiers.html#specifying-versions-of-python",
        ],
    )


def misspelled_file(
    names: Collection[str], misspellings: Mapping[str, Sequence[str]]
) -> tuple[str, str] | None:
    """(found, correct) when a known misspelling of a version file is among `names`."""
    for correct, wrong_names in misspellings.items():
        for wrong in wrong_names:
            if wrong in names:
                return wrong, correct
    return None


def misspelled_error(found: str, correct: str, default_major: str) -> BuildError:
    if correct == RUNTIME_TXT:
        fix = [
            "runtime.txt is deprecated, so rather than renaming the file, replace it:",
            *pin_instructions(default_major, delete=found),
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
