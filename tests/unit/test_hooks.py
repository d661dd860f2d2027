"""bin/pre_compile and bin/post_compile: run as Heroku runs them, never chmod outside the app."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gitserver.buildpacks.python.hooks import run_hook
from gitserver.pipeline.errors import BuildError
from tests.unit.buildctx import make_context


def test_a_hook_linked_inside_the_app_is_made_executable_and_runs(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={"scripts/pre.sh": "#!/bin/sh\necho from the hook\n"})
    (ctx.build_dir / "bin").mkdir()
    (ctx.build_dir / "bin" / "pre_compile").symlink_to("../scripts/pre.sh")
    run_hook(ctx, "pre_compile")
    assert ctx.out.transcript == ["-----> Running bin/pre_compile hook", "       from the hook"]
    assert (ctx.build_dir / "scripts" / "pre.sh").stat().st_mode & stat.S_IXUSR


def test_a_hook_linked_out_of_the_app_keeps_its_mode_and_fails_cleanly(tmp_path: Path) -> None:
    outside = tmp_path / "outside.sh"
    outside.write_text("#!/bin/sh\necho followed\n")
    mode = outside.stat().st_mode
    ctx = make_context(tmp_path)
    (ctx.build_dir / "bin").mkdir()
    (ctx.build_dir / "bin" / "pre_compile").symlink_to(outside)
    with pytest.raises(BuildError) as info:
        run_hook(ctx, "pre_compile")
    assert info.value.code == "HOOK_FAILED"
    assert info.value.body[0] == (
        "The bin/pre_compile script could not be started: Permission denied."
    )
    assert outside.stat().st_mode == mode


def test_a_hook_with_a_missing_interpreter_fails_with_a_message(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={"bin/post_compile": "#!/no/such/interpreter\n"})
    with pytest.raises(BuildError) as info:
        run_hook(ctx, "post_compile")
    assert (info.value.code, info.value.summary) == (
        "HOOK_FAILED",
        "Failed to run the bin/post_compile script.",
    )
    assert info.value.body[0] == (
        "The bin/post_compile script could not be started: No such file or directory."
    )
