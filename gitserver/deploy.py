"""A deploy: lock the app, print the first line, build and release the pushed commit, verify it.

Called by the pre-receive hook with the pushed commit still in quarantine. Raises BuildFailed
(the build has already printed why), ReleaseFailed (the release phase failed) or another
PushRefused; returns the new release once the running server has started it (or said why not).

This module is on the hook's way to its first `remote:` line, so it imports only what that
line needs; the build, the release (gitserver/buildrelease.py) and the verification come
after it.
"""

from __future__ import annotations

import os
import uuid

from gitserver import repos
from gitserver.locks import AppLock
from gitserver.output import Output
from gitserver.pipeline.profiles import load_profile
from gitserver.platform import Platform
from gitserver.receive.refs import RefUpdate
from gitserver.records import Release


def deploy(
    platform: Platform, app_name: str, update: RefUpdate, out: Output, *, push_options: list[str]
) -> Release:
    app = platform.get_app(app_name)
    profile = load_profile(app.stack)
    build_id = str(uuid.uuid4())
    holder = {"build_id": build_id, "source_version": update.new}
    logs = platform.data.builds(app.name)
    logs.mkdir(parents=True, exist_ok=True)
    with (
        AppLock(platform.data.lock(app.name), app.name).acquire(holder),
        open(logs / f"{build_id}.log", "wb") as transcript,
        out.tee(transcript),
    ):
        for line in profile.start_lines:
            out.line(line)
        os.nice(max(0, min(19, platform.settings.build_niceness)))  # the build and its children
        # Imported once the pusher has the first line: the build pipeline, add-ons, release
        # phase and verification take ~0.1 s to import.
        from gitserver.buildrelease import build_and_release
        from gitserver.runner.verify import verify_deploy

        release = build_and_release(
            platform, app, build_id, update.new, out, push_options=push_options
        )
    if update.branch:
        repos.set_head(platform.data.repo(app.name), update.branch)
    # After the lock: waiting for the app to boot must not hold up the next push.
    verify_deploy(platform, release, out, legacy=profile.legacy)
    return release
