"""Checks before anything is installed: the package-manager file, and the paths the build writes.

heroku-24 wants exactly one of requirements.txt / Pipfile.lock / poetry.lock / uv.lock;
cedarbox installs with pip, so the other three are recognised and refused with a plain
"not supported yet". cedar-14 wants requirements.txt, and turns a setup.py-only app into
`-e .`. The file list and the setup.py rule are data: the stack rules' `pip` section (rules.py).

The paths the buildpack writes to (`.heroku`, `.profile.d/python.sh`, …) must not be symlinks
in the pushed tree (heroku-reference has no such rule: Heroku builds in a throwaway container,
cedarbox builds on its host), nor a file where a directory belongs.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitserver.buildpacks.python.rules import rules_of
from gitserver.buildpacks.python.types import PackageManager
from gitserver.output import printable
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

REQUIREMENTS = "requirements.txt"
# Heroku-24's package-manager files and the tool each one means (for messages).
_MANAGER_OF = {
    "requirements.txt": "pip",
    "Pipfile.lock": "Pipenv",
    "poetry.lock": "Poetry",
    "uv.lock": "uv",
}
# Where the buildpack writes: (kind, what it writes there). In the pushed tree, a symlink at one
# of these paths would make the build write (or delete) files outside the app, and a file where
# a directory belongs (or the reverse) would crash it.
BUILD_PATHS: dict[str, tuple[str, str]] = {
    ".heroku": ("directory", "the app's Python environment"),
    ".heroku/python": ("directory", "the app's Python environment"),
    ".heroku/python-version": ("file", "the name of the installed runtime"),
    ".heroku/src": ("directory", "the packages pip installs from version control"),
    ".profile.d": ("directory", "the script that sets up each dyno's environment"),
    ".profile.d/python.sh": ("file", "the script that sets up each dyno's environment"),
}


def check_build_paths(ctx: BuildContext) -> None:
    """Refuse a tree where a path the build writes to is a symlink, or the wrong kind of entry.

    The build never writes through a symlink: it could name any file on this host.
    """
    root = ctx.build_dir
    for rel, (kind, purpose) in BUILD_PATHS.items():
        path = root / rel
        if path.is_symlink():
            target = printable(os.readlink(path), 100)
            summary = f"The {rel} path in your app is a symbolic link."
            problem = [
                f"'{rel}' is a symbolic link to '{target}'.",
                f"The build writes {purpose} there,",
                "and it never writes through a symbolic link: that would change files",
                "outside your app.",
            ]
        elif path.exists() and path.is_dir() != (kind == "directory"):
            summary = f"The {rel} path in your app is not a {kind}."
            problem = [
                f"'{rel}' is a {'file' if kind == 'directory' else 'directory'}.",
                f"The build writes {purpose} there, so it needs a {kind} at that path.",
            ]
        else:
            continue
        raise BuildError(
            "BUILD_PATH_CONFLICT",
            summary,
            [
                *problem,
                "",
                f"Remove '{rel}' from your Git repository (git rm -r {rel}), commit and push",
                "again: the build creates what it needs there itself.",
            ],
            legacy_lines=[
                *problem,
                f"Remove it from your repository (git rm -r {rel}) and push again.",
            ],
        )


def check_package_manager(ctx: BuildContext) -> PackageManager:
    """Decide the package manager from the files at the root of the build directory."""
    root = ctx.build_dir
    rules = rules_of(ctx).pip
    if ctx.profile.legacy:
        return _check_legacy(ctx, root, rules.setup_py == "generate")
    found = [name for name in rules.package_manager_files if _present(root / name)]
    # A Pipfile without its lock means Pipenv too: refuse it as such, not as "nothing found".
    if not found and _present(root / "Pipfile"):
        found = ["Pipfile"]
    if not found:
        if (root / "setup.py").is_file():
            raise _setup_py_sunset()
        raise _none_found(root)
    if len(found) > 1:
        raise _multiple_found(found)
    name = found[0]
    if name != REQUIREMENTS:
        raise _unsupported(name)
    return PackageManager("pip", _requirements_file(root))


def _check_legacy(ctx: BuildContext, root: Path, generate: bool) -> PackageManager:
    path = root / REQUIREMENTS
    if _present(path):
        return PackageManager("pip", _requirements_file(root))
    if generate and (root / "setup.py").is_file():
        # 2015: an app with only setup.py is installed as its own package, silently.
        path.write_text("-e .\n")
        return PackageManager("pip", path, generated=True)
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


def _requirements_file(root: Path) -> Path:
    """requirements.txt, checked to be a regular file inside the app (never followed)."""
    path = root / REQUIREMENTS
    if path.is_symlink():
        target = os.readlink(path)
        resolved = (root / target).resolve() if not os.path.isabs(target) else Path(target)
        inside = resolved.is_relative_to(root.resolve())
        where = "inside" if inside else "outside"
        raise BuildError(
            "REQUIREMENTS_NOT_A_FILE",
            "The requirements.txt file is a symlink.",
            [
                f"'requirements.txt' is a symbolic link to '{printable(target, 100)}' ({where} "
                "the app).",
                "For safety the build never follows it. Replace the link with a regular",
                "file containing your app's requirements, and commit it.",
            ],
            legacy_lines=[
                "requirements.txt is a symbolic link; the build does not follow it.",
                "Replace it with a regular file listing your app's dependencies.",
            ],
        )
    if not path.is_file():
        raise BuildError(
            "REQUIREMENTS_NOT_A_FILE",
            "The requirements.txt file is not a regular file.",
            [
                "'requirements.txt' in the root of your app is a directory (or another",
                "kind of non-file), so pip cannot read it. Rename or remove it, and add a",
                "regular 'requirements.txt' file listing your app's dependencies.",
            ],
            legacy_lines=[
                "requirements.txt is not a regular file (is it a directory?).",
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


def _none_found(root: Path) -> BuildError:
    listing = _root_listing(root) or ["(nothing)"]
    return BuildError(
        "NO_PACKAGE_MANAGER",
        "Couldn't find any supported Python package manager files.",
        [
            "A Python app must have a package manager file in the root directory of its",
            "source code: 'requirements.txt' for pip (Heroku also accepts 'Pipfile.lock',",
            "'poetry.lock' and 'uv.lock', which cedarbox does not support yet).",
            "",
            "Currently the root directory of your app contains:",
            "",
            *listing,
            "",
            "If your app already has a package manager file, check that it:",
            "",
            "1. Is in the top level directory (not a subdirectory).",
            "2. Has the correct spelling (the file names are case-sensitive).",
            "3. Isn't listed in '.gitignore' or '.slugignore'.",
            "",
            "Otherwise, add a package manager file to your app. If your app has no",
            "dependencies, create an empty 'requirements.txt' file.",
        ],
    )


def _multiple_found(found: list[str]) -> BuildError:
    return BuildError(
        "MULTIPLE_PACKAGE_MANAGERS",
        "Multiple Python package manager files were found.",
        [
            "Exactly one package manager file should be present in the root directory of",
            "your app's source code, but these were found:",
            "",
            *found,
            "",
            "Using more than one is ambiguous: the build cannot tell which one holds your",
            "app's real dependencies. Decide which package manager your app uses and delete",
            "the files of the others (cedarbox currently installs from 'requirements.txt').",
        ],
    )


def _setup_py_sunset() -> BuildError:
    return BuildError(
        "SETUP_PY_SUNSET",
        "Implicit setup.py file support has been sunset.",
        [
            "Your app has a 'setup.py' but no package manager file. Installing an app from",
            "an implicit 'setup.py' alone is no longer supported.",
            "",
            "Add a 'requirements.txt' file to the root of your app. To keep installing the",
            "package that setup.py describes, put this line in it:",
            "",
            "-e .",
        ],
    )


def _unsupported(name: str) -> BuildError:
    tool = _MANAGER_OF.get(name, "Pipenv")
    return BuildError(
        "PACKAGE_MANAGER_UNSUPPORTED",
        f"The {tool} package manager ({name}) isn't supported by cedarbox yet.",
        [
            f"Your app declares its dependencies with {tool} ('{name}'). Heroku supports",
            f"{tool}; cedarbox will support it later, but today it installs packages with",
            "pip only.",
            "",
            "For now, export your dependencies to a 'requirements.txt' file, commit it, and",
            f"remove '{name}' (the build needs exactly one package manager file).",
        ],
    )
