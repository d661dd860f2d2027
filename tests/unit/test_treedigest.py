"""Tree digests: every metadata change shows; reading a tree, or linking to it, does not."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitserver.pipeline.treedigest import tree, tree_digest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    top = tmp_path / "tree"
    (top / "lib").mkdir(parents=True)
    (top / "lib" / "a.py").write_text("a = 1\n")
    (top / "lib" / "b.py").write_text("b = 1\n")
    os.symlink("a.py", top / "lib" / "link.py")
    (top / "odd\nname \udcff").write_bytes(b"")  # a newline and a non-UTF-8 byte
    return top


def test_tree_lists_every_entry_sorted_without_following_links(root: Path) -> None:
    os.symlink(root / "lib", root / "dirlink")
    names = [name for _, name in tree(root)]
    assert names == [
        ".",
        "./dirlink",
        "./lib",
        "./odd\nname \udcff",
        "./lib/a.py",
        "./lib/b.py",
        "./lib/link.py",
    ]


def _retarget_link(r: Path) -> None:
    os.unlink(r / "lib" / "link.py")
    os.symlink("b.py", r / "lib" / "link.py")


def _hard_link_inside(r: Path) -> None:
    os.unlink(r / "lib" / "b.py")
    os.link(r / "lib" / "a.py", r / "lib" / "b.py")


CHANGES: dict[str, Callable[[Path], object]] = {
    "content and size": lambda r: (r / "lib" / "a.py").write_text("a = 22\n"),
    "mtime by 1 ns": lambda r: os.utime(
        r / "lib" / "a.py", ns=(0, (r / "lib" / "a.py").stat().st_mtime_ns + 1)
    ),
    "mode": lambda r: (r / "lib" / "a.py").chmod(0o600),
    "link target": _retarget_link,
    "new file": lambda r: (r / "lib" / "c.py").write_text(""),
    "removed file": lambda r: (r / "lib" / "b.py").unlink(),
    "hard link inside": _hard_link_inside,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_metadata_change_changes_the_digest(root: Path, change: str) -> None:
    before = tree_digest(root)
    CHANGES[change](root)
    assert tree_digest(root) != before


def test_reading_and_linking_from_outside_leave_the_digest(root: Path, tmp_path: Path) -> None:
    before = tree_digest(root)
    (root / "lib" / "a.py").read_text()
    os.link(root / "lib" / "a.py", tmp_path / "outside")  # as a build's restore does
    assert tree_digest(root) == before
