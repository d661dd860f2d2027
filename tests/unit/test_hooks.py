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


PRINT_ENV = "#!/bin/sh\nenv | sort\n"


def _hook_env(ctx_lines: list[str]) -> dict[str, str]:
    pairs = (line.strip().split("=", 1) for line in ctx_lines[1:] if "=" in line)
    return {k: v for k, v in pairs}


def test_hooks_see_config_vars_and_the_buildpacks_variables(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={"bin/pre_compile": PRINT_ENV})
    (ctx.request.env_dir / "SOME_APP_CONFIG_VAR").write_text("1\n")
    (ctx.request.env_dir / "LD_PRELOAD").write_text("/tmp/evil.so")  # never taken from config
    (ctx.request.env_dir / "PATH").write_text("/nowhere")
    run_hook(ctx, "pre_compile")
    env = _hook_env(ctx.out.transcript)
    python = ctx.build_dir / ".heroku" / "python"
    assert env["SOME_APP_CONFIG_VAR"] == "1"
    assert "LD_PRELOAD" not in env
    assert env["PATH"].split(":")[0] == str(python / "bin")
    assert "/nowhere" not in env["PATH"]
    assert env["BUILD_DIR"] == str(ctx.build_dir)
    assert env["ENV_DIR"] == str(ctx.request.env_dir)
    assert env["CACHE_DIR"] == str(ctx.scratch / "cache")  # the build's own copy
    assert (env["STACK"], env["SOURCE_VERSION"]) == ("heroku-24", "0" * 40)
    assert (env["LANG"], env["PYTHONUNBUFFERED"]) == ("en_US.UTF-8", "1")
    assert env["C_INCLUDE_PATH"] == env["CPLUS_INCLUDE_PATH"] == str(python / "include")
    assert env["LIBRARY_PATH"] == env["LD_LIBRARY_PATH"] == str(python / "lib")
    assert env["PKG_CONFIG_PATH"] == str(python / "lib" / "pkg-config")


def test_cedar_14_hooks_see_config_vars_only(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, stack="cedar-14", files={"bin/pre_compile": PRINT_ENV})
    (ctx.request.env_dir / "SOME_APP_CONFIG_VAR").write_text("x")
    run_hook(ctx, "pre_compile")
    env = _hook_env(ctx.out.transcript)
    assert env["SOME_APP_CONFIG_VAR"] == "x"
    assert "CACHE_DIR" not in env and "PYTHONUNBUFFERED" not in env
