"""The package-manager layer: pins as profile data, cache reasons, uv's checks and its tool step."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitserver.buildpacks.python import cache_rules
from gitserver.buildpacks.python.managers import MANAGERS, Manager
from gitserver.buildpacks.python.managers.pip import Pip
from gitserver.buildpacks.python.managers.uv import Uv
from gitserver.buildpacks.python.piprunner import LineFilter
from gitserver.buildpacks.python.resolution import VersionRequest
from gitserver.buildpacks.python.rules import load_rules
from gitserver.pipeline.errors import BuildError
from tests.unit.buildctx_pkg import chosen, current_interpreter, make_ctx

REQUIREMENTS = "requirements.txt"


def test_every_manager_has_a_module_and_heroku_24_pins_the_buildpacks_versions() -> None:
    assert {m.name for m in MANAGERS.values()} == {"pip", "uv", "poetry", "pipenv"}
    pins = load_rules("heroku-24").package_managers
    # heroku-buildpack-python's requirements/uv.txt, poetry.txt and pipenv.txt.
    assert {name: rules.version for name, rules in pins.items()} == {
        "uv": "0.12.5",
        "poetry": "2.4.1",
        "pipenv": "2026.7.1",
    }
    assert pins["uv"].command == ("sync", "--locked")
    assert pins["uv"].outside_ci_args == ("--no-default-groups",)
    assert dict(load_rules("cedar-14").package_managers) == {}


def metadata(manager: str, **values: str) -> dict[str, str]:
    return {"stack": "heroku-24", "python_version": "3.12.14", "package_manager": manager, **values}


def reasons(manager: Manager, previous: dict[str, str], current: dict[str, str]) -> list[str]:
    return cache_rules.discard_reasons(previous, current, manager)


def test_cache_reasons_in_the_buildpacks_words(tmp_path: Path) -> None:
    uv, pip = Uv(tmp_path / "uv.lock"), Pip(tmp_path / REQUIREMENTS)
    switched = reasons(uv, metadata("pip", pip_version="26.2.1"), metadata("uv", uv_version="1"))
    assert switched == ["The package manager has changed from pip to uv"]
    upgraded = reasons(uv, metadata("uv", uv_version="0.8.23"), metadata("uv", uv_version="0.12.5"))
    assert upgraded == ["The uv version has changed from 0.8.23 to 0.12.5"]
    # uv manages the environment exactly: a new lock reuses the cache (uv adds and removes).
    relocked = reasons(
        uv,
        metadata("uv", uv_version="0.12.5", lockfile_sha256="a"),
        metadata("uv", uv_version="0.12.5", lockfile_sha256="b"),
    )
    assert relocked == []
    pip_changed = reasons(
        pip,
        metadata("pip", pip_version="25.0", requirements_sha256="a"),
        metadata("pip", pip_version="26.2.1", requirements_sha256="b"),
    )
    assert pip_changed == [
        "The pip version has changed from 25.0 to 26.2.1",
        "The contents of requirements.txt changed",
    ]


@pytest.mark.parametrize(
    ("source", "code", "summary"),
    [
        ("runtime.txt", "UV_RUNTIME_TXT", "The runtime.txt file isn't supported when using uv."),
        ("default", "UV_PYTHON_VERSION_MISSING", "No Python version was specified."),
        ("sticky", "UV_PYTHON_VERSION_MISSING", "No Python version was specified."),
    ],
)
def test_uv_wants_a_python_version_file(
    tmp_path: Path, source: str, code: str, summary: str
) -> None:
    ctx = make_ctx(tmp_path)
    uv = Uv(ctx.build_dir / "uv.lock")
    uv.check_python_request(ctx, VersionRequest("3.12", ".python-version", "3.12"), "3.12")
    with pytest.raises(BuildError) as info:
        uv.check_python_request(ctx, VersionRequest("3.13", source, None), "3.13")
    assert (info.value.code, info.value.summary) == (code, summary)
    assert any("'uv python pin 3.13'" in line for line in info.value.body)


def test_uv_without_its_wheel_or_a_host_uv_fails_saying_how_to_fix_it(tmp_path: Path) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    ctx = make_ctx(tmp_path, tool_wheels=empty, extra_env={"PATH": "/nonexistent"})
    uv = Uv(ctx.build_dir / "uv.lock")
    with pytest.raises(BuildError) as info:
        uv.install_tool(ctx, chosen(current_interpreter()))
    assert (info.value.code, info.value.summary) == ("UV_INSTALL_FAILED", "Unable to install uv.")
    assert f"The pinned uv 0.12.5 wheel is not in {empty}, and there is no" in info.value.body
    assert ctx.out.transcript == ["-----> Installing uv 0.12.5"]


def test_uv_is_unpacked_into_the_build_cache_and_reused(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    uv = Uv(ctx.build_dir / "uv.lock")
    wheels = ctx.request.settings.tool_wheels
    assert list(wheels.glob("uv-0.12.5-*.whl")), f"no uv wheel in {wheels}: run `make install`"
    python = chosen(current_interpreter())
    tool = uv.install_tool(ctx, python)
    binary = ctx.scratch / "cache" / ".heroku" / "python-uv" / "uv"
    assert binary.is_file() and binary.stat().st_mode & 0o111
    assert uv.cache_entries(ctx) == {"python-uv": binary.parent}
    assert tool.env["UV_PROJECT_ENVIRONMENT"] == str(ctx.build_dir / ".heroku" / "python")
    assert tool.env["PATH"].startswith(f"{binary.parent}:")
    assert (tool.env["UV_PYTHON_DOWNLOADS"], tool.env["UV_NO_MANAGED_PYTHON"]) == ("never", "1")
    again = uv.install_tool(ctx, python)
    assert again.version == "0.12.5"
    assert ctx.out.transcript == ["-----> Installing uv 0.12.5", "-----> Using cached uv 0.12.5"]


def test_pip_lines_lose_only_the_site_packages_path() -> None:
    rules = load_rules("heroku-24").pip
    tidy = LineFilter(rules.hide_lines, strip=rules.strip_patterns)
    line = (
        "Requirement already satisfied: typing-extensions==4.15.0 in "
        "/tmp/b/.heroku/python/lib/python3.14/site-packages (from -r requirements.txt (line 5)) "
        "(4.15.0)"
    )
    assert tidy.keep(line)
    assert tidy.tidy(line) == (
        "Requirement already satisfied: typing-extensions==4.15.0 "
        "(from -r requirements.txt (line 5)) (4.15.0)"
    )


def test_without_the_pinned_wheel_a_uv_on_the_hosts_path_stands_in_and_the_build_says_so(
    tmp_path: Path,
) -> None:
    from tests.support.uvproject import uv_binary

    host = uv_binary(tmp_path / "host-bin")  # the real uv, as if installed on the host
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    ctx = make_ctx(tmp_path, tool_wheels=empty, extra_env={"PATH": f"{host.parent}:/usr/bin:/bin"})
    uv = Uv(ctx.build_dir / "uv.lock")
    python = chosen(current_interpreter())
    assert uv.tool_version(ctx, python) == "0.12.5"  # what the host's uv says it is
    tool = uv.install_tool(ctx, python)
    note = (
        f"Note: The pinned uv 0.12.5 wheel is not in {empty}; using uv 0.12.5 ({host}) instead. "
        "Run `make install` (or set CEDARBOX_TOOL_WHEELS) to provide it."
    )
    assert ctx.out.transcript == ["-----> Installing uv 0.12.5", f"       {note}"]
    assert ctx.report.warnings == [note.removeprefix("Note: ")]
    assert tool.env["PATH"].startswith(f"{host.parent}:")
    assert not (ctx.scratch / "cache" / ".heroku" / "python-uv" / "uv").exists()
