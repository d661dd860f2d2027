"""Releases' slugs unpacked in the background, so that a big slug never stalls the supervisor."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from gitserver.datadir import DataDir
from gitserver.errors import CedarboxError
from gitserver.records import Release
from gitserver.runner import releasedirs


class SlugUnpacker:
    """Each release unpacked once (runner.releasedirs); asked again until it is ready.

    A release whose push prepared its tree is ready at once (a rename, done here); otherwise
    the slug is unpacked in a worker thread, and `on_ready` is called when it is done, so the
    supervisor starts the dynos then rather than at its next regular tick.
    """

    def __init__(self, data: DataDir, on_ready: Callable[[], None] = lambda: None) -> None:
        self.data = data
        self.on_ready = on_ready
        self._unpacking: dict[tuple[str, int], Future[Path]] = {}
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="unpack")

    def unpacked(self, release: Release) -> Path | CedarboxError | None:
        """The release's unpacked slug, why it cannot be had, or None while it unpacks."""
        key = (release.app, release.version)
        future = self._unpacking.get(key)
        if future is None:
            run_root = self.data.run(release.app)
            base = releasedirs.take_prepared(run_root, release.version, release.slug)
            if base is not None:
                return base
            future = self._unpacking[key] = self._executor.submit(
                releasedirs.unpacked_slug, run_root, release.version, release.slug
            )
            future.add_done_callback(lambda _: self.on_ready())
        if not future.done():
            return None
        del self._unpacking[key]
        error = future.exception()
        if error is None:
            return future.result()
        if isinstance(error, CedarboxError):
            return error
        return CedarboxError(f"Could not unpack the slug of v{release.version}: {error}")

    def in_progress(self) -> Iterable[tuple[str, int]]:
        """(app, version) of every release being unpacked: its tree must not be pruned."""
        return list(self._unpacking)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
