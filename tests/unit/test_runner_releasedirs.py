"""Slugs a push unpacked before its release existed: taken by the runner, or cleared away.

Real slugs (pipeline.slug.write_slug), real tar, a real store: no fakes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from gitserver.datadir import DataDir
from gitserver.deploy.build import end_interrupted_builds
from gitserver.pipeline.slug import write_slug
from gitserver.records import Release
from gitserver.runner import releasedirs
from gitserver.runner.unpacker import SlugUnpacker
from gitserver.store import open_store

APP = "shop"


def make_slug(tmp_path: Path, name: str = "b1") -> Path:
    source = tmp_path / "source"
    source.mkdir(exist_ok=True)
    (source / "Procfile").write_text("web: python3 -m http.server $PORT\n")
    (source / "app.py").write_text("print('hello')\n")
    slug = tmp_path / "data" / "slugs" / APP / f"{name}.tar.gz"
    write_slug(source, slug)
    return slug


def release_of(slug: Path, version: int = 1) -> Release:
    return Release(
        app=APP,
        version=version,
        description="Deploy",
        build_id=slug.name.removesuffix(".tar.gz"),
        slug=str(slug),
        config={},
        process_types={"web": "python3 -m http.server $PORT"},
        created_at=time.time(),
    )


def test_a_prepared_slug_is_the_release_tree_at_once_without_an_unpack(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    slug = make_slug(tmp_path)
    prepared = releasedirs.prepare_from_slug(data.run(APP), slug)
    assert prepared == data.run(APP) / "prepared" / "b1"
    assert [p.name for p in prepared.parent.iterdir()] == ["b1"]  # no staging left
    assert (prepared / "slug" / "app.py").read_text() == "print('hello')\n"
    # The first dyno's $HOME: hard links to the tree, as a dyno's own copy is.
    home_file = prepared / "home" / "app.py"
    assert home_file.stat().st_ino == (prepared / "slug" / "app.py").stat().st_ino
    # A file the slug lacks: the runner's tree is the prepared one, not a fresh unpack.
    (prepared / "slug" / "marker").write_text("prepared")
    unpacker = SlugUnpacker(data)
    try:
        base = unpacker.unpacked(release_of(slug))
    finally:
        unpacker.shutdown()
    assert base == data.run(APP) / "v1" / "slug"
    assert isinstance(base, Path) and (base / "marker").read_text() == "prepared"
    assert not prepared.exists()
    # The first dyno takes the home made with it; the next one gets none (it copies).
    first, second = data.run(APP) / "v1" / "web.1-a", data.run(APP) / "v1" / "web.2-b"
    assert releasedirs.take_spare_home(base, first)
    assert (first / "app.py").stat().st_ino == (base / "app.py").stat().st_ino
    assert not releasedirs.take_spare_home(base, second)


def test_without_a_prepared_tree_the_slug_unpacks_in_the_background_and_wakes(
    tmp_path: Path,
) -> None:
    data = DataDir(tmp_path / "data")
    slug = make_slug(tmp_path)
    ready = threading.Event()
    unpacker = SlugUnpacker(data, on_ready=ready.set)
    try:
        release = release_of(slug)
        assert unpacker.unpacked(release) is None  # submitted, not done yet
        assert ready.wait(10), "the unpacker never said the slug was ready"
        base = unpacker.unpacked(release)
    finally:
        unpacker.shutdown()
    assert isinstance(base, Path) and (base / "app.py").is_file()
    assert not (base / "marker").exists()


def test_a_push_asks_and_its_release_waits_for_that_unpack_not_another(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    slug = make_slug(tmp_path)
    ready = threading.Event()
    unpacker = SlugUnpacker(data, on_ready=ready.set)
    try:
        unpacker.prepare(APP, slug.name)  # what a push's request does, before the release
        unpacker.prepare(APP, "nothing-here.tar.gz")  # no such slug: ignored
        release = release_of(slug)
        assert ready.wait(10), "the unpacker never said the slug was ready"
        base = unpacker.unpacked(release)
        assert unpacker.in_progress() == []  # the release started no unpack of its own
    finally:
        unpacker.shutdown()
    assert isinstance(base, Path) and (base / "app.py").is_file()
    assert not releasedirs.prepared_dir(data.run(APP), slug).exists()  # taken by the release
    assert not (data.run(APP) / "prepared" / "nothing-here").exists()


def test_prepared_trees_whose_slug_is_gone_are_pruned(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    kept, gone = make_slug(tmp_path, "kept"), make_slug(tmp_path, "gone")
    for slug in (kept, gone):
        releasedirs.prepare_from_slug(data.run(APP), slug)
    gone.unlink()
    releasedirs.prune_prepared(data.run(APP), data.slugs(APP))
    left = [p.name for p in (data.run(APP) / "prepared").iterdir() if not p.name.startswith(".")]
    assert left == ["kept"]


def test_the_next_build_removes_what_a_killed_push_prepared(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    store = open_store(data.database)
    try:
        store.create_app(APP, "heroku-24")
        build = store.start_build("killed", APP, "0" * 40, "heroku-24")
        slug = make_slug(tmp_path, build.id)
        prepared = releasedirs.prepare_from_slug(data.run(APP), slug)
        # The hook died here, before the release: the app's next push clears up after it.
        end_interrupted_builds(store, data, APP)
    finally:
        store.close()
    assert not prepared.exists()
    assert not slug.exists()
