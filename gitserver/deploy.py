"""A deploy: lock the app, build the pushed commit, record the build and the release.

Called by the pre-receive hook with the pushed commit still in quarantine. Raises BuildFailed
(the build has already printed why) or another PushRefused; returns the new release.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

from gitserver import repos
from gitserver.addons import announce, provision_requested
from gitserver.build.context import BuildRequest
from gitserver.build.pipeline import BuildResult, run_build
from gitserver.errors import BuildFailed, CedarboxError
from gitserver.locks import AppLock
from gitserver.output import Output
from gitserver.platform import Platform, current_user
from gitserver.receive.refs import RefUpdate
from gitserver.store import Release


def deploy(
    platform: Platform, app_name: str, update: RefUpdate, out: Output, *, push_options: list[str]
) -> Release:
    app = platform.get_app(app_name)
    build_id = str(uuid.uuid4())
    holder = {"build_id": build_id, "source_version": update.new}
    with AppLock(platform.data.lock(app.name), app.name).acquire(holder):
        previous = platform.store.last_successful_build(app.name)
        platform.store.start_build(build_id, app.name, update.new, app.stack)
        logs = platform.data.builds(app.name)
        logs.mkdir(parents=True, exist_ok=True)
        try:
            with open(logs / f"{build_id}.log", "wb") as log, out.tee(log):
                request = BuildRequest(
                    app=app.name,
                    stack=app.stack,
                    build_dir=Path(),  # set once the source is exported
                    cache_root=platform.data.cache(app.name),
                    env_dir=Path(),
                    slug_path=platform.data.slugs(app.name) / f"{build_id}.tar.gz",
                    source_version=update.new,
                    settings=platform.settings,
                    build_id=build_id,
                    sticky_runtime=previous.python_runtime if previous else None,
                )
                result = _build(platform, request, out)
                result.report.push_options = push_options
                release = _record(platform, request, result, out)
        except BuildFailed:
            raise
        except BaseException:
            # Never leave a build "pending": a crash or bug still ends it, with a code.
            platform.store.finish_build(build_id, failure_code="INTERNAL_ERROR")
            raise
    if update.branch:
        repos.set_head(platform.data.repo(app.name), update.branch)
    return release


def _build(platform: Platform, request: BuildRequest, out: Output) -> BuildResult:
    """Export the pushed tree and the config vars into scratch space, then run the pipeline."""
    with tempfile.TemporaryDirectory(prefix=f"{request.app}-", dir=platform.data.work()) as tmp:
        work = Path(tmp)
        export_commit(Path.cwd(), request.source_version, work / "source")
        env_dir = write_env_dir(work / "env", platform.store.config(request.app))
        return run_build(replace(request, build_dir=work / "source", env_dir=env_dir), out)


def _record(platform: Platform, request: BuildRequest, result: BuildResult, out: Output) -> Release:
    """Store the report; on success create the release and announce it."""
    store, report = platform.store, result.report
    report_path = platform.data.builds(request.app) / f"{request.build_id}.json"
    report_path.write_text(json.dumps(report.to_json(), indent=2))
    if not result.succeeded:
        store.finish_build(request.build_id, failure_code=report.failure_code)
        raise BuildFailed(report.failure_summary or "The build failed.", detail=report.failure_code)
    provisioned = provision_requested(platform, request.app, result.addons)
    announce(out, provisioned, legacy=result.profile.legacy)
    release = store.create_release(
        request.app,
        f"Deploy {request.source_version[:7]}",
        build_id=request.build_id,
        slug=str(request.slug_path),
        process_types=result.process_types,
        user=current_user(),
    )
    platform.prune_slugs(request.app)
    store.finish_build(
        request.build_id,
        failure_code=None,
        release_version=release.version,
        python_runtime=report.python.runtime_name,
    )
    result.announce_release(out, release.version, platform.web_url(request.app))
    return release


def export_commit(git_dir: Path, sha: str, dest: Path) -> None:
    """Write the tree of `sha` to `dest` with `git archive` (it sees quarantined objects)."""
    dest.mkdir(parents=True)
    archive = subprocess.Popen(
        ["git", "--git-dir", str(git_dir), "archive", "--format=tar", sha],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert archive.stdout is not None
    with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
        tar.extractall(dest, filter="tar")
    _, err = archive.communicate()
    if archive.returncode != 0:
        raise CedarboxError(
            f"Could not read commit {sha[:7]} from the repository.",
            hint=err.decode(errors="replace").strip(),
            code="SOURCE_UNREADABLE",
        )


def write_env_dir(path: Path, config: dict[str, str]) -> Path:
    """Config vars as files, one per variable, the way buildpacks receive them."""
    path.mkdir(parents=True)
    for key, value in config.items():
        (path / key).write_text(value)
    return path
