"""The transactional build cache: only commits replace it; crashes leave the last good one."""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
from pathlib import Path

from gitserver.pipeline.cache import SPARE, BuildCache, purge, recover
from tests.support.waiting import entries_once_deleted, wait_for_spare


def commit_file(root: Path, scratch: Path, content: str, meta: dict[str, str]) -> None:
    cache = BuildCache.checkout(root)
    entry = scratch / "build" / ".heroku"
    entry.mkdir(parents=True)
    (entry / "file").write_text(content)
    cache.commit({".heroku": entry}, meta)


def test_empty_cache_checks_out_empty(tmp_path: Path) -> None:
    cache = BuildCache.checkout(tmp_path / "cache")
    assert cache.empty and cache.previous == {}
    assert cache.take(".heroku", tmp_path / "b" / ".heroku") is False


def test_commit_then_checkout_restores_entries_and_metadata(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "one", {"python_version": "3.12.14"})
    cache = BuildCache.checkout(root)
    assert cache.previous == {"python_version": "3.12.14"}
    dest = tmp_path / "b2" / ".heroku"
    assert cache.take(".heroku", dest)
    assert (dest / "file").read_text() == "one"


def test_a_build_that_never_commits_leaves_the_last_good_cache(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "good", {"v": "1"})
    failed = BuildCache.checkout(root)
    dest = tmp_path / "b2" / ".heroku"
    failed.take(".heroku", dest)
    (dest / "file").write_text("half-written by a failed build")
    failed.discard()
    again = BuildCache.checkout(root)
    again.take(".heroku", tmp_path / "b3" / ".heroku")
    assert (tmp_path / "b3" / ".heroku" / "file").read_text() == "good"


def test_recover_after_a_crash_between_the_two_renames(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "good", {"v": "1"})
    (root / "current").rename(root / "old-crashed")  # killed right after the first rename
    (root / "staging-abandoned").mkdir()
    recover(root)
    assert (root / "current" / ".heroku" / "file").read_text() == "good"
    assert entries_once_deleted(root) == ["current"]


def test_recover_drops_leftovers_of_a_finished_commit(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "new", {"v": "2"})
    (root / "old-leftover").mkdir()
    recover(root)
    assert entries_once_deleted(root) == ["current"]


