"""Deploy.push ends every build exactly once, and a one-off dyno's name is claimed."""

from __future__ import annotations

import io
import json
import random
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from gitserver.applog import AppLog
from gitserver.deploy.deploy import Deploy
from gitserver.errors import BuildFailed, CedarboxError
from gitserver.output import Output
from gitserver.pipeline.profiles import load_profile
from gitserver.platform import Platform
from gitserver.runner.oneoff import OneOff, one_off
from gitserver.settings import Settings
from gitserver.store import open_store


def _commit(root: Path, files: dict[str, str]) -> tuple[Path, str]:
    """A repository holding one commit of `files`; returns its git dir and the commit."""
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return root / ".git", sha


def _push(
    tmp_path: Path, git_dir: Path, sha: str
) -> tuple[Platform, Output, pytest.ExceptionInfo[CedarboxError]]:
    platform = Platform.open(Settings(data_dir=tmp_path / "data", build_niceness=0))
    platform.create_app("shop", "heroku-24")
    out = Output(io.BytesIO(), colour_blocks=False)
    with pytest.raises(CedarboxError) as failed:
        Deploy.on(platform, out).push("shop", sha, branch="main", git_dir=git_dir, push_options=[])
    return platform, out, failed


def test_a_failed_build_is_finished_once_with_its_report_and_no_slug(tmp_path: Path) -> None:
    git_dir, sha = _commit(tmp_path / "src", {"README": "no Python here\n"})
    platform, out, failed = _push(tmp_path, git_dir, sha)
    assert isinstance(failed.value, BuildFailed) and failed.value.detail == "NO_BUILDPACK"
    [build] = platform.store.list_builds("shop")
    assert (build.status, build.failure_code) == ("failed", "NO_BUILDPACK")
    report = json.loads((platform.data.builds("shop") / f"{build.id}.json").read_text())
    assert (report["outcome"], report["failure_code"]) == ("failed", "NO_BUILDPACK")
    assert "release_phase" not in report  # no release command ran
    assert list(platform.data.slugs("shop").glob("*")) == []
    start = load_profile("heroku-24").start_lines
    assert out.transcript[: len(start)] == list(start)  # the first lines, before the build's
    assert platform.store.current_release("shop") is None


def test_an_unexportable_commit_ends_the_build_before_the_pipeline(tmp_path: Path) -> None:
    git_dir, _ = _commit(tmp_path / "src", {"requirements.txt": ""})
    platform, _, failed = _push(tmp_path, git_dir, "1" * 40)  # no such commit
    assert failed.value.code.startswith("SOURCE_")  # git archive wrote no tree
    [build] = platform.store.list_builds("shop")
    assert (build.status, build.failure_code) == ("failed", failed.value.code)
    assert not (platform.data.builds("shop") / f"{build.id}.json").exists()
    assert not list(platform.data.work().glob("shop.build-*"))


def test_one_offs_claim_distinct_names_and_release_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path / "state.db")
    store.create_app("shop", "heroku-24")
    log = AppLog(tmp_path / "shop.log")
    numbers = iter([1234, 1234, 5678])
    monkeypatch.setattr(random, "randint", lambda a, b: next(numbers))

    def claim() -> AbstractContextManager[OneOff]:
        return one_off(store, log, app="shop", kind="release", release_version=0, command="true")

    with claim() as first, claim() as second:
        assert (first.name, second.name) == ("release.1234", "release.5678")
        assert {d.name for d in store.dynos("shop")} == {"release.1234", "release.5678"}
    assert store.dynos("shop") == []
