"""The build pipeline: named phases in order, each timed into the build report.

detect → restore cache → compile → release metadata → export slug → save cache

Phases raise BuildError; this module is the edge that prints a failure in the stack's style,
records its code, and returns a failed BuildResult. It never raises for a build problem.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitserver import cgroups
from gitserver.output import Output, printable
from gitserver.pipeline.buildpack import Buildpack
from gitserver.pipeline.commands import hand_over, sandbox_mode
from gitserver.pipeline.context import BuildContext, BuildRequest, build_environment
from gitserver.pipeline.errors import BuildError
from gitserver.pipeline.phases import compile as compile_phase
from gitserver.pipeline.phases import export, release, restore, save
from gitserver.pipeline.phases.detect import detect, print_no_detect
from gitserver.pipeline.profiles import StackProfile, load_profile
from gitserver.pipeline.report import BuildReport

MAX_SHOWN_SUBMODULES = 10


@dataclass
class BuildResult:
    """How a build went: its report (process types and add-ons included) and its stack."""

    report: BuildReport
    profile: StackProfile

    @property
    def succeeded(self) -> bool:
        return self.report.failure_code is None

    @property
    def process_types(self) -> dict[str, str]:
        return self.report.process_types

    @property
    def addons(self) -> list[str]:
        return self.report.addons

    def announce_release(self, out: Output, version: int, web_url: str) -> None:
        """The platform's Launching lines, once the release exists (heroku-reference §2)."""
        if self.profile.legacy:
            out.step(f"Launching... done, v{version}")
            out.indent(f"{web_url} deployed to cedarbox")
        else:
            out.step("Launching...")
            out.indent(f"Released v{version}")
            out.indent(f"{web_url} deployed to cedarbox")
        out.line()


def run_build(request: BuildRequest, out: Output, buildpacks: Sequence[Buildpack]) -> BuildResult:
    """Run every phase; return a result whose report says how it went.

    The caller has printed the profile's `start_lines` already. Scratch space is made beside the
    request's build directory, so everything of one build is in one place.
    """
    profile = load_profile(request.stack)
    report = BuildReport(
        app=request.app,
        stack=request.stack,
        source_version=request.source_version,
        build_id=request.build_id,
    )
    result = BuildResult(report=report, profile=profile)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pipeline-", dir=request.build_dir.parent) as scratch:
        ctx = BuildContext(
            request=request,
            profile=profile,
            out=out,
            report=report,
            env=build_environment(request, home=Path(scratch) / "home"),
            deadline=time.monotonic() + request.settings.build_timeout,
            scratch=Path(scratch),
        )
        (Path(scratch) / "home").mkdir()
        _introduce(ctx)
        phase = "detect"
        try:
            _check_sandbox(ctx)
            with report.phase("detect"):
                buildpack = detect(ctx, buildpacks)
            phase = "compile"
            with report.phase("restore"):
                cache = ctx.cache = restore.restore(ctx)
            with report.phase("compile"):
                keep = compile_phase.compile(ctx, buildpack)
                hand_over(ctx)
            with report.phase("release"):
                metadata = release.release(ctx, buildpack)
            report.process_types, report.addons = metadata.process_types, metadata.addons
            phase = "export"
            with report.phase("export") as record:
                exported = None
                if request.slug_path is None:
                    record.outcome = "skipped"
                else:
                    exported = export.export(ctx, request.slug_path, cache, keep)
            with report.phase("save-cache"):
                save.save(ctx, cache, keep, exported)
            report.outcome = "succeeded"
        except BuildError as exc:
            report.outcome = "failed"
            report.failure_code = exc.code
            report.failure_summary = exc.summary
            _print_failure(ctx, exc, phase)
        finally:
            report.duration_seconds = round(time.monotonic() - started, 3)
            # A failed build leaves no slug, whichever phase failed (the export, too large).
            if request.slug_path is not None and not result.succeeded:
                request.slug_path.unlink(missing_ok=True)
            shutil.rmtree(Path(scratch) / "home", ignore_errors=True)
    return result


def _check_sandbox(ctx: BuildContext) -> None:
    """Refuse the build when app code cannot be sandboxed; say so when the operator opted out."""
    settings = ctx.request.settings
    if not sandbox_mode(ctx).enabled:
        ctx.out.bang("Sandbox off (CEDARBOX_SANDBOX=off): this build's code runs unconfined.")
    elif problem := cgroups.unavailable(settings.data_dir, settings.cgroups):
        ctx.out.bang(
            f"Limits: {problem}; processes are limited per app uid (prlimit), memory and "
            "CPU are not."
        )


def _introduce(ctx: BuildContext) -> None:
    """What follows the `start_lines`: the platform's notices, then the build's first steps."""
    if not ctx.profile.legacy:
        if ctx.request.submodules:
            _warn_submodules(ctx)  # its block brings the blank line
        else:
            ctx.out.line()
        ctx.out.step(f"Building on the {ctx.profile.display_name} stack")
        ctx.out.step("Determining which buildpack to use for this app")
    elif ctx.request.submodules:
        _warn_submodules(ctx)


def _warn_submodules(ctx: BuildContext) -> None:
    """The platform's warning that git submodules are empty directories in this build."""
    paths = ctx.request.submodules
    shown = [f"  {printable(path, 100)}" for path in paths[:MAX_SHOWN_SUBMODULES]]
    if len(paths) > MAX_SHOWN_SUBMODULES:
        shown.append(f"  ... and {len(paths) - MAX_SHOWN_SUBMODULES} more")
    summary = "Git submodules are not included in the build."
    body = [
        "Your app's Git tree has submodules, which cedarbox never fetches. These",
        "directories are empty in the build and in the slug:",
        *shown,
        "",
        "If your app needs that code, commit the files themselves instead of a",
        "submodule, or install the code as a package from requirements.txt.",
    ]
    if ctx.profile.legacy:
        ctx.out.bang("\n".join([summary, *(line for line in body if line)]))
    else:
        ctx.out.warning(summary, body)
    ctx.report.warn(summary)


def _print_failure(ctx: BuildContext, exc: BuildError, phase: str) -> None:
    out = ctx.out
    if exc.code == "NO_BUILDPACK":
        print_no_detect(ctx)
    elif ctx.profile.legacy:
        lines = exc.legacy_lines if exc.legacy_lines is not None else [exc.summary, *exc.body]
        if lines:  # [] : the 2015 buildpack printed nothing of its own
            out.bang("\n".join(lines))
        out.line()
    else:
        out.error(exc.summary, exc.body)  # a block, blank lines around it
    if phase == "compile":
        out.bang(f"Push rejected, failed to compile {ctx.report.buildpack or 'Python'} app.")
    out.line()
    out.bang("Push failed")
