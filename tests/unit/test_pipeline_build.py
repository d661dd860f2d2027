"""The pipeline's fast tier: run_build with a recording buildpack, real files in tmp dirs.

Pins the phase order and the report, how failures print on both stacks, that a failed build
leaves no slug, and that only a successful build commits the cache.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from gitserver.output import Output
from gitserver.pipeline.build import BuildResult, run_build
from gitserver.pipeline.context import BuildRequest, build_environment
from gitserver.runner.environment import dyno_environment
from gitserver.settings import Settings
from tests.support.fakes import FakeBuildpack
from tests.support.noop_buildpack import COMPILED, NoopBuildpack

PHASES = ["detect", "restore", "compile", "release", "export", "save-cache"]
PROCFILE = "web: python -m http.server $PORT\nworker: python work.py\n"


def request(
    tmp: Path, *, stack: str = "heroku-24", slug: bool = True, **settings: int
) -> BuildRequest:
    """A build of a two-file app for `demo`, its cache under tmp/cache (kept across builds)."""
    build_dir = tmp / f"build{len(list(tmp.glob('build*')))}"
    build_dir.mkdir(parents=True)
    (build_dir / "Procfile").write_text(PROCFILE)
    (build_dir / "app.py").write_text("print('hi')\n")
    env_dir = build_dir.with_name(build_dir.name + "-env")
    env_dir.mkdir()
    return BuildRequest(
        app="demo",
        stack=stack,
        build_dir=build_dir,
        cache_root=tmp / "cache",
        env_dir=env_dir,
        slug_path=build_dir.with_name(build_dir.name + ".tgz") if slug else None,
        source_version="a" * 40,
        settings=Settings(data_dir=tmp / "data", **settings),  # type: ignore[arg-type]
    )


def build(
    req: BuildRequest, *packs: FakeBuildpack | NoopBuildpack
) -> tuple[BuildResult, list[str]]:
    out = Output(io.BytesIO(), colour_blocks=False)
    return run_build(req, out, packs), out.transcript


def phases(result: BuildResult) -> list[tuple[str, str]]:
    return [(p.name, p.outcome) for p in result.report.phases]


def test_a_successful_build_runs_every_phase_in_order_and_reports_it(tmp_path: Path) -> None:
    pack = FakeBuildpack(addons=["heroku-postgresql"], default_process_types={"web": "default"})
    req = request(tmp_path)
    result, lines = build(req, pack)

    assert result.succeeded
    assert pack.calls == ["detect", "compile", "release"]
    assert phases(result) == [(name, "succeeded") for name in PHASES]
    report = result.report
    assert (report.outcome, report.failure_code, report.buildpack) == ("succeeded", None, "Fake")
    # The Procfile wins over the buildpack's default types.
    types = {"web": "python -m http.server $PORT", "worker": "python work.py"}
    assert result.process_types == report.process_types == types
    assert result.addons == report.addons == ["heroku-postgresql"]
    assert lines[:4] == [
        "",
        "-----> Building on the Heroku-24 stack",
        "-----> Determining which buildpack to use for this app",
        "-----> Fake app detected",
    ]
    assert lines[4:8] == [
        "-----> Discovering process types",
        "       Procfile declares types -> web, worker",
        "",
        "-----> Compressing...",
    ]
    assert lines[8].startswith("       Done: ") and len(lines) == 9
    assert req.slug_path is not None and req.slug_path.stat().st_size == report.slug_size_bytes
    assert report.duration_seconds >= sum(p.duration_seconds for p in report.phases) - 0.01
    assert json.loads(json.dumps(report.to_json()))["phases"][0]["name"] == "detect"


def test_the_first_buildpack_that_detects_builds(tmp_path: Path) -> None:
    refuses, accepts = FakeBuildpack(name="First", accepts=False), FakeBuildpack(name="Second")
    result, lines = build(request(tmp_path), refuses, accepts)
    assert result.succeeded and result.report.buildpack == "Second"
    assert refuses.calls == ["detect"]
    assert accepts.calls == ["detect", "compile", "release"]
    assert "-----> Second app detected" in lines
    assert not any("First app detected" in line for line in lines)


def test_without_a_slug_path_export_is_skipped(tmp_path: Path) -> None:
    result, lines = build(request(tmp_path, slug=False), FakeBuildpack())
    assert result.succeeded
    assert ("export", "skipped") in phases(result)
    assert "-----> Compressing..." not in lines
    assert result.report.slug_size_bytes is None


def test_no_buildpack_detected_prints_the_platform_hint_and_compiles_nothing(
    tmp_path: Path,
) -> None:
    pack = FakeBuildpack(accepts=False)
    req = request(tmp_path)
    result, lines = build(req, pack)
    assert not result.succeeded
    assert result.report.failure_code == "NO_BUILDPACK"
    assert pack.calls == ["detect"]
    assert phases(result) == [("detect", "failed")]
    assert lines[3:] == [
        " !     No default language could be detected for this app.",
        "\t\t\tHINT: This occurs when cedarbox cannot detect the buildpack to use for this "
        "application automatically.",
        "\t\t\tA Python app needs requirements.txt (or another Python project file) at the root "
        "of the repository.",
        "",
        " !     Push failed",
    ]
    assert req.slug_path is not None and not req.slug_path.exists()


@pytest.mark.parametrize("step", ["compile", "release"])
def test_a_buildpack_error_prints_its_block_and_rejects_the_push(tmp_path: Path, step: str) -> None:
    pack = FakeBuildpack(fail_in=step)
    req = request(tmp_path)
    assert req.slug_path is not None
    req.slug_path.write_bytes(b"a slug left by an earlier attempt")
    result, lines = build(req, pack)

    assert not result.succeeded
    report = result.report
    assert report.outcome == "failed"
    assert report.failure_code == f"FAKE_{step.upper()}_FAILED"
    assert report.failure_summary == f"The fake buildpack failed in {step}."
    ran = PHASES[: PHASES.index(step) + 1]
    assert phases(result) == [(name, "succeeded") for name in ran[:-1]] + [(step, "failed")]
    tail = lines[lines.index("-----> Fake app detected") + 1 :]
    # A failing release step fails before the process types are shown, as compile does.
    assert tail == [
        "",
        f" !     Error: The fake buildpack failed in {step}.",
        " !     ",
        " !     As the test asked it to.",
        "",
        " !     Push rejected, failed to compile Fake app.",
        "",
        " !     Push failed",
    ]
    assert not req.slug_path.exists(), "a failed build leaves no slug"


def test_cedar_14_prints_a_failure_as_plain_bang_lines(tmp_path: Path) -> None:
    result, lines = build(request(tmp_path, stack="cedar-14"), FakeBuildpack(fail_in="compile"))
    assert not result.succeeded
    assert lines == [
        "-----> Fake app detected",
        " !     The fake buildpack failed in compile.",
        " !     As the test asked it to.",
        "",
        " !     Push rejected, failed to compile Fake app.",
        "",
        " !     Push failed",
    ]


def test_a_slug_over_the_limit_fails_the_build_and_is_removed(tmp_path: Path) -> None:
    req = request(tmp_path, slug_max_bytes=1)
    result, lines = build(req, FakeBuildpack())
    assert result.report.failure_code == "SLUG_TOO_LARGE"
    assert phases(result)[-1] == ("export", "failed")
    assert any("is too large (max is" in line for line in lines)
    assert " !     Push rejected, failed to compile Fake app." not in lines
    assert lines[-1] == " !     Push failed"
    assert req.slug_path is not None and not req.slug_path.exists()


def cached(tmp: Path) -> dict[str, str]:
    """The last good cache: each entry's content and the metadata the buildpack saved."""
    current = tmp / "cache" / "current"
    entries = {p.name: (p / "content").read_text() for p in current.iterdir() if p.is_dir()}
    return {**entries, "metadata": (current / "metadata.json").read_text()}


