"""What every phase of one build shares: the request, the stack profile, output, report, env."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gitserver.output import Output
from gitserver.pipeline.cache import BuildCache
from gitserver.pipeline.outputcap import OutputBudget
from gitserver.pipeline.profiles import StackProfile
from gitserver.pipeline.report import BuildReport
from gitserver.settings import Settings


class TreeTaker(Protocol):
    """Who takes a successful build's directory as the unpacked slug (the runner's side), so
    that it is not unpacked again from the slug just written."""

    def wanted(self, process_types: Mapping[str, str]) -> bool:
        """Whether a release with these process types would run its tree now."""
        ...

    def take(self, build_dir: Path) -> bool:
        """Move `build_dir` (the slug's exact content) away; False if it stayed."""
        ...


@dataclass(frozen=True)
class BuildRequest:
    """One build: a source tree to compile in place for `app` on `stack`."""

    app: str
    stack: str
    build_dir: Path  # the exported source; compiled in place, becomes the slug
    cache_root: Path | None  # the app's cache (gitserver.pipeline.cache); None: keep none
    env_dir: Path  # config vars as files, one per variable
    slug_path: Path | None  # where the slug goes (None: `cedarbox build` without --slug)
    source_version: str
    settings: Settings
    build_id: str = ""
    # The runtime of the app's last successful build ("python-3.12.14"): sticky default.
    sticky_runtime: str | None = None
    # Paths of the pushed tree's git submodules: empty directories in build_dir (never fetched).
    submodules: tuple[str, ...] = ()
    # Takes the build directory once the slug and the cache are saved (None: it is deleted).
    tree_taker: TreeTaker | None = None


@dataclass
class BuildContext:
    request: BuildRequest
    profile: StackProfile
    out: Output
    report: BuildReport
    env: dict[str, str]
    deadline: float  # time.monotonic() by which compile must finish
    # Scratch space of this build (same filesystem as the cache: renames are free).
    scratch: Path = field(default=Path())
    # What the restore phase checked out, for the buildpack's cache rules to read during
    # compile (the pipeline sets it from restore's result; None before restore ran).
    cache: BuildCache | None = None
    # What the build's commands may still print (gitserver.pipeline.commands sets it on first
    # use from Settings.build_output_max_bytes).
    output_budget: OutputBudget | None = None

    @property
    def build_dir(self) -> Path:
        return self.request.build_dir

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def config_var(self, name: str) -> str | None:
        """A config var from ENV_DIR (the buildpack reads the few it needs, as Heroku's does)."""
        path = self.request.env_dir / name
        try:
            return path.read_text().strip() if path.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None


# The host environment a build may see: nothing else of the server's leaks into builds.
_PASSED_THROUGH = ("PATH", "LANG", "TZ")


def build_environment(request: BuildRequest, *, home: Path) -> dict[str, str]:
    """The clean environment of a build (architecture: no server secrets reach app code)."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        {
            "HOME": str(home),
            "STACK": request.stack,
            "SOURCE_VERSION": request.source_version,
            "ENV_DIR": str(request.env_dir),
            "BUILD_DIR": str(request.build_dir),
        }
    )
    # The server's own pip and uv settings (a local wheelhouse or index), deliberately passed on.
    env.update({k: v for k, v in os.environ.items() if k.startswith(("PIP_", "UV_"))})
    return env
