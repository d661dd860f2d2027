"""Checks before anything is installed: the package-manager file, and the paths the build writes.

Which package manager (exactly one of its files) is managers/detection.py's decision.

The paths the buildpack writes to (`.heroku`, `.profile.d/python.sh`, …) must not be symlinks
in the pushed tree (heroku-reference has no such rule: Heroku builds in a throwaway container,
cedarbox builds on its host), nor a file where a directory belongs.
"""

from __future__ import annotations

import os

from gitserver.buildpacks.python.managers import Manager, find_manager
from gitserver.output import printable
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError

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


def check_package_manager(ctx: BuildContext) -> Manager:
    """Decide the package manager from the files at the root of the build directory."""
    return find_manager(ctx)