def test_only_a_successful_build_commits_the_cache(tmp_path: Path) -> None:
    first = FakeBuildpack(keep={"deps": "v1"})
    assert build(request(tmp_path), first)[0].succeeded
    assert first.taken == {"deps": False}
    saved = cached(tmp_path)
    assert saved["deps"] == "v1"
    assert json.loads(saved["metadata"]) == {"fake": ["deps"]}

    failing = FakeBuildpack(keep={"deps": "v2"}, fail_in="release")
    assert not build(request(tmp_path), failing)[0].succeeded
    assert failing.taken == {"deps": True}
    assert cached(tmp_path) == saved, "a failed build never touches the last good cache"

    again = FakeBuildpack(keep={"deps": "v3"})
    assert build(request(tmp_path), again)[0].succeeded
    assert again.taken == {"deps": True}
    assert cached(tmp_path)["deps"] == "v3"


@dataclass
class Taker:
    """A TreeTaker that moves each build directory it is given under `into`."""

    into: Path
    wants: bool = True
    trees: list[Path] = field(default_factory=list)

    def wanted(self, process_types: Mapping[str, str]) -> bool:
        return self.wants and "web" in process_types

    def take(self, build_dir: Path) -> bool:
        self.into.mkdir(exist_ok=True)
        dest = self.into / str(len(self.trees))
        build_dir.rename(dest)
        self.trees.append(dest)
        return True


