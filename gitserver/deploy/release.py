"""Release a successful build: its add-ons, the release phase, the release record, the slug.

The slug's hand-off: before the record of a release that runs dynos exists, the slug is
unpacked into the runner's `prepared` folder (runner.releasedirs): the build's own directory
moved there (RunnerTree, when the build could leave it whole), or by the running server, which
the push asks as soon as its build is done (runner.wakeup; the server's priority, not the
build's) and waits for, or by moving the release phase's tree there. Once the release exists
the push nudges the server, which starts the new dynos from that tree at once.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitserver.addons import announce, provision_requested
from gitserver.applog import AppLog
from gitserver.datadir import DataDir
from gitserver.errors import AddonFailed, ReleaseFailed
from gitserver.formation import quantities
from gitserver.output import Output
from gitserver.pipeline.build import BuildResult
from gitserver.pipeline.report import ReleasePhaseRecord
from gitserver.platform import Platform
from gitserver.records import Release, current_user
from gitserver.runner import releasedirs, wakeup
from gitserver.runner.release_phase import ReleasePhase, run_release_phase
from gitserver.runner.sandboxing import DynoSandbox
from gitserver.serverinfo import running_server
from gitserver.settings import Settings
from gitserver.store import Store

PREPARE_WAIT = 10.0  # seconds a push waits for the server to unpack its slug, at most
PREPARE_POLL = 0.01


@dataclass(frozen=True)
class RunnerTree:
    """A push's TreeTaker: its build directory, the exact content of its slug, becomes the
    slug's prepared tree for the runner (runner.releasedirs.prepare, with the first dyno's
    $HOME), so the release's dynos start without the slug being unpacked again.

    Only for a release that runs dynos at once and has no release phase (which runs in a
    copy of its own, then moved there: Releaser._prepare). What a push prepared and did not
    release is removed like a server's unpack: by the push (Deploy), or by the next build of
    the app after a crash (deploy.build.end_interrupted_builds)."""

    run_root: Path
    slug: Path
    formation: Mapping[str, int]

    def wanted(self, process_types: Mapping[str, str]) -> bool:
        return "release" not in process_types and any(
            quantities(process_types, self.formation).values()
        )

    def take(self, build_dir: Path) -> bool:
        try:
            releasedirs.prepare(self.run_root, self.slug, build_dir, home=True)
        except OSError:  # e.g. the run folder on another filesystem: the server unpacks it
            return False
        return True


@dataclass(frozen=True)
class Released:
    """A created release, and the release phase's unpacked slug (None: no release command)."""

    release: Release
    phase: ReleasePhase | None


@dataclass(frozen=True)
class Releaser:
    """What releasing a build of one app needs; `platform` provisions add-ons and logs releases."""

    app: str
    store: Store
    data: DataDir
    settings: Settings
    platform: Platform
    out: Output

    @property
    def log(self) -> AppLog:
        return AppLog(self.data.log(self.app))

    def release(self, build_id: str, sha: str, result: BuildResult, slug: Path) -> Released:
        """Provision the add-ons, run the release phase and create the release.

        Raises AddonFailed, ReleaseFailed or another CedarboxError; nothing is released then.
        """
        asked = self._request_unpack(slug, result)
        self._provision(result)
        phase = self._release_phase(result, slug)
        self._prepare(slug, result, phase, asked=asked)
        try:
            release = self.store.create_release(
                self.app,
                f"Deploy {sha[:7]}",
                build_id=build_id,
                slug=str(slug),
                process_types=result.process_types,
                user=current_user(),
            )
        except BaseException:
            releasedirs.discard_prepared(self.data.run(self.app), slug)
            raise
        self.platform.log_release(release)  # in the app's log before its dynos' lines
        wakeup.nudge(self.data)  # the running server starts the new dynos now
        return Released(release, phase)

    def hand_off(self, released: Released) -> None:
        """Clear the release phase's scratch space; prune the app's old slugs."""
        if released.phase is not None:
            shutil.rmtree(released.phase.staging, ignore_errors=True)
        self.platform.prune_slugs(self.app)

    def _request_unpack(self, slug: Path, result: BuildResult) -> bool:
        """Ask the running server to unpack the slug for the release's dynos, now, while the
        add-ons are provisioned; False if it won't (no server, no dyno to run, or a release
        phase, which unpacks the slug itself)."""
        if "release" in result.process_types or not self._runs_dynos(result):
            return False
        if result.report.tree_handed_over:  # the build's own tree is there already
            return False
        return wakeup.request_unpack(self.data, self.app, slug)

    def _prepare(
        self, slug: Path, result: BuildResult, phase: ReleasePhase | None, *, asked: bool
    ) -> None:
        """Have the slug unpacked for the runner before the release exists: the release phase's
        tree (moved there), or the server's unpack asked for earlier (awaited).

        Only an optimisation: if neither happens, the supervisor unpacks the slug once the
        release exists (and says why in `ps` and the push's verification if it cannot).
        """
        run_root = self.data.run(self.app)
        if phase is not None:
            if self._runs_dynos(result):  # the command ran in a copy: this is the slug as built
                with contextlib.suppress(OSError):
                    releasedirs.prepare(run_root, slug, phase.unpacked)
            return
        if not asked:
            return
        prepared = releasedirs.prepared_dir(run_root, slug)
        deadline = time.monotonic() + PREPARE_WAIT
        checked = time.monotonic()
        while not prepared.is_dir() and time.monotonic() < deadline:
            if time.monotonic() - checked > 1:  # a server that died can't finish it
                checked = time.monotonic()
                if running_server(self.data.server_record) is None:
                    return
            time.sleep(PREPARE_POLL)

    def _runs_dynos(self, result: BuildResult) -> bool:
        return any(quantities(result.process_types, self.store.formation(self.app)).values())

    def _provision(self, result: BuildResult) -> None:
        """Attach the add-ons the build asked for; each one's config makes a release."""
        try:
            provisioned = provision_requested(self.platform, self.app, result.addons)
        except AddonFailed:
            self.log.api("Add-on provisioning failed")
            raise
        announce(self.out, provisioned, legacy=result.profile.legacy)
        for item in provisioned:
            self.platform.log_release(item.release)

    def _release_phase(self, result: BuildResult, slug: Path) -> ReleasePhase | None:
        """Run `release:` from the Procfile, if there is one; the report records how it went."""
        command = result.process_types.get("release")
        if not command:
            return None
        current = self.store.current_release(self.app)
        started = time.monotonic()
        outcome = "failed"
        try:
            phase = run_release_phase(
                app=self.app,
                command=command,
                slug=slug,
                config=self.store.config(self.app),
                scratch=self.data.work(),
                store=self.store,
                log=self.log,
                out=self.out,
                timeout=self.settings.release_timeout,
                output_max_bytes=self.settings.build_output_max_bytes,
                current_version=current.version if current and current.slug else None,
                box=DynoSandbox.for_app(self.settings, self.app),
            )
            outcome = "succeeded"
        except ReleaseFailed:
            self.log.api(f"Release command failed: `{command}` by user {current_user()}")
            raise
        finally:
            result.report.release_phase = ReleasePhaseRecord(
                command, outcome, round(time.monotonic() - started, 3)
            )
        return phase
