"""The platform's records: apps, add-ons, builds, releases, dynos, dyno requests, deploy keys;
their states.

Plain frozen values, shared by the store that keeps them and everything that reads them. The
states are `StrEnum`s: they are stored as their plain strings and compare equal to them.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from enum import StrEnum


class BuildStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DynoState(StrEnum):
    STARTING = "starting"
    UP = "up"
    CRASHED = "crashed"
    DOWN = "down"  # being stopped


class DynoOwner(StrEnum):
    """Who runs a dyno, and so who removes its record."""

    SUPERVISOR = "supervisor"  # the formation, run by `cedarbox serve`
    RUN = "run"  # a one-off (`cedarbox run`, the release phase)


class DynoAction(StrEnum):
    """What a dyno request asks the supervisor to do."""

    RESTART = "restart"
    STOP = "stop"


@dataclass(frozen=True)
class App:
    name: str
    stack: str
    created_at: float


@dataclass(frozen=True)
class Addon:
    app: str
    name: str  # e.g. "postgresql-cubic-12345"
    service: str  # e.g. "heroku-postgresql"
    plan: str  # e.g. "hobby-dev"
    provider: str  # what really serves it: "sqlite", "postgresql"
    config_var: str  # e.g. "DATABASE_URL"
    created_at: float


@dataclass(frozen=True)
class Build:
    id: str
    app: str
    status: BuildStatus
    source_version: str
    stack: str
    started_at: float
    finished_at: float | None
    failure_code: str | None
    release_version: int | None
    python_runtime: str | None  # e.g. "python-3.12.14": the next build's sticky default


@dataclass(frozen=True)
class Release:
    app: str
    version: int
    description: str
    build_id: str | None
    slug: str | None
    config: dict[str, str]
    process_types: dict[str, str]
    created_at: float
    user: str = ""
    slug_pruned: bool = False  # its slug file was removed by the retention setting


@dataclass(frozen=True)
class DynoRecord:
    """One dyno as `ps` shows it."""

    id: str
    app: str
    name: str  # "web.1", "run.4821"
    type: str
    release_version: int
    state: DynoState
    since: float
    command: str
    pid: int | None
    proc_start: int | None  # the kernel's start time of pid: tells a reused pid apart
    port: int | None
    restarts: int
    owner: DynoOwner
    detail: str = ""  # why it is crashed or down, in words


@dataclass(frozen=True)
class DeployKey:
    """A key that allows git and API access to one app (Heroku's collaborator, as a token).

    Only the key's SHA-256 digest is kept; the key itself is shown once, when it is made."""

    id: str
    app: str
    digest: str  # hex SHA-256 of the key
    created_at: float
    last_used_at: float | None  # to the minute (gitserver.platform.KEY_USE_RESOLUTION)


@dataclass(frozen=True)
class DynoRequest:
    id: int
    app: str
    action: DynoAction
    target: str  # "" (every dyno), a process type, or a dyno name
    created_at: float


def current_user() -> str:
    """Who makes a release from this process, as `releases` shows it (heroku: an e-mail)."""
    return f"{getpass.getuser()}@localhost"
