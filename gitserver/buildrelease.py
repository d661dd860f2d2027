"""Build the pushed commit and release it: the part of a deploy after the first line.

gitserver/deploy.py holds the app's lock and has printed the first line before it imports this
module, which brings in the build pipeline, the add-ons and the release phase (~0.1 s of
imports the pusher would otherwise wait through in silence).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from gitserver import trash
from gitserver.addons import announce, provision_requested
from gitserver.applog import AppLog
from gitserver.buildpacks import load_buildpacks
from gitserver.errors import AddonFailed, BuildFailed, CedarboxError, ReleaseFailed
from gitserver.output import Output, printable
from gitserver.pipeline.build import BuildResult, run_build
from gitserver.pipeline.context import BuildRequest
from gitserver.platform import Platform, current_user
from gitserver.records import App, Release
from gitserver.runner import releasedirs
from gitserver.runner.release_phase import ReleasePhase, run_release_phase

# A build's scratch directory is DATA/work/<app>.build-XXXX: app names have no dots, so the
# prefix names exactly one app.
_SCRATCH_SUFFIX = ".build-"


def build_and_release(
    platform: Platform, app: App, build_id: str, sha: str, out: Output, *, push_options: list[str]
) -> Release:
    """Record the build, run it and release it; the caller holds the app's lock.

    Raises BuildFailed, ReleaseFailed, AddonFailed or another CedarboxError; the build is
    always ended in the store, whatever happens.
    """
    _end_interrupted_builds(platform, app.name)
    previous = platform.store.last_successful_build(app.name)
    platform.store.start_build(build_id, app.name, sha, app.stack)
    AppLog(platform.data.log(app.name)).api(f"Build started by user {current_user()}")
    try:
        sticky = previous.python_runtime if previous else None
        request, result = _build(platform, app, build_id, sha, sticky, out)
        result.report.push_options = push_options
        return _record(platform, request, result, out)
    except (BuildFailed, ReleaseFailed, AddonFailed):
        raise
    except CedarboxError as exc:  # refused before the pipeline ran (an unexportable tree)
        platform.store.finish_build(build_id, failure_code=exc.code)
        raise
    except BaseException:
        # Never leave a build "pending": a crash or bug still ends it, with a code.
        platform.store.finish_build(build_id, failure_code="INTERNAL_ERROR")
        raise


def _end_interrupted_builds(platform: Platform, app: str) -> None:
    """Builds whose hook was killed: mark them ended, delete their slugs and scratch space.

    Runs with the app's lock held, so no scratch directory of this app is in use.
    """
    slugs = platform.data.slugs(app)
    for build_id in platform.store.end_interrupted_builds(app):
        (slugs / f"{build_id}.tar.gz").unlink(missing_ok=True)
        (slugs / f"{build_id}.tar.gz.partial").unlink(missing_ok=True)
    for scratch in platform.data.work().glob(f"{app}{_SCRATCH_SUFFIX}*"):
        trash.discard(scratch)


def _build(
    platform: Platform, app: App, build_id: str, sha: str, sticky: str | None, out: Output
) -> tuple[BuildRequest, BuildResult]:
    """Export the pushed tree and the config vars into scratch space, then run the pipeline."""
    prefix = f"{app.name}{_SCRATCH_SUFFIX}"
    with tempfile.TemporaryDirectory(prefix=prefix, dir=platform.data.work()) as tmp:
        work = Path(tmp)
        export_commit(Path.cwd(), sha, work / "source")
        request = BuildRequest(
            app=app.name,
            stack=app.stack,
            build_dir=work / "source",
            cache_root=platform.data.cache(app.name),
            env_dir=write_env_dir(work / "env", platform.store.config(app.name)),
            slug_path=platform.data.slugs(app.name) / f"{build_id}.tar.gz",
            source_version=sha,
            settings=platform.settings,
            build_id=build_id,
            sticky_runtime=sticky,
            submodules=submodule_paths(Path.cwd(), sha),
        )
        return request, run_build(request, out, load_buildpacks(platform.settings.buildpacks))


def _record(platform: Platform, request: BuildRequest, result: BuildResult, out: Output) -> Release:
    """Store the report; on success run the release phase, create the release, announce it."""
    store, report = platform.store, result.report
    log = AppLog(platform.data.log(request.app))
    report_path = platform.data.builds(request.app) / f"{request.build_id}.json"
    report_path.write_text(json.dumps(report.to_json(), indent=2))
    if not result.succeeded:
        store.finish_build(request.build_id, failure_code=report.failure_code)
        log.api("Build failed -- check your build output: cedarbox builds:output")
        raise BuildFailed(report.failure_summary or "The build failed.", detail=report.failure_code)
    log.api("Build succeeded")
    try:
        provisioned = provision_requested(platform, request.app, result.addons)
    except AddonFailed:
        # Nothing was released: the build fails with the add-on's own message.
        store.finish_build(request.build_id, failure_code="ADDON_FAILED")
        if request.slug_path is not None:
            request.slug_path.unlink(missing_ok=True)
        log.api("Add-on provisioning failed")
        raise
    announce(out, provisioned, legacy=result.profile.legacy)
    for item in provisioned:
        platform.log_release(item.release)
    phase = _release_phase(platform, request, result, out)
    release = store.create_release(
        request.app,
        f"Deploy {request.source_version[:7]}",
        build_id=request.build_id,
        slug=str(request.slug_path),
        process_types=result.process_types,
        user=current_user(),
    )
    platform.log_release(release)
    if phase is not None:  # the slug is unpacked already: the supervisor need not do it again
        base = releasedirs.release_dir(platform.data.run(request.app), release.version) / "slug"
        releasedirs.adopt(phase.unpacked, base)
        shutil.rmtree(phase.staging, ignore_errors=True)
    platform.prune_slugs(request.app)
    store.finish_build(
        request.build_id,
        failure_code=None,
        release_version=release.version,
        python_runtime=report.python.runtime_name,
    )
    result.announce_release(out, release.version, platform.web_url(request.app))
    return release


def _release_phase(
    platform: Platform, request: BuildRequest, result: BuildResult, out: Output
) -> ReleasePhase | None:
    """Run `release:` from the Procfile, if there is one; on failure the build is failed."""
    command = result.process_types.get("release")
    if not command or request.slug_path is None:
        return None
    current = platform.store.current_release(request.app)
    started = time.monotonic()
    try:
        phase = run_release_phase(
            app=request.app,
            command=command,
            slug=request.slug_path,
            config=platform.store.config(request.app),
            scratch=platform.data.work(),
            store=platform.store,
            log=AppLog(platform.data.log(request.app)),
            out=out,
            timeout=platform.settings.release_timeout,
            current_version=current.version if current and current.slug else None,
        )
    except ReleaseFailed:
        _report_release_phase(platform, request, command, "failed", started)
        platform.store.finish_build(request.build_id, failure_code="RELEASE_FAILED")
        request.slug_path.unlink(missing_ok=True)
        AppLog(platform.data.log(request.app)).api(
            f"Release command failed: `{command}` by user {current_user()}"
        )
        raise
    _report_release_phase(platform, request, command, "succeeded", started)
    return phase


def _report_release_phase(
    platform: Platform, request: BuildRequest, command: str, outcome: str, started: float
) -> None:
    """Add the release phase to the build's JSON report (the build itself succeeded)."""
    path = platform.data.builds(request.app) / f"{request.build_id}.json"
    report = json.loads(path.read_text())
    report["release_phase"] = {
        "command": command,
        "outcome": outcome,
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    path.write_text(json.dumps(report, indent=2))


def export_commit(git_dir: Path, sha: str, dest: Path) -> None:
    """Write the tree of `sha` to `dest` with `git archive` (it sees quarantined objects)."""
    dest.mkdir(parents=True)
    archive = subprocess.Popen(
        ["git", "--git-dir", str(git_dir), "archive", "--format=tar", sha],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert archive.stdout is not None
    try:
        with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
            tar.extractall(dest, filter="tar")
    except (tarfile.TarError, OSError) as exc:
        archive.kill()
        archive.communicate()
        raise _unexportable(exc, dest) from None
    _, err = archive.communicate()
    if archive.returncode != 0:
        raise CedarboxError(
            f"Could not read commit {sha[:7]} from the repository.",
            hint=err.decode(errors="replace").strip(),
            code="SOURCE_UNREADABLE",
        )


def _unexportable(exc: tarfile.TarError | OSError, dest: Path) -> CedarboxError:
    """A tree entry this host can't create (a name over 255 bytes, a path leaving the tree)."""
    if isinstance(exc, tarfile.FilterError) and exc.tarinfo is not None:
        name, why = exc.tarinfo.name, "it would be unpacked outside the app"
    elif isinstance(exc, OSError) and exc.filename:
        name, why = os.path.relpath(exc.filename, dest), exc.strerror or str(exc)
    else:
        name, why = "?", str(exc)
    return CedarboxError(
        f"Could not unpack the pushed tree: {printable(name, 100)}: {why}.",
        hint="Rename or remove that path in your repository, commit and push again.",
        code="SOURCE_UNPACK_FAILED",
    )


def submodule_paths(git_dir: Path, sha: str) -> tuple[str, ...]:
    """The tree's git submodules (gitlinks): `git archive` exports them as empty directories."""
    listing = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "-z", "--full-tree", sha],
        capture_output=True,
        check=False,
    )
    paths = []
    for entry in listing.stdout.split(b"\0"):
        info, _, path = entry.partition(b"\t")
        if info.startswith(b"160000 "):
            paths.append(os.fsdecode(path))
    return tuple(paths)


def write_env_dir(path: Path, config: dict[str, str]) -> Path:
    """Config vars as files, one per variable, the way buildpacks receive them."""
    path.mkdir(parents=True)
    for key, value in config.items():
        (path / key).write_text(value)
    return path
