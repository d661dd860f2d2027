"""The data directory's layout: one place that knows where every file of the platform lives.

The directory is the platform's state and secrets (config vars, the database password): it is
kept 0700, and files holding secrets 0600 (`private_file`, `write_private`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


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

    def log(self, app: str) -> Path:
        """The app's log: dyno output, platform, router and API lines (`cedarbox logs`)."""
        return self.root / "logs" / f"{app}.log"

    def run(self, app: str) -> Path:
        """Unpacked slugs of the app's releases and the dynos' own directories."""
        return self.root / "run" / app

    @property
    def server_record(self) -> Path:
        """Written by a running `cedarbox serve`: its URL and pid (removed when it stops)."""
        return self.root / "server.json"

    @property
    def tls(self) -> Path:
        """The local CA (`ca.pem`, `ca-key.pem`) and the leaf certificates it issued."""
        return self.root / "tls"

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
            self.log(app),
            self.run(app),
        ]

    def ensure(self) -> DataDir:
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        _tighten(self.root, PRIVATE_DIR)
        for sub in ("repos", "cache", "slugs", "builds", "addons", "locks", "work", "logs", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return self


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if it is missing, else make it 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        _tighten(path, PRIVATE_FILE)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file renamed), 0600 from the start."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


def _tighten(path: Path, mode: int) -> None:
    """chmod to `mode` if the mode differs (a file someone else owns is left alone)."""
    try:
        if stat.S_IMODE(path.lstat().st_mode) != mode:
            path.chmod(mode)
    except PermissionError:
        pass
