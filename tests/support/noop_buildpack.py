"""A buildpack that detects every app and compiles nothing, for pushes whose build is not
what a test checks (receive protocol, HTTP, runner, router, CLI).

Selected with CEDARBOX_BUILDPACKS=tests.support.noop_buildpack:NoopBuildpack
(tests.support.server.noop_build_env). Its build prints `-----> Noop app detected` and one
line of its own; the pipeline's release phase still declares the Procfile's process types.
"""

from __future__ import annotations

from gitserver.pipeline.buildpack import CacheToSave, ReleaseMetadata
from gitserver.pipeline.context import BuildContext

COMPILED = "Nothing to compile."


class NoopBuildpack:
    name = "Noop"

    def detect(self, ctx: BuildContext) -> bool:
        return True

    def compile(self, ctx: BuildContext) -> CacheToSave:
        ctx.out.indent(COMPILED)
        return CacheToSave()  # nothing to keep for the next build

    def release(self, ctx: BuildContext) -> ReleaseMetadata:
        return ReleaseMetadata()  # the process types are the Procfile's alone
