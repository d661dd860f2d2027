"""Package-manager checks: exactly one supported file (heroku-24), requirements.txt (cedar-14)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitserver.build.errors import BuildError
from gitserver.build.python.checks import check_package_manager
from tests.unit.buildctx_pkg import make_ctx


def check_error(tmp_path: Path, stack: str = "heroku-24", **files: str) -> BuildError:
    ctx = make_ctx(tmp_path, stack, files={k.replace("__", "."): v for k, v in files.items()})
    with pytest.raises(BuildError) as info:
        check_package_manager(ctx)
    return info.value


def test_requirements_txt_is_pip(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, files={"requirements.txt": "flask\n", "setup.py": ""})
    manager = check_package_manager(ctx)
    assert manager.name == "pip"
    assert manager.requirements == ctx.build_dir / "requirements.txt"
    assert not manager.generated


def test_empty_requirements_txt_is_valid(tmp_path: Path) -> None:
    for stack in ("heroku-24", "cedar-14"):
        ctx = make_ctx(tmp_path / stack, stack, files={"requirements.txt": ""})
        assert check_package_manager(ctx).name == "pip"


def test_no_package_manager_lists_the_root_directory(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, files={"app.py": "", "static/x.css": "", ".env": ""})
    with pytest.raises(BuildError) as info:
        check_package_manager(ctx)
    err = info.value
    assert err.code == "NO_PACKAGE_MANAGER"
    assert err.summary == "Couldn't find any supported Python package manager files."
    assert "app.py" in err.body and "static/" in err.body
    assert ".env" not in err.body  # like `ls -1`: no dotfiles


def test_multiple_package_managers(tmp_path: Path) -> None:
    err = check_error(tmp_path, requirements__txt="", poetry__lock="")
    assert err.code == "MULTIPLE_PACKAGE_MANAGERS"
    assert err.summary == "Multiple Python package manager files were found."
    assert "requirements.txt" in err.body and "poetry.lock" in err.body


def test_setup_py_alone_is_sunset_on_heroku_24(tmp_path: Path) -> None:
    err = check_error(tmp_path, setup__py="")
    assert err.code == "SETUP_PY_SUNSET"
    assert err.summary == "Implicit setup.py file support has been sunset."
    assert "-e ." in err.body


@pytest.mark.parametrize(
    ("name", "tool"),
    [
        ("Pipfile.lock", "Pipenv"),
        ("poetry.lock", "Poetry"),
        ("uv.lock", "uv"),
        ("Pipfile", "Pipenv"),
    ],
)
def test_other_package_managers_are_not_supported_yet(tmp_path: Path, name: str, tool: str) -> None:
    ctx = make_ctx(tmp_path, files={name: ""})
    with pytest.raises(BuildError) as info:
        check_package_manager(ctx)
    err = info.value
    assert err.code == "PACKAGE_MANAGER_UNSUPPORTED"
    assert tool in err.summary and name in err.summary
    body = " ".join(err.body)
    assert "later" in body and "requirements.txt" in body


def test_cedar_14_generates_requirements_for_a_setup_py_app(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "cedar-14", files={"setup.py": "from setuptools import setup\n"})
    manager = check_package_manager(ctx)
    assert manager.generated
    assert manager.requirements.read_text() == "-e .\n"
    assert ctx.out.transcript == []  # silent, as in 2015


def test_cedar_14_ignores_lock_files(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "cedar-14", files={"requirements.txt": "", "poetry.lock": ""})
    assert check_package_manager(ctx).name == "pip"


def test_cedar_14_without_requirements_or_setup_py(tmp_path: Path) -> None:
    err = check_error(tmp_path, "cedar-14", app__py="")
    assert err.code == "NO_PACKAGE_MANAGER"
    assert err.legacy_lines


@pytest.mark.parametrize("stack", ["heroku-24", "cedar-14"])
def test_requirements_directory_is_refused(tmp_path: Path, stack: str) -> None:
    ctx = make_ctx(tmp_path, stack)
    (ctx.build_dir / "requirements.txt").mkdir()
    with pytest.raises(BuildError) as info:
        check_package_manager(ctx)
    assert info.value.code == "REQUIREMENTS_NOT_A_FILE"
    assert "directory" in " ".join(info.value.body)
    assert info.value.legacy_lines


@pytest.mark.parametrize("stack", ["heroku-24", "cedar-14"])
def test_requirements_symlink_outside_the_app_is_never_followed(tmp_path: Path, stack: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("-r /etc/shadow\n")
    ctx = make_ctx(tmp_path, stack)
    os.symlink(secret, ctx.build_dir / "requirements.txt")
    with pytest.raises(BuildError) as info:
        check_package_manager(ctx)
    err = info.value
    assert err.code == "REQUIREMENTS_NOT_A_FILE"
    assert "outside the app" in " ".join(err.body)
    assert secret.read_text() == "-r /etc/shadow\n"


def test_requirements_symlink_inside_the_app_and_dangling_links_are_refused(
    tmp_path: Path,
) -> None:
    ctx = make_ctx(tmp_path, files={"reqs/base.txt": "flask\n"})
    os.symlink("reqs/base.txt", ctx.build_dir / "requirements.txt")
    with pytest.raises(BuildError) as info:
        check_package_manager(ctx)
    assert "inside the app" in " ".join(info.value.body)

    ctx2 = make_ctx(tmp_path / "two")
    os.symlink("missing.txt", ctx2.build_dir / "requirements.txt")
    with pytest.raises(BuildError) as info:
        check_package_manager(ctx2)
    assert info.value.code == "REQUIREMENTS_NOT_A_FILE"
