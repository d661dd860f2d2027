"""The pushed commit as a build's input: its tree, its submodules, the config vars as files.

Read with git from the hook's repository (`git_dir`), where the pushed objects are still in
quarantine: `git archive` and `git ls-tree` see them through the hook's environment.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

from gitserver.errors import CedarboxError
from gitserver.output import printable


def export_commit(git_dir: Path, sha: str, dest: Path) -> None:
    """Write the tree of `sha` to `dest` with `git archive` (it sees quarantined objects)."""
    dest.mkdir(parents=True)
    archive = subprocess.Popen(
        ["git", "--git-dir", str(git_dir), "archive", "--format=tar", sha],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert archive.stdout is not None
    try:
        with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
            tar.extractall(dest, filter="tar")
    except (tarfile.TarError, OSError) as exc:
        archive.kill()
        archive.communicate()
        raise _unexportable(exc, dest) from None
    _, err = archive.communicate()
    if archive.returncode != 0:
        raise CedarboxError(
            f"Could not read commit {sha[:7]} from the repository.",
            hint=err.decode(errors="replace").strip(),
            code="SOURCE_UNREADABLE",
        )


def _unexportable(exc: tarfile.TarError | OSError, dest: Path) -> CedarboxError:
    """A tree entry this host can't create (a name over 255 bytes, a path leaving the tree)."""
    if isinstance(exc, tarfile.FilterError) and exc.tarinfo is not None:
        name, why = exc.tarinfo.name, "it would be unpacked outside the app"
    elif isinstance(exc, OSError) and exc.filename:
        name, why = os.path.relpath(exc.filename, dest), exc.strerror or str(exc)
    else:
        name, why = "?", str(exc)
    return CedarboxError(
        f"Could not unpack the pushed tree: {printable(name, 100)}: {why}.",
        hint="Rename or remove that path in your repository, commit and push again.",
        code="SOURCE_UNPACK_FAILED",
    )


def submodule_paths(git_dir: Path, sha: str) -> tuple[str, ...]:
    """The tree's git submodules (gitlinks): `git archive` exports them as empty directories."""
    listing = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "-z", "--full-tree", sha],
        capture_output=True,
        check=False,
    )
    paths = []
    for entry in listing.stdout.split(b"\0"):
        info, _, path = entry.partition(b"\t")
        if info.startswith(b"160000 "):
            paths.append(os.fsdecode(path))
    return tuple(paths)


def write_env_dir(path: Path, config: dict[str, str]) -> Path:
    """Config vars as files, one per variable, the way buildpacks receive them."""
    path.mkdir(parents=True)
    for key, value in config.items():
        (path / key).write_text(value)
    return path
