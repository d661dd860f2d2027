"""The JSON build report: what each phase did, how long it took, and why a build failed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field


@dataclass
class PhaseRecord:
    name: str
    outcome: str = "running"  # "succeeded", "failed" or "skipped"
    duration_seconds: float = 0.0


@dataclass
class PythonRecord:
    runtime_name: str | None = None  # e.g. "python-3.12.14": sticky for the next build
    requested: str | None = None  # as the app wrote it, e.g. "3.12" or "python-3.4.2"
    source: str | None = None  # the file (or rule) that decided it: ".python-version", "default", …
    resolved: str | None = None  # what Heroku would install, e.g. "3.12.14"
    used: str | None = None  # what this host provided, e.g. "3.12.1"
    interpreter: str | None = None  # path of the host interpreter used
    exact: bool | None = None  # used == resolved


@dataclass
class PackageManagerRecord:
    name: str | None = None  # "pip", "uv", "poetry", "pipenv"
    version: str | None = None  # of the tool the build used, e.g. "0.12.5"
    lockfile: str | None = None  # the file that chose it, e.g. "uv.lock"
    lockfile_sha256: str | None = None
    # The install changed nothing last time and its inputs are the same: its output replayed.
    replayed: bool = False


@dataclass
class CacheRecord:
    reused: bool = False
    from_spare: bool = False  # reused by taking the copy prepared after the last build
    discarded: bool = False
    reasons: list[str] = field(default_factory=list)


@dataclass
class ReleasePhaseRecord:
    """The Procfile's `release:` command, run after a successful build (the deploy runs it)."""

    command: str
    outcome: str  # "succeeded" or "failed"
    duration_seconds: float


@dataclass
class BuildReport:
    app: str
    stack: str
    source_version: str
    build_id: str = ""
    started_at: float = field(default_factory=time.time)
    duration_seconds: float = 0.0
    outcome: str = "running"
    failure_code: str | None = None
    failure_summary: str | None = None
    buildpack: str | None = None
    push_options: list[str] = field(default_factory=list)
    phases: list[PhaseRecord] = field(default_factory=list)
    python: PythonRecord = field(default_factory=PythonRecord)
    cache: CacheRecord = field(default_factory=CacheRecord)
    package_manager: PackageManagerRecord = field(default_factory=PackageManagerRecord)
    packages: list[str] = field(default_factory=list)
    process_types: dict[str, str] = field(default_factory=dict)
    addons: list[str] = field(default_factory=list)
    slug_size_bytes: int | None = None
    # Cached subtrees (".heroku") whose compressed part of the slug was the last build's, reused.
    slug_members_reused: list[str] = field(default_factory=list)
    # The build directory went to the runner as the release's unpacked slug (not unpacked again).
    tree_handed_over: bool = False
    warnings: list[str] = field(default_factory=list)
    release_phase: ReleasePhaseRecord | None = None  # None: the app has no release command

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseRecord]:
        """Time a phase; an exception marks it failed and propagates."""
        record = PhaseRecord(name)
        self.phases.append(record)
        start = time.monotonic()
        try:
            yield record
        except BaseException:
            record.outcome = "failed"
            raise
        else:
            if record.outcome == "running":
                record.outcome = "succeeded"
        finally:
            record.duration_seconds = round(time.monotonic() - start, 3)

    def warn(self, summary: str) -> None:
        self.warnings.append(summary)

    def to_json(self) -> dict[str, object]:
        report = asdict(self)
        if self.release_phase is None:  # the key is only there when a release command ran
            del report["release_phase"]
        return report