def test_the_build_directory_is_handed_over_while_its_cached_subtree_is_unchanged(
    tmp_path: Path,
) -> None:
    taker = Taker(tmp_path / "taken")

    def cached_deps(tmp: Path) -> str:
        return (tmp / "cache" / "current" / "deps" / "content").read_text()

    def push(content: str, *, wants: bool = True) -> BuildResult:
        taker.wants = wants
        req = replace(request(tmp_path), tree_taker=taker)
        result, _ = build(req, FakeBuildpack(keep={"deps": content}, in_build_dir=True))
        assert result.succeeded
        return result

    assert not push("v1").report.tree_handed_over  # the new cache took `deps` out of the tree
    assert push("v1").report.tree_handed_over
    tree = taker.trees[-1]
    assert (tree / "deps" / "content").read_text() == "v1" and (tree / "app.py").is_file()
    assert cached_deps(tmp_path) == "v1"  # the cache kept its own copy
    assert not push("v2").report.tree_handed_over  # changed: the cache takes the build's
    assert cached_deps(tmp_path) == "v2"
    assert not push("v2", wants=False).report.tree_handed_over
    assert len(taker.trees) == 1 and cached_deps(tmp_path) == "v2"


def test_a_discarded_cache_is_not_taken_but_stays_until_a_build_succeeds(tmp_path: Path) -> None:
    build(request(tmp_path), FakeBuildpack(keep={"deps": "v1"}))
    discarding = FakeBuildpack(keep={"deps": "v2"}, discard_cache=True, fail_in="release")
    build(request(tmp_path), discarding)
    assert discarding.taken == {"deps": False}
    assert cached(tmp_path)["deps"] == "v1"

    replacing = FakeBuildpack(keep={"other": "x"}, discard_cache=True)
    assert build(request(tmp_path), replacing)[0].succeeded
    assert replacing.taken == {"other": False}
    saved = cached(tmp_path)
    assert "deps" not in saved and saved["other"] == "x"


def test_the_noop_buildpack_builds_any_tree_and_releases_the_procfile(tmp_path: Path) -> None:
    result, lines = build(request(tmp_path), NoopBuildpack())
    assert result.succeeded
    assert lines[3:7] == [
        "-----> Noop app detected",
        f"       {COMPILED}",
        "-----> Discovering process types",
        "       Procfile declares types -> web, worker",
    ]
    assert result.process_types == {
        "web": "python -m http.server $PORT",
        "worker": "python work.py",
    }


def test_pythonpath_set_for_the_noop_buildpack_reaches_no_build_and_no_dyno(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tests' servers put the checkout on PYTHONPATH so the hook can import tests.support.
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    env = build_environment(request(tmp_path), home=tmp_path / "home")
    assert "PYTHONPATH" not in env
    dyno = dyno_environment(os.environ, {}, home=tmp_path, dyno="web.1", port=5000)
    assert "PYTHONPATH" not in dyno
