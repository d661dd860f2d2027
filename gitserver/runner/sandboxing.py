"""Dynos, one-offs and the release phase in the sandbox (gitserver.sandbox): one call site each.

`DynoSandbox.for_app` decides once per process start what the sandbox is (or raises
SandboxUnavailable, naming the fix); `command` gives the dyno's tree to the app's uid and
returns the argv that runs its command inside; `port` picks a web dyno's $PORT from the range
the firewall keeps other apps out of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitserver import sandbox
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

    @classmethod
    def for_app(cls, settings: Settings, app: str) -> DynoSandbox:
        mode = sandbox.mode(settings.sandbox)
        identity = sandbox.app_identity(settings.data_dir, app) if mode.per_app_uid else None
        addons = DataDir(settings.data_dir).addons(app)
        return cls(
            app, mode, identity, settings.dyno_max_processes, addons, settings.sandbox_readonly
        )

    def command(
        self, home: Path, argv: Sequence[str], *, terminal: bool = False, detached: bool = False
    ) -> list[str]:
        """`argv` run in `home`: the dyno's own tree and the app's add-on data are the only
        places it may write. `terminal`: a one-off attached to the caller's terminal, which
        it then cannot push keystrokes into (Ctrl-C there still ends it). `detached`: a
        one-off started by a request's short-lived thread, so not tied to that thread's life
        (the server stops it instead)."""
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
        )
        return sandbox.wrap(policy, argv)

    def port(self) -> int:
        """A web dyno's $PORT: in the firewalled range when apps have uids of their own."""
        if self.mode.enabled and self.mode.per_app_uid and not sandbox.network_guard():
            return sandbox.dyno_port()
        return free_port()