def test_purge_forgets_the_cache(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    assert purge(root) is False
    commit_file(root, tmp_path / "s1", "x", {"v": "1"})
    assert purge(root) is True
    assert BuildCache.checkout(root).empty


def test_take_copies_so_the_build_cannot_touch_the_cache(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "good", {"v": "1"})
    cache = BuildCache.checkout(root)
    dest = tmp_path / "b2" / ".heroku"
    assert cache.take(".heroku", dest)
    (dest / "file").write_text("changed in the copy")
    (dest / "new").write_text("added by the build")
    assert (root / "current" / ".heroku" / "file").read_text() == "good"
    assert not (root / "current" / ".heroku" / "new").exists()


def test_a_discarded_cache_is_not_copied_and_stays_until_a_commit(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "good", {"v": "1"})
    cache = BuildCache.checkout(root)
    cache.discard()
    assert cache.take(".heroku", tmp_path / "b2" / ".heroku") is False
    assert not (tmp_path / "b2").exists()
    assert (root / "current" / ".heroku" / "file").read_text() == "good"


def test_a_copy_cut_short_by_a_purge_is_a_miss(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "good", {"v": "1"})
    cache = BuildCache.checkout(root)
    purge(root)  # `builds:cache:purge` while the build runs
    dest = tmp_path / "b2" / ".heroku"
    assert cache.take(".heroku", dest) is False
    assert not dest.exists()


# --- spare copies -----------------------------------------------------------------------------


def commit_with_spare(root: Path, scratch: Path, content: str) -> None:
    entry = scratch / "build" / ".heroku"
    (entry / "lib").mkdir(parents=True)
    (entry / "lib" / "file").write_text(content)
    BuildCache.checkout(root).commit({".heroku": entry}, {"v": "1"}, spare=[".heroku"])


def test_a_commit_prepares_a_spare_the_next_build_takes_as_its_own(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_with_spare(root, tmp_path / "s1", "good")
    spare = wait_for_spare(root)
    cache = BuildCache.checkout(root)
    assert spare.name == SPARE + cache.digests[".heroku"]
    dest = tmp_path / "b2" / ".heroku"
    assert cache.take(".heroku", dest)
    assert not spare.exists()  # moved into the build, not copied now
    cached = root / "current" / ".heroku" / "lib" / "file"
    assert (dest / "lib" / "file").stat().st_ino != cached.stat().st_ino
    with open(dest / "lib" / "file", "a") as f:  # a build writing into a file
        f.write(" and appended")
    assert cached.read_text() == "good"


def test_a_spare_that_does_not_match_the_entry_is_not_used(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_with_spare(root, tmp_path / "s1", "good")
    spare = wait_for_spare(root)
    (spare / "lib" / "file").write_text("changed after it was copied")
    dest = tmp_path / "b2" / ".heroku"
    assert BuildCache.checkout(root).take(".heroku", dest)
    assert (dest / "lib" / "file").read_text() == "good"
    assert entries_once_deleted(root) == ["current"]


def test_stale_spares_and_abandoned_partial_copies_are_swept(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_with_spare(root, tmp_path / "s1", "good")
    spare = wait_for_spare(root)
    (root / f"{SPARE}0123abcd").mkdir()  # the spare of an entry that is no longer current
    (root / f"{spare.name}.partial").mkdir()  # its maker was killed
    BuildCache.checkout(root)
    assert entries_once_deleted(root) == ["current", spare.name]


def test_a_partial_copy_being_made_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "good", {"v": "1"})
    partial = root / f"{SPARE}0123abcd.partial"
    partial.mkdir()
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as the maker holds it
        BuildCache.checkout(root)
        assert partial.is_dir()
    finally:
        os.close(fd)
    BuildCache.checkout(root)
    assert entries_once_deleted(root) == ["current"]


def test_a_commit_keeping_an_unchanged_entry_leaves_the_builds_copy_in_place(
    tmp_path: Path,
) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "good", {"v": "1"})
    cache = BuildCache.checkout(root)
    build = tmp_path / "b2" / ".heroku"
    assert cache.take(".heroku", build)
    assert cache.unchanged(".heroku", build)
    cache.commit({".heroku": build}, {"v": "2"}, keep_current=[".heroku"])
    assert (build / "file").read_text() == "good"  # the build's copy stayed where it was
    again = BuildCache.checkout(root)
    assert again.previous == {"v": "2"}
    assert again.take(".heroku", tmp_path / "b3" / ".heroku")
    assert (tmp_path / "b3" / ".heroku" / "file").read_text() == "good"
    (build / "file").write_text("changed by a dyno")
    assert not again.unchanged(".heroku", build)


def test_an_unchanged_entry_not_handed_over_becomes_the_next_builds_spare(
    tmp_path: Path,
) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "good", {"v": "1"})
    cache = BuildCache.checkout(root)
    build = tmp_path / "b2" / ".heroku"
    assert cache.take(".heroku", build)
    digest = cache.digests[".heroku"]
    cache.commit(
        {".heroku": build},
        {"v": "2"},
        spare=[".heroku"],
        keep_current=[".heroku"],
        recycle=[".heroku"],
    )
    spare = root / f"{SPARE}{digest}"
    assert not build.exists() and (spare / "file").read_text() == "good"  # moved, no copier
    assert not (root / f"{SPARE}{digest}.partial").exists()
    again = BuildCache.checkout(root)
    assert again.take(".heroku", tmp_path / "b3" / ".heroku")
    assert again.from_spare == {".heroku"}
    assert (root / "current" / ".heroku" / "file").read_text() == "good"


def test_a_build_waits_for_the_spare_being_made_instead_of_copying(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "good", {"v": "1"})
    cache = BuildCache.checkout(root)
    fd = os.open(root, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as the spare's maker holds it while it copies

    def finish_the_copy() -> None:
        time.sleep(0.2)
        spare = root / f"{SPARE}{cache.digests['.heroku']}"
        shutil.copytree(root / "current" / ".heroku", spare, copy_function=shutil.copy2)
        os.close(fd)

    maker = threading.Thread(target=finish_the_copy)
    maker.start()
    try:
        assert cache.take(".heroku", tmp_path / "b2" / ".heroku")
    finally:
        maker.join()
    assert cache.from_spare == {".heroku"}  # not a copy of its own made meanwhile


def test_recover_takes_back_an_entry_a_cut_short_commit_had_moved(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    commit_file(root, tmp_path / "s1", "good", {"v": "1"})
    # Killed after moving the kept entry to its staging, before or after retiring `current`.
    for retired in (False, True):
        staging = root / "staging-cut-short"
        staging.mkdir()
        (root / "current" / ".heroku").rename(staging / ".heroku")
        if retired:
            (root / "current").rename(root / "old-cut-short")
        recover(root)
        cache = BuildCache.checkout(root)
        assert cache.previous == {"v": "1"}
        dest = tmp_path / f"b-{retired}" / ".heroku"
        assert cache.take(".heroku", dest)
        assert (dest / "file").read_text() == "good"
