"""Poetry's and Pipenv's pure parts: cache reasons, their tool environments, Pipfile.lock errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitserver.buildpacks.python.managers.pipenv import Pipenv
from gitserver.buildpacks.python.managers.poetry import Poetry
from gitserver.buildpacks.python.managers.toolvenv import installed
from gitserver.buildpacks.python.versionfiles import parse_pipfile_lock
from gitserver.pipeline.errors import BuildError


def test_pipenv_discards_for_a_changed_lock_or_pin(tmp_path: Path) -> None:
    manager = Pipenv(tmp_path / "Pipfile.lock")
    before = {"pipenv_version": "2026.7.1", "lockfile_sha256": "a"}
    assert manager.discard_reasons(before, dict(before)) == []
    assert manager.discard_reasons(before, {**before, "lockfile_sha256": "b"}) == [
        "The contents of Pipfile.lock changed"
    ]
    assert manager.discard_reasons(
        before, {"pipenv_version": "2027.1.0", "lockfile_sha256": "b"}
    ) == [
        "The Pipenv version has changed from 2026.7.1 to 2027.1.0",
        "The contents of Pipfile.lock changed",
    ]
    # A cache from before the lock's digest was kept: no reason (the buildpack's rule too).
    assert manager.discard_reasons({"pipenv_version": "2026.7.1"}, before) == []


def test_poetry_discards_only_for_its_pin(tmp_path: Path) -> None:
    """`poetry sync` removes what the lock drops, so a changed lock keeps the cache."""
    manager = Poetry(tmp_path / "poetry.lock")
    before = {"poetry_version": "2.2.1", "lockfile_sha256": "a"}
    assert manager.discard_reasons(before, {**before, "lockfile_sha256": "b"}) == []
    assert manager.discard_reasons(before, {"poetry_version": "2.4.1", "lockfile_sha256": "a"}) == [
        "The Poetry version has changed from 2.2.1 to 2.4.1"
    ]


def test_a_tool_environment_is_installed_only_if_its_script_resolves(tmp_path: Path) -> None:
    root = tmp_path / "python-poetry"
    assert not installed(root, "poetry")
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "poetry").symlink_to(Path("..") / "venv" / "bin" / "poetry")
    assert not installed(root, "poetry")  # a broken link: reinstall
    (root / "venv" / "bin").mkdir(parents=True)
    (root / "venv" / "bin" / "poetry").write_text("#!/bin/sh\n")
    assert installed(root, "poetry")
    moved = tmp_path / "elsewhere"
    root.rename(moved)
    assert installed(moved, "poetry")  # the link is relative: the cache may move


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('{"_meta": {"requires": {"python_version": "^3.12"}}}', "^3.12"),
        ('{"_meta": {"requires": {"python_full_version": "3.9.*"}}}', "3.9.*"),
        ('{"_meta": {"requires": {"python_version": 3.12}}}', "3.12"),
    ],
)
def test_pipfile_lock_invalid_version(text: str, shown: str) -> None:
    with pytest.raises(BuildError) as info:
        parse_pipfile_lock(text, "3.14")
    exc = info.value
    assert (exc.code, exc.summary) == (
        "PYTHON_VERSION_INVALID",
        "Invalid Python version in Pipfile.lock.",
    )
    assert exc.body[:5] == [
        "The Python version specified in your Pipfile.lock file by the",
        "'python_version' or 'python_full_version' fields isn't valid.",
        "",
        "The following version was found:",
        shown,
    ]
    assert "1. The major version only, for example: 3.14 (recommended)" in exc.body


def test_pipfile_lock_invalid_json_and_odd_shapes() -> None:
    with pytest.raises(BuildError) as info:
        parse_pipfile_lock('{"_meta": nope}', "3.14")
    assert info.value.code == "PIPFILE_LOCK_INVALID"
    assert info.value.body[0] == "A Pipfile.lock file was found, however, it couldn't be parsed:"
    assert info.value.body[-1] == "Run 'pipenv lock' to regenerate/fix the lockfile."
    # Valid JSON without the optional fields names no version.
    for text in ("[]", '{"_meta": []}', '{"_meta": {"requires": "3.12"}}', "{}"):
        assert parse_pipfile_lock(text, "3.14") is None
    full = {"_meta": {"requires": {"python_full_version": "3.12.3", "python_version": "3.12"}}}
    assert parse_pipfile_lock(json.dumps(full), "3.14") == "3.12.3"
