"""Slugs written as gzip members, and the cached `.heroku` member reused while unchanged."""

from __future__ import annotations

import gzip
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from gitserver.pipeline.slug import SlugWritten, write_slug


def tree(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every entry under root: files by content, links by target, directories by name."""
    found: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("dir", "")
            else:
                found[rel] = ("file", path.read_bytes())
    return found


def unpack_with_gnu_tar(slug: Path, dest: Path) -> Path:
    """How releases unpack slugs (gitserver.runner.releasedirs)."""
    dest.mkdir()
    subprocess.run(["tar", "-xzf", str(slug), "-C", str(dest)], check=True)
    return dest


@pytest.fixture
def build(tmp_path: Path) -> Path:
    root = tmp_path / "build"
    python = root / ".heroku" / "python" / "lib"
    python.mkdir(parents=True)
    (python / "mod.py").write_text("x = 1\n")
    (python / "big.bin").write_bytes(os.urandom(300_000))
    (python / "empty").write_bytes(b"")
    os.symlink("mod.py", python / "alias.py")
    os.link(python / "mod.py", python / "hard.py")
    (root / "app.py").write_text("print('v1')\n")
    (root / "zzz").mkdir()
    (root / "zzz" / "after.txt").write_text("sorted after .heroku\n")
    return root


def write(build: Path, tmp_path: Path, n: int, previous: Path | None) -> tuple[Path, SlugWritten]:
    slug = tmp_path / f"slug{n}.tar.gz"
    keep = tmp_path / f"keep{n}"
    return slug, write_slug(build, slug, subtrees=[".heroku"], previous=previous, keep=keep)


def test_a_slug_of_members_unpacks_like_a_single_stream(build: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar.gz"
    write_slug(build, plain)
    slug, written = write(build, tmp_path, 1, previous=None)
    assert written.size == slug.stat().st_size and written.reused == ()
    # app files | .heroku | end of archive: three gzip members
    assert gzip.decompress(slug.read_bytes())[-1024:] == b"\0" * 1024
    expected = tree(build)
    assert tree(unpack_with_gnu_tar(slug, tmp_path / "gnu")) == expected
    assert tree(unpack_with_gnu_tar(plain, tmp_path / "plain")) == expected
    with tarfile.open(slug, "r:gz") as tar:
        names = tar.getnames()
        assert tar.getmember("./.heroku/python/lib/mod.py").islnk()  # of hard.py
    assert names.index("./zzz/after.txt") < names.index("./.heroku")
    assert len(names) == len(set(names)) == len(expected) + 1  # and "./"


def test_an_unchanged_subtree_reuses_the_previous_member(build: Path, tmp_path: Path) -> None:
    write(build, tmp_path, 1, previous=None)
    (build / "app.py").write_text("print('v2')\n")
    second, written = write(build, tmp_path, 2, previous=tmp_path / "keep1")
    assert written.reused == (".heroku",)
    [kept1] = (tmp_path / "keep1").iterdir()
    [kept2] = (tmp_path / "keep2").iterdir()
    assert kept1.name == kept2.name and kept1.stat().st_ino == kept2.stat().st_ino  # a hard link
    unpacked = tree(unpack_with_gnu_tar(second, tmp_path / "second"))
    assert unpacked == tree(build)
    assert unpacked["app.py"] == ("file", b"print('v2')\n")


@pytest.mark.parametrize(
    "change",
    [
        "content",  # rewritten: new size and mtime
        "mtime",  # same bytes, touched
        "mode",
        "new file",
        "removed file",
        "slugignore",  # the same files, but one of them now ignored
    ],
)
def test_any_header_change_makes_a_new_member(build: Path, tmp_path: Path, change: str) -> None:
    write(build, tmp_path, 1, previous=None)
    lib = build / ".heroku" / "python" / "lib"
    if change == "content":
        (lib / "mod.py").write_text("x = 2  # changed\n")
    elif change == "mtime":
        stat = (lib / "big.bin").stat()
        os.utime(lib / "big.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    elif change == "mode":
        (lib / "mod.py").chmod(0o600)
    elif change == "new file":
        (lib / "new.py").write_text("y = 1\n")
    elif change == "removed file":
        (lib / "empty").unlink()
    else:
        (build / ".slugignore").write_text(".heroku/python/lib/big.bin\n")
    slug, written = write(build, tmp_path, 2, previous=tmp_path / "keep1")
    assert written.reused == ()
    expected = tree(build)
    if change == "slugignore":
        del expected[".heroku/python/lib/big.bin"]
    assert tree(unpack_with_gnu_tar(slug, tmp_path / "out")) == expected
    [kept] = (tmp_path / "keep2").iterdir()
    assert kept.name != next((tmp_path / "keep1").iterdir()).name


def test_a_missing_previous_member_is_a_miss_not_an_error(build: Path, tmp_path: Path) -> None:
    write(build, tmp_path, 1, previous=None)
    for member in (tmp_path / "keep1").iterdir():
        member.unlink()  # the cache was purged meanwhile
    slug, written = write(build, tmp_path, 2, previous=tmp_path / "keep1")
    assert written.reused == ()
    assert tree(unpack_with_gnu_tar(slug, tmp_path / "out")) == tree(build)
    assert len(list((tmp_path / "keep2").iterdir())) == 1


def test_without_subtrees_nothing_is_kept(build: Path, tmp_path: Path) -> None:
    slug = tmp_path / "slug.tar.gz"
    assert write_slug(build, slug).reused == ()
    assert tree(unpack_with_gnu_tar(slug, tmp_path / "out")) == tree(build)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "out", "slug.tar.gz"]


def test_a_slug_says_whether_it_holds_the_whole_build_directory(
    build: Path, tmp_path: Path
) -> None:
    slug, first = write(build, tmp_path, 1, previous=None)
    assert first.whole_tree
    assert tree(unpack_with_gnu_tar(slug, tmp_path / "unpacked")) == tree(build)
    _, reused = write(build, tmp_path, 2, previous=tmp_path / "keep1")
    assert reused.reused == (".heroku",) and reused.whole_tree
    (build / ".slugignore").write_text("zzz\n")
    assert not write(build, tmp_path, 3, previous=None)[1].whole_tree
    (build / ".slugignore").unlink()
    (build / ".git").mkdir()
    assert not write(build, tmp_path, 4, previous=None)[1].whole_tree
