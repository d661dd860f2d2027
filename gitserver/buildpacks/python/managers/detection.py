"""Which package manager an app uses: exactly one of its files at the root of the source.

heroku-24 (the buildpack's lib/package_manager.sh): one of `Pipfile.lock`, `requirements.txt`,
`poetry.lock`, `uv.lock` (the stack rules' `pip.package_manager_files`, in the buildpack's
order); a Pipfile without its lock, several files, none (listing the root) and a setup.py
alone are each refused with the buildpack's error. cedar-14 wants requirements.txt (the other
files mean nothing there) and turns a setup.py-only app into `-e .`.

A package manager's file must be a regular file inside the app: a symlink is never followed.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitserver.buildpacks.python.managers.base import Manager
from gitserver.buildpacks.python.managers.pip import Pip
from gitserver.buildpacks.python.managers.pipenv import Pipenv
from gitserver.buildpacks.python.managers.poetry import Poetry
from gitserver.buildpacks.python.managers.uv import Uv
from gitserver.buildpacks.python.rules import rules_of
from gitserver.output import printable
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

# Every package manager, by the file that selects it.
MANAGERS: dict[str, type[Manager]] = {m.lockfile: m for m in (Pipenv, Pip, Poetry, Uv)}
REQUIREMENTS = Pip.lockfile
UV_ONLY = "uv"


def find_manager(ctx: BuildContext) -> Manager:
    """The app's package manager, from the files at the root of the build directory."""
    root = ctx.build_dir
    rules = rules_of(ctx).pip
    if ctx.profile.legacy:
        return _find_legacy(root, rules.setup_py == "generate")
    if not _present(root / Pipenv.lockfile) and _present(root / "Pipfile"):
        raise Pipenv.missing_lock()
    found = [name for name in rules.package_manager_files if _present(root / name)]
    if not found:
        if (root / "setup.py").is_file():
            raise _setup_py_sunset()
        raise _none_found(root)
    if len(found) > 1:
        raise _multiple_found([MANAGERS[name] for name in found])
    kind = MANAGERS[found[0]]
    return kind(_regular_file(root, kind.lockfile))


def _find_legacy(root: Path, generate: bool) -> Manager:
    path = root / REQUIREMENTS
    if _present(path):
        return Pip(_regular_file(root, REQUIREMENTS))
    if generate and (root / "setup.py").is_file():
        # 2015: an app with only setup.py is installed as its own package, silently.
        path.write_text("-e .\n")
        return Pip(path, generated=True)
    raise BuildError(
        "NO_PACKAGE_MANAGER",
        "Couldn't find any supported Python package manager files.",
        [
            "A Python app on the cedar-14 stack needs a 'requirements.txt' (or a 'setup.py')",
            "in the root directory. If your app has no dependencies, add an empty",
            "'requirements.txt'.",
        ],
        legacy_lines=[
            "No requirements.txt found in the root directory of your app.",
            "Add one (it may be empty) to declare your app's dependencies.",
        ],
    )


def _present(path: Path) -> bool:
    """True for anything at `path`, including a dangling symlink (reported, never followed)."""
    return path.is_symlink() or path.exists()


def _regular_file(root: Path, name: str) -> Path:
    """The package manager's file, checked to be a regular file inside the app (never followed)."""
    path = root / name
    code = "REQUIREMENTS_NOT_A_FILE" if name == REQUIREMENTS else "LOCKFILE_NOT_A_FILE"
    tool = MANAGERS[name].display_name
    if path.is_symlink():
        target = os.readlink(path)
        resolved = (root / target).resolve() if not os.path.isabs(target) else Path(target)
        inside = resolved.is_relative_to(root.resolve())
        where = "inside" if inside else "outside"
        raise BuildError(
            code,
            f"The {name} file is a symlink.",
            [
                f"'{name}' is a symbolic link to '{printable(target, 100)}' ({where} the app).",
                "For safety the build never follows it. Replace the link with a regular",
                "file containing your app's requirements, and commit it.",
            ],
            legacy_lines=[
                f"{name} is a symbolic link; the build does not follow it.",
                "Replace it with a regular file listing your app's dependencies.",
            ],
        )
    if not path.is_file():
        raise BuildError(
            code,
            f"The {name} file is not a regular file.",
            [
                f"'{name}' in the root of your app is a directory (or another",
                f"kind of non-file), so {tool} cannot read it. Rename or remove it, and add a",
                f"regular '{name}' file listing your app's dependencies.",
            ],
            legacy_lines=[
                f"{name} is not a regular file (is it a directory?).",
                "Replace it with a regular file listing your app's dependencies.",
            ],
        )
    return path


def _root_listing(root: Path) -> list[str]:
    """The root directory as `ls -1 --indicator-style=slash` shows it (no dotfiles)."""
    entries = []
    try:
        with os.scandir(root) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                is_dir = entry.is_dir(follow_symlinks=False)
                entries.append(printable(entry.name, 100) + ("/" if is_dir else ""))
    except OSError:
        return []
    return sorted(entries)


_RECOMMEND_UV = [
    "If you aren't sure which package manager to use, we recommend",
    "trying uv, since it supports lockfiles, is extremely fast, and",
    "is actively maintained by a full-time team:",
    "https://docs.astral.sh/uv/",
]


def _none_found(root: Path) -> BuildError:
    listing = _root_listing(root) or ["(nothing)"]
    return BuildError(
        "NO_PACKAGE_MANAGER",
        "Couldn't find any supported Python package manager files.",
        [
            "A Python app on Heroku must have either a 'requirements.txt',",
            "'Pipfile.lock', 'poetry.lock' or 'uv.lock' package manager file",
            "in the root directory of its source code.",
            "",
            "Currently the root directory of your app contains:",
            "",
            *listing,
            "",
            "If your app already has a package manager file, check that it:",
            "",
            "1. Is in the top level directory (not a subdirectory).",
            "2. Has the correct spelling (the filenames are case-sensitive).",
            "3. Isn't listed in '.gitignore' or '.slugignore'.",
            "4. Has been added to the Git repository using 'git add --all'",
            "   and then committed using 'git commit'.",
            "",
            "Otherwise, add a package manager file to your app. If your app has",
            "no dependencies, then create an empty 'requirements.txt' file.",
            "",
            *_RECOMMEND_UV,
        ],
    )


def _multiple_found(found: list[type[Manager]]) -> BuildError:
    return BuildError(
        "MULTIPLE_PACKAGE_MANAGERS",
        "Multiple Python package manager files were found.",
        [
            "Exactly one package manager file should be present in your app's",
            "source code, however, several were found:",
            "",
            *(f"{m.lockfile} ({m.display_name})" for m in found),
            "",
            "You must decide which package manager you want to use with your",
            "app, and then delete the file(s) and any config from the others.",
            "",
            *_RECOMMEND_UV,
        ],
    )


def _setup_py_sunset() -> BuildError:
    return BuildError(
        "SETUP_PY_SUNSET",
        "Implicit setup.py file support has been sunset.",
        [
            "Your app currently only has a setup.py file and no Python",
            "package manager files, so the build can't tell which package",
            "manager you want to use.",
            "",
            "Add an explicit package manager file to your app, such as a",
            "requirements.txt, poetry.lock or uv.lock file. To keep installing",
            "the package setup.py describes with pip in editable mode, create",
            "a 'requirements.txt' in the root directory of your app containing:",
            "",
            "-e .",
        ],
    )
