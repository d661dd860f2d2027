"""Which pip runs may be replayed, and under which key (gitserver.buildpacks.python.pipnoop)."""

from __future__ import annotations

from pathlib import Path

from gitserver.buildpacks.python.pipnoop import (
    INDENTED,
    PLAIN,
    PipRun,
    kept_lines,
    plain_requirements,
    record,
)


def test_plain_requirements_are_names_specifiers_and_markers() -> None:
    assert plain_requirements("flask==3.0.0\n# comment\n\nclick>=8,<9  # pinned\n")
    assert plain_requirements("requests[socks]~=2.31; python_version >= '3.8'\n")
    for reaching_out in (
        "-r other.txt\n",
        "-e .\n",
        "./vendor/pkg\n",
        "pkg @ https://example.invalid/pkg.whl\n",
        "pkg==1.0 --hash=sha256:abc\n",
        "${PKG}\n",
        "git+https://example.invalid/x.git\n",
    ):
        assert not plain_requirements(reaching_out), reaching_out


ARGS = ("install", "-r", "requirements.txt")


def run(env: dict[str, str] | None = None, args: tuple[str, ...] = ARGS) -> PipRun:
    return PipRun("heroku-24", "flask\n", args, "26.2.1", env or {"PIP_FIND_LINKS": "/w"})


def test_settings_that_make_pip_upgrade_or_reinstall_are_never_replayed() -> None:
    assert run().replayable()
    assert not run({"PIP_UPGRADE": "1"}).replayable()
    assert not run(args=("install", "--force-reinstall", "-r", "r")).replayable()
    assert not run(args=("install", "-U", "-r", "r")).replayable()


def test_the_key_covers_the_environment_and_pip_settings(tmp_path: Path) -> None:
    env_dir = tmp_path / "python"
    (env_dir / "lib").mkdir(parents=True)
    (env_dir / "lib" / "mod.py").write_text("x = 1\n")
    key = run().key(env_dir)
    assert key is not None and run().key(env_dir) == key
    assert run({"PIP_FIND_LINKS": "/other"}).key(env_dir) != key
    assert run({"PIP_FIND_LINKS": "/w", "HOME": "/elsewhere"}).key(env_dir) == key
    (env_dir / "lib" / "mod.py").write_text("x = 2\n")
    assert run().key(env_dir) != key
    assert run().key(tmp_path / "missing") is None


def test_kept_lines_come_back_only_for_their_key() -> None:
    lines = [(INDENTED, "Requirement already satisfied: flask"), (PLAIN, "a warning")]
    kept = record("k1", lines)
    assert kept_lines(kept, "k1") == lines
    assert kept_lines(kept, "k2") is None
    assert kept_lines(None, "k1") is None
    assert kept_lines("not json", "k1") is None
    assert kept_lines('{"key": "k1", "lines": [["other", "x"]]}', "k1") is None
