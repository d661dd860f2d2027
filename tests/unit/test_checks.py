"""Package-manager checks (one supported file; cedar-14: requirements.txt) and build paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitserver.buildpacks.python.checks import check_build_paths, check_package_manager
from gitserver.pipeline.errors import BuildError
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
    assert "requirements.txt (pip)" in err.body and "poetry.lock (Poetry)" in err.body


def test_setup_py_alone_is_sunset_on_heroku_24(tmp_path: Path) -> None:
    err = check_error(tmp_path, setup__py="")
    assert err.code == "SETUP_PY_SUNSET"
    assert err.summary == "Implicit setup.py file support has been sunset."
    assert "-e ." in err.body


@pytest.mark.parametrize(
    ("name", "manager"), [("Pipfile.lock", "pipenv"), ("poetry.lock", "poetry")]
)
def test_poetry_and_pipenv_locks(tmp_path: Path, name: str, manager: str) -> None:
    ctx = make_ctx(tmp_path, files={name: ""})
    found = check_package_manager(ctx)
    assert found.name == manager
    assert found.file == ctx.build_dir / name


def test_uv_lock_is_uv(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, files={"uv.lock": "version = 1\n", "pyproject.toml": ""})
    manager = check_package_manager(ctx)
    assert manager.name == "uv"
    assert manager.file == ctx.build_dir / "uv.lock"


def test_pipfile_without_its_lock(tmp_path: Path) -> None:
    err = check_error(tmp_path, Pipfile="", requirements__txt="")
    assert err.code == "PIPFILE_LOCK_MISSING"
    assert err.summary == "No 'Pipfile.lock' found!"
    assert "Run 'pipenv lock' locally to generate the lockfile, and make sure" in err.body


def test_multiple_files_are_listed_with_their_tools_in_the_buildpacks_order(
    tmp_path: Path,
) -> None:
    err = check_error(tmp_path, uv__lock="", requirements__txt="", Pipfile__lock="{}")
    listed = [line for line in err.body if line.endswith(")") and " (" in line]
    assert listed == ["Pipfile.lock (Pipenv)", "requirements.txt (pip)", "uv.lock (uv)"]


def test_uv_lock_symlink_is_refused(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, files={"real.lock": ""})
    os.symlink("real.lock", ctx.build_dir / "uv.lock")
    with pytest.raises(BuildError) as info:
        check_package_manager(ctx)
    assert info.value.code == "LOCKFILE_NOT_A_FILE"
    assert info.value.summary == "The uv.lock file is a symlink."


def test_cedar_14_generates_requirements_for_a_setup_py_app(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "cedar-14", files={"setup.py": "from setuptools import setup\n"})
    manager = check_package_manager(ctx)
    assert manager.generated
    assert manager.requirements.read_text() == "-e .\n"
    assert ctx.out.transcript == []  # silent, as in 2015


def test_cedar_14_ignores_lock_files(tmp_path: Path) -> None:
    for name in ("poetry.lock", "uv.lock", "Pipfile", "Pipfile.lock"):
        ctx = make_ctx(tmp_path / name, "cedar-14", files={"requirements.txt": "", name: ""})
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


@pytest.mark.parametrize("rel", [".profile.d", ".profile.d/python.sh", ".heroku", ".heroku/src"])
def test_a_symlink_where_the_build_writes_is_refused(tmp_path: Path, rel: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("untouched\n")
    ctx = make_ctx(tmp_path / "app", files={"requirements.txt": ""})
    link = ctx.build_dir / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside / "victim" if rel.endswith(".sh") else outside)
    with pytest.raises(BuildError) as info:
        check_build_paths(ctx)
    err = info.value
    assert (err.code, err.summary) == (
        "BUILD_PATH_CONFLICT",
        f"The {rel} path in your app is a symbolic link.",
    )
    assert err.body[0].startswith(f"'{rel}' is a symbolic link to '{outside}")
    assert (
        err.body[-2]
        == f"Remove '{rel}' from your Git repository (git rm -r {rel}), commit and push"
    )
    assert err.legacy_lines and err.legacy_lines[-1].startswith("Remove it from your repository")
    assert (outside / "victim").read_text() == "untouched\n"


@pytest.mark.parametrize(
    ("rel", "summary"),
    [
        (".heroku", "The .heroku path in your app is not a directory."),
        (".profile.d", "The .profile.d path in your app is not a directory."),
    ],
)
def test_a_file_where_the_build_needs_a_directory_is_refused(
    tmp_path: Path, rel: str, summary: str
) -> None:
    ctx = make_ctx(tmp_path, files={"requirements.txt": "", rel: "oops"})
    with pytest.raises(BuildError) as info:
        check_build_paths(ctx)
    assert (info.value.code, info.value.summary) == ("BUILD_PATH_CONFLICT", summary)


def test_the_apps_own_profile_scripts_and_links_elsewhere_are_fine(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, files={"requirements.txt": "", ".profile.d/mine.sh": "export A=1\n"})
    (ctx.build_dir / ".profile.d" / "theirs.sh").symlink_to("mine.sh")
    (ctx.build_dir / "etc").symlink_to("/etc")
    check_build_paths(ctx)


def test_names_in_messages_are_printable(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, files={"app.py": ""})
    (ctx.build_dir / "evil\x1b[2J\nname").write_text("")
    with pytest.raises(BuildError) as info:
        check_package_manager(ctx)
    assert "evil\ufffd[2J\ufffdname" in info.value.body
    link = make_ctx(tmp_path / "link")
    (link.build_dir / "requirements.txt").symlink_to("/etc/\x1b[31mpasswd")
    with pytest.raises(BuildError) as info:
        check_package_manager(link)
    assert "'/etc/\ufffd[31mpasswd'" in info.value.body[0]
