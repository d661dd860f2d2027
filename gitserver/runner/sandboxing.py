"""Dynos, one-offs and the release phase in the sandbox (gitserver.sandbox): one call site each.

`DynoSandbox.for_app` decides once per process start what the sandbox is (or raises
SandboxUnavailable, naming the fix); `command` gives the dyno's tree to the app's uid and
returns the argv that runs its command inside; `port` picks a web dyno's $PORT from the range
the firewall keeps other apps out of.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitserver import cgroups, sandbox
from gitserver.datadir import DataDir
from gitserver.processes import free_port
from gitserver.settings import Settings


@dataclass(frozen=True)
class DynoSandbox:
    app: str
    mode: sandbox.Mode
    identity: sandbox.Identity | None
    max_processes: int
    # The app's embedded add-on data (the SQLite stand-in for heroku-postgresql), its own.
    addons: Path
    readonly_extra: str = ""  # the sandbox_readonly setting
    data_dir: Path | None = None  # where its control groups are kept (gitserver/cgroups.py)
    memory_quota_mb: int = 512
    cgroups_setting: str = "auto"

    @classmethod
    def for_app(cls, settings: Settings, app: str) -> DynoSandbox:
        mode = sandbox.mode(settings.sandbox)
        identity = sandbox.app_identity(settings.data_dir, app) if mode.per_app_uid else None
        addons = DataDir(settings.data_dir).addons(app)
        return cls(
            app,
            mode,
            identity,
            settings.dyno_max_processes,
            addons,
            settings.sandbox_readonly,
            settings.data_dir,
            settings.dyno_memory_quota_mb,
            settings.cgroups,
        )

    @property
    def memory_limit_mb(self) -> int:
        """Where the kernel stops the dyno: twice its quota (Heroku's R15 for standard-1X)."""
        return 2 * self.memory_quota_mb

    def new_group(self, name: str) -> cgroups.Group | None:
        """A control group for dyno `name` (None: sandbox off, or no cgroups here); its
        owner removes it (`Group.remove`) once the dyno has exited."""
        if not self.mode.enabled or self.data_dir is None:
            return None
        limits = cgroups.Limits(self.max_processes, self.memory_limit_mb * 1024 * 1024)
        return cgroups.new_group(self.data_dir, self.app, name, limits, self.cgroups_setting)

    @contextlib.contextmanager
    def group(self, name: str) -> Iterator[cgroups.Group | None]:
        """`new_group` for the block (a one-off, the release phase), removed after it."""
        group = self.new_group(name)
        try:
            yield group
        finally:
            if group is not None:
                group.remove()

    def command(
        self,
        home: Path,
        argv: Sequence[str],
        *,
        terminal: bool = False,
        detached: bool = False,
        group: cgroups.Group | None = None,
    ) -> list[str]:
        """`argv` run in `home`: the dyno's own tree and the app's add-on data are the only
        places it may write. `terminal`: a one-off attached to the caller's terminal, which
        it then cannot push keystrokes into (Ctrl-C there still ends it). `detached`: a
        one-off started by a request's short-lived thread, so not tied to that thread's life
        (the server stops it instead). `group`: the control group it joins (new_group)."""
        if not self.mode.enabled:
            return list(argv)
        writable = (home, self.addons)
        sandbox.give(self.identity, writable)
        policy = sandbox.Policy(
            app=self.app,
            identity=self.identity,
            writable=writable,
            readonly=sandbox.readonly_roots(extra=self.readonly_extra),
            cwd=home,
            max_processes=self.max_processes,
            new_session=terminal,
            die_with_parent=not detached,
            cgroup=group,
        )
        return sandbox.wrap(policy, argv)

    def port(self) -> int:
        """A web dyno's $PORT: in the firewalled range when apps have uids of their own."""
        if self.mode.enabled and self.mode.per_app_uid and not sandbox.network_guard():
            return sandbox.dyno_port()
        return free_port()
