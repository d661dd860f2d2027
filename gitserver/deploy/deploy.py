"""Deploy: the one owner of a push, from the app's lock to the verified release.

lock → first line → end killed builds → export + build → add-ons → release phase → release →
slug hand-off → prune → announce; then, after the lock, verify. Called by the pre-receive hook
with the pushed commit still in quarantine. Raises BuildFailed (the build has already printed
why), ReleaseFailed, AddonFailed or another PushRefused; returns the new release once the
running server has started it (or said why not).

This module is on the hook's way to its first `remote:` line, so it imports only what that
line needs; the build (gitserver.deploy.build), the release (gitserver.deploy.release) and the
verification (gitserver.deploy.verify) are imported after it.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from gitserver import repos
from gitserver.applog import AppLog
from gitserver.datadir import DataDir
from gitserver.errors import BuildFailed, CedarboxError
from gitserver.locks import AppLock
from gitserver.output import Output
from gitserver.pipeline.profiles import load_profile
from gitserver.platform import Platform
from gitserver.records import App, Release, current_user
from gitserver.settings import Settings
from gitserver.store import Store


@dataclass(frozen=True)
class Deploy:
    """Deploys pushes to one data directory; `platform` serves the add-ons and release log."""

    store: Store
    data: DataDir
    settings: Settings
    platform: Platform
    out: Output

    @classmethod
    def on(cls, platform: Platform, out: Output) -> Deploy:
        return cls(platform.store, platform.data, platform.settings, platform, out)

    def push(
        self,
        app_name: str,
        sha: str,
        *,
        branch: str | None,
        git_dir: Path,
        push_options: list[str],
    ) -> Release:
        """Build and release commit `sha` (read from `git_dir`), then verify it boots; once
        released, `branch` (the pushed deploy branch) becomes the repository's HEAD."""
        app = self.platform.get_app(app_name)
        profile = load_profile(app.stack)
        build_id = str(uuid.uuid4())
        holder: dict[str, object] = {"build_id": build_id, "source_version": sha}
        logs = self.data.builds(app.name)
        logs.mkdir(parents=True, exist_ok=True)
        with (
            AppLock(self.data.lock(app.name), app.name).acquire(holder),
            open(logs / f"{build_id}.log", "wb") as transcript,
            self.out.tee(transcript),
        ):
            for line in profile.start_lines:
                self.out.line(line)
            os.nice(max(0, min(19, self.settings.build_niceness)))  # the build and its children
            release = self._build_and_release(app, build_id, sha, git_dir, push_options)
        if branch:
            repos.set_head(self.data.repo(app.name), branch)
        # After the lock: waiting for the app to boot must not hold up the next push.
        from gitserver.deploy.verify import verify_deploy

        verify_deploy(
            self.store, self.data, self.settings, release, self.out, legacy=profile.legacy
        )
        return release

    def _build_and_release(
        self, app: App, build_id: str, sha: str, git_dir: Path, push_options: list[str]
    ) -> Release:
        """Record the build, run it and release it; the build is finished exactly once."""
        # Imported once the pusher has the first line: the build pipeline, add-ons and release
        # phase take ~0.1 s to import.
        from gitserver.deploy.build import build_commit, end_interrupted_builds
        from gitserver.deploy.release import Releaser, RunnerTree
        from gitserver.runner import releasedirs

        end_interrupted_builds(self.store, self.data, app.name)
        previous = self.store.last_successful_build(app.name)
        self.store.start_build(build_id, app.name, sha, app.stack)
        log = AppLog(self.data.log(app.name))
        log.api(f"Build started by user {current_user()}")
        slug = self.data.slugs(app.name) / f"{build_id}.tar.gz"
        report_path = self.data.builds(app.name) / f"{build_id}.json"
        failure: str | None = "INTERNAL_ERROR"  # a crash or a bug still ends the build
        release: Release | None = None
        result = None
        try:
            result = build_commit(
                git_dir=git_dir,
                app=app,
                sha=sha,
                build_id=build_id,
                slug=slug,
                config=self.store.config(app.name),
                sticky_runtime=previous.python_runtime if previous else None,
                data=self.data,
                settings=self.settings,
                out=self.out,
                tree_taker=RunnerTree(
                    self.data.run(app.name), slug, self.store.formation(app.name)
                ),
            )
            report = result.report
            report.push_options = push_options
            if not result.succeeded:
                log.api("Build failed -- check your build output: cedarbox builds:output")
                raise BuildFailed(
                    report.failure_summary or "The build failed.", detail=report.failure_code
                )
            log.api("Build succeeded")
            releaser = Releaser(
                app.name, self.store, self.data, self.settings, self.platform, self.out
            )
            released = releaser.release(build_id, sha, result, slug)
            release = released.release
            releaser.hand_off(released)
            failure = None
        except BuildFailed as exc:
            failure = exc.detail or exc.code
            raise
        except CedarboxError as exc:  # an unexportable tree, an add-on, the release phase
            failure = exc.code
            raise
        finally:
            if result is not None:  # the pipeline ran: its report, release phase included
                report_path.write_text(json.dumps(result.report.to_json(), indent=2))
            if release is None:  # nothing was released: no slug, nor its tree, stays behind
                releasedirs.discard_prepared(self.data.run(app.name), slug)
                slug.unlink(missing_ok=True)
            succeeded = result is not None and failure is None
            self.store.finish_build(
                build_id,
                failure_code=failure,
                release_version=release.version if release and succeeded else None,
                python_runtime=result.report.python.runtime_name if result and succeeded else None,
            )
            self.platform.prune_builds(app.name)
        result.announce_release(self.out, release.version, self.platform.web_url(app.name))
        return release
