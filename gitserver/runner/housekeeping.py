"""The supervisor's tidying: trash left by dead servers, unused release trees, long app logs."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gitserver import trash
from gitserver.applog import AppLog
from gitserver.datadir import DataDir
from gitserver.runner import releasedirs

LOG_TRIM_EVERY = 30.0  # seconds between two trims of every app's log


class Housekeeper:
    """Keeps data_dir/run to what runs (or may run soon), and app logs to `log_max_bytes`."""

    def __init__(self, data: DataDir, log_max_bytes: int, clock: Callable[[], float]) -> None:
        self.data = data
        self.log_max_bytes = log_max_bytes
        self.clock = clock
        self._last_trim = 0.0

    def sweep_trash(self) -> None:
        """Delete release trees whose background removal died with an earlier server, and the
        slugs it left half unpacked."""
        run_root = self.data.root / "run"
        trash.sweep(run_root)
        if run_root.is_dir():
            for app_dir in run_root.iterdir():
                if app_dir.is_dir() and not app_dir.name.startswith(trash.PREFIX):
                    trash.sweep(app_dir)
                    releasedirs.sweep_prepared(app_dir)

    def tidy(
        self, current: Mapping[str, int], apps: set[str], in_use: Mapping[str, set[int]]
    ) -> None:
        """Remove unpacked releases nothing runs from, trees pushes prepared from slugs that
        are gone, and trim logs now and then.

        `current` is each deployed app's current release, `apps` every app that exists,
        `in_use` the releases each app's dynos run (or unpack). Releases newer than the current
        one are kept: a hook may be putting one in place.
        """
        run_root = self.data.root / "run"
        if run_root.is_dir():
            for entry in run_root.iterdir():
                if entry.name.startswith(trash.PREFIX):
                    continue
                if entry.name not in apps:
                    if entry.name not in in_use:
                        trash.discard(entry)
                    continue
                version = current.get(entry.name, 0)
                keep = in_use.get(entry.name, set()) | {version}
                releasedirs.prune(entry, keep, newer_than=version)
                releasedirs.prune_prepared(entry, self.data.slugs(entry.name))
        now = self.clock()
        if now - self._last_trim >= LOG_TRIM_EVERY:
            self._last_trim = now
            for app in current:
                AppLog(self.data.log(app)).trim(self.log_max_bytes)
