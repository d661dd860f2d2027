"""The data directory's layout: one place that knows where every file of the platform lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataDir:
    """Paths below the data directory. Every app path takes an already validated name."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "state.db"

    def repo(self, app: str) -> Path:
        return self.root / "repos" / f"{app}.git"

    def repos_root(self) -> Path:
        return self.root / "repos"

    def cache(self, app: str) -> Path:
        return self.root / "cache" / app

    def slugs(self, app: str) -> Path:
        return self.root / "slugs" / app

    def builds(self, app: str) -> Path:
        return self.root / "builds" / app

    def addons(self, app: str) -> Path:
        """Embedded add-on data (the SQLite stand-in for heroku-postgresql)."""
        return self.root / "addons" / app

    def lock(self, app: str) -> Path:
        return self.root / "locks" / f"{app}.lock"

    def work(self) -> Path:
        """Scratch space for builds, on the same filesystem as the cache so renames are free."""
        return self.root / "work"

    def app_dirs(self, app: str) -> list[Path]:
        """Everything an app owns on disk (removed by apps:destroy)."""
        return [
            self.repo(app),
            self.cache(app),
            self.slugs(app),
            self.builds(app),
            self.addons(app),
            self.lock(app),
        ]

    def ensure(self) -> DataDir:
        for sub in ("repos", "cache", "slugs", "builds", "addons", "locks", "work"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return self
