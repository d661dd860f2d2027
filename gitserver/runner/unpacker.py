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

    A push asks for its slug to be unpacked (`prepare`) before it creates the release; the
    release is then ready at once (its prepared tree, taken by a rename). Otherwise its slug is
    unpacked when the release is first asked for. Either way the work is done in a worker
    thread, and `on_ready` is called when it is done, so the supervisor looks again then rather
    than at its next regular tick.
    """

    def __init__(self, data: DataDir, on_ready: Callable[[], None] = lambda: None) -> None:
        self.data = data
        self.on_ready = on_ready
        self._unpacking: dict[tuple[str, int], Future[Path]] = {}
        self._preparing: dict[Path, Future[Path]] = {}  # by slug: pushes' slugs, pre-release
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="unpack")

    def prepare(self, app: str, slug_name: str) -> None:
        """Unpack DATA_DIR/slugs/<app>/<slug_name> to its prepared_dir, in the background."""
        for done in [s for s, f in self._preparing.items() if f.done()]:
            del self._preparing[done]  # its release took the tree, or never came
        slug = self.data.slugs(app) / slug_name
        run_root = self.data.run(app)
        if slug in self._preparing or releasedirs.prepared_dir(run_root, slug).is_dir():
            return
        if not slug.is_file():
            return  # not a slug of this data directory: nothing to do
        self._preparing[slug] = self._submit(releasedirs.prepare_from_slug, run_root, slug)

    def unpacked(self, release: Release) -> Path | CedarboxError | None:
        """The release's unpacked slug, why it cannot be had, or None while it unpacks."""
        key = (release.app, release.version)
        future = self._unpacking.get(key)
        if future is None:
            run_root = self.data.run(release.app)
            if release.slug and self._still_preparing(Path(release.slug)):
                return None
            base = releasedirs.take_prepared(run_root, release.version, release.slug)
            if base is not None:
                return base
            future = self._unpacking[key] = self._submit(
                releasedirs.unpacked_slug, run_root, release.version, release.slug
            )
        if not future.done():
            return None
        del self._unpacking[key]
        error = future.exception()
        if error is None:
            return future.result()
        if isinstance(error, CedarboxError):
            return error
        return CedarboxError(f"Could not unpack the slug of v{release.version}: {error}")

    def _still_preparing(self, slug: Path) -> bool:
        """Whether a push's request to unpack `slug` is still being carried out (a failed one
        is forgotten: the release then unpacks its slug itself and reports what went wrong)."""
        future = self._preparing.get(slug)
        if future is None:
            return False
        if not future.done():
            return True
        del self._preparing[slug]
        return False

    def _submit(self, job: Callable[..., Path], *args: object) -> Future[Path]:
        future = self._executor.submit(job, *args)
        future.add_done_callback(lambda _: self.on_ready())
        return future

    def in_progress(self) -> Iterable[tuple[str, int]]:
        """(app, version) of every release being unpacked: its tree must not be pruned."""
        return list(self._unpacking)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
