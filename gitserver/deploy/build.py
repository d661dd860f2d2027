"""Build a pushed commit: clear what killed builds left, export the commit, run the pipeline."""

from __future__ import annotations

import tempfile
from pathlib import Path

from gitserver import trash
from gitserver.buildpacks import load_buildpacks
from gitserver.datadir import DataDir
from gitserver.deploy.source import export_commit, submodule_paths, write_env_dir
from gitserver.output import Output
from gitserver.pipeline.build import BuildResult, run_build
from gitserver.pipeline.context import BuildRequest, TreeTaker
from gitserver.records import App
from gitserver.runner import releasedirs
from gitserver.settings import Settings
from gitserver.store import Store

# A build's scratch directory is DATA/work/<app>.build-XXXX: app names have no dots, so the
# prefix names exactly one app.
_SCRATCH_SUFFIX = ".build-"


def end_interrupted_builds(store: Store, data: DataDir, app: str) -> None:
    """Builds whose hook was killed: mark them ended, delete their slugs, the trees unpacked
    from them for the runner, and their scratch space.

    Runs with the app's lock held, so no scratch directory of this app is in use.
    """
    slugs = data.slugs(app)
    for build_id in store.end_interrupted_builds(app):
        slug = slugs / f"{build_id}.tar.gz"
        releasedirs.discard_prepared(data.run(app), slug)
        slug.unlink(missing_ok=True)
        (slugs / f"{build_id}.tar.gz.partial").unlink(missing_ok=True)
    for scratch in data.work().glob(f"{app}{_SCRATCH_SUFFIX}*"):
        trash.discard(scratch)


def build_commit(
    *,
    git_dir: Path,
    app: App,
    sha: str,
    build_id: str,
    slug: Path,
    config: dict[str, str],
    sticky_runtime: str | None,
    data: DataDir,
    settings: Settings,
    out: Output,
    tree_taker: TreeTaker | None = None,
) -> BuildResult:
    """Export `sha` and the config vars into scratch space, then run the pipeline on them.

    Raises CedarboxError for a tree that can't be exported (before the pipeline runs); a
    build problem is a failed BuildResult. `tree_taker` may take the built tree (the slug's
    content) before the scratch space goes.
    """
    with tempfile.TemporaryDirectory(prefix=f"{app.name}{_SCRATCH_SUFFIX}", dir=data.work()) as tmp:
        work = Path(tmp)
        export_commit(git_dir, sha, work / "source")
        request = BuildRequest(
            app=app.name,
            stack=app.stack,
            build_dir=work / "source",
            cache_root=data.cache(app.name),
            env_dir=write_env_dir(work / "env", config),
            slug_path=slug,
            source_version=sha,
            settings=settings,
            build_id=build_id,
            sticky_runtime=sticky_runtime,
            submodules=submodule_paths(git_dir, sha),
            tree_taker=tree_taker,
        )
        return run_build(request, out, load_buildpacks(settings.buildpacks))
