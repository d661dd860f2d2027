"""Release a successful build: its add-ons, the release phase, the release record, the slug.

The slug's hand-off: when the release phase ran, the slug it unpacked becomes the release's
folder in the runner's tree, so the supervisor need not unpack it again.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from gitserver.addons import announce, provision_requested
from gitserver.applog import AppLog
from gitserver.datadir import DataDir
from gitserver.errors import AddonFailed, ReleaseFailed
from gitserver.output import Output
from gitserver.pipeline.build import BuildResult
from gitserver.pipeline.report import ReleasePhaseRecord
from gitserver.platform import Platform
from gitserver.records import Release, current_user
from gitserver.runner import releasedirs
from gitserver.runner.release_phase import ReleasePhase, run_release_phase
from gitserver.runner.sandboxing import DynoSandbox
from gitserver.settings import Settings
from gitserver.store import Store


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
        self._provision(result)
        phase = self._release_phase(result, slug)
        release = self.store.create_release(
            self.app,
            f"Deploy {sha[:7]}",
            build_id=build_id,
            slug=str(slug),
            process_types=result.process_types,
            user=current_user(),
        )
        self.platform.log_release(release)
        return Released(release, phase)

    def hand_off(self, released: Released) -> None:
        """Give the runner the slug the release phase unpacked; prune the app's old slugs."""
        if released.phase is not None:  # unpacked already: the supervisor need not do it again
            version = released.release.version
            base = releasedirs.release_dir(self.data.run(self.app), version) / "slug"
            releasedirs.adopt(released.phase.unpacked, base)
            shutil.rmtree(released.phase.staging, ignore_errors=True)
        self.platform.prune_slugs(self.app)

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
