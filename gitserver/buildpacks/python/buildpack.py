"""The Python buildpack's detect / compile / release, as a sequence of named steps.

Each step lives in its own module and prints its own lines:
  hooks        bin/pre_compile and bin/post_compile
  checks       paths the build writes; the package manager (managers/: exactly one file)
  version      which Python the app asked for, and which host interpreter provides it
  cache_rules  keep or discard the cached `.heroku` (and why), and what to save
  runtime      `.heroku/python`: the relocatable environment the slug runs
  managers     the package manager's tool (pip, uv, …), then the app's dependencies
  django       collectstatic, and the Postgres add-on in release metadata
"""

from __future__ import annotations

from gitserver.buildpacks.python import (
    cache_rules,
    checks,
    django,
    hooks,
    managers,
    runtime,
    version,
)
from gitserver.buildpacks.python.rules import rules_of
from gitserver.pipeline.buildpack import CacheToSave, ReleaseMetadata
from gitserver.pipeline.context import BuildContext


class PythonBuildpack:
    name = "Python"

    def detect(self, ctx: BuildContext) -> bool:
        root, rules = ctx.build_dir, rules_of(ctx)
        return any((root / f).is_file() for f in rules.detect_files) or any(
            (root / d).is_dir() for d in rules.detect_dirs
        )

    def compile(self, ctx: BuildContext) -> CacheToSave:
        hooks.run_hook(ctx, "pre_compile")
        checks.check_build_paths(ctx)  # after the hook: nothing below writes through a symlink
        manager = checks.check_package_manager(ctx)
        python = version.choose_python(ctx, manager.check_python_request)
        cache_rules.restore(ctx, python, manager)
        runtime.install_python(ctx, python)
        managers.install(ctx, python, manager)
        django.collectstatic(ctx, python)
        hooks.run_hook(ctx, "post_compile")
        return cache_rules.prepare_save(ctx, python, manager)

    def release(self, ctx: BuildContext) -> ReleaseMetadata:
        return ReleaseMetadata(addons=django.addons(ctx))
