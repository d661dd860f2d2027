"""Django: collectstatic during compile and the Postgres add-on, with a stand-in and real Django."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitserver.buildpacks.python import django, managers, sitepackages
from gitserver.buildpacks.python.checks import check_package_manager
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError
from tests.unit.buildctx_pkg import (
    APP_WHEELS,
    TOOL_WHEELS,
    chosen,
    current_interpreter,
    find_interpreter,
    make_ctx,
    make_env,
    seeded_env,
)

# A manage.py standing in for Django's: prints what collectstatic would, plus what it saw.
FAKE_MANAGE = """\
import os, sys
args = sys.argv[1:]
print("argv=" + " ".join(args))
print("cwd=" + os.getcwd())
print("secret=" + os.environ.get("SECRET_KEY", "-"))
print("pythonpath=" + os.environ.get("PYTHONPATH", "-"))
print("path_has_env=" + str(os.environ["PATH"].split(os.pathsep)[0].endswith(".heroku/python/bin")))
print("ld_preload=" + os.environ.get("LD_PRELOAD", "-"))
print("Copying '/app/static/site.css'")
print("")
print("Post-processed 'site.css' as 'site.abc.css'")
print(" an indented line")
sys.stderr.write("a warning on stderr\\n")
print("1 static file copied.")
mode = os.environ.get("FAKE_MODE", "ok")
if mode == "fail" or (mode == "fail-real" and "--dry-run" not in args):
    sys.stderr.write("django.core.exceptions.ImproperlyConfigured: no STATIC_ROOT\\n")
    sys.exit(1)
"""


def django_app(
    tmp_path: Path,
    stack: str = "heroku-24",
    *,
    manage: str = "manage.py",
    fake_django: bool = True,
    config: dict[str, str] | None = None,
) -> BuildContext:
    ctx = make_ctx(
        tmp_path, stack, files={"requirements.txt": "", manage: FAKE_MANAGE}, config=config
    )
    env_dir = make_env(ctx, current_interpreter())
    if fake_django:
        site = sitepackages.site_packages(env_dir)
        assert site is not None
        (site / "django").mkdir()
        (site / "django" / "__init__.py").write_text("")
    return ctx


def run(ctx: BuildContext) -> list[str]:
    django.collectstatic(ctx, chosen(current_interpreter()))
    return ctx.out.transcript


# --- manage.py and add-ons ----------------------------------------------------------------------


def test_find_manage_py_depth_and_order(tmp_path: Path) -> None:
    root = tmp_path / "app"
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "b" / "c" / "manage.py").write_text("")  # depth 4: too deep
    assert django.find_manage_py(root) is None
    (root / "a" / "b" / "manage.py").write_text("")  # depth 3
    assert django.find_manage_py(root) == root / "a" / "b" / "manage.py"
    (root / "z").mkdir()
    (root / "z" / "manage.py").write_text("")  # shallower wins over name order
    assert django.find_manage_py(root) == root / "z" / "manage.py"
    (root / "manage.py").symlink_to(root / "z" / "manage.py")  # symlinks are not matched
    assert django.find_manage_py(root) == root / "z" / "manage.py"
    (root / ".heroku").mkdir()
    (root / ".heroku" / "manage.py").write_text("")
    (root / "z" / "manage.py").unlink()
    assert django.find_manage_py(root) == root / "a" / "b" / "manage.py"


def test_addons_heroku_24_need_root_manage_py_django_and_psycopg2(tmp_path: Path) -> None:
    ctx = django_app(tmp_path)
    assert django.addons(ctx) == []  # no psycopg2
    site = sitepackages.site_packages(ctx.build_dir / ".heroku/python")
    assert site is not None
    (site / "psycopg2").mkdir()
    (site / "psycopg2" / "__init__.py").write_text("")
    assert django.addons(ctx) == ["heroku-postgresql"]
    (ctx.build_dir / "manage.py").rename(ctx.build_dir / "sub_manage.py")
    (ctx.build_dir / "proj").mkdir()
    (ctx.build_dir / "sub_manage.py").rename(ctx.build_dir / "proj" / "manage.py")
    assert django.addons(ctx) == []  # heroku-24 wants manage.py at the root


def test_addons_cedar_14_whenever_manage_py_is_within_depth_3(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "cedar-14", files={"requirements.txt": "", "a/b/manage.py": ""})
    assert django.addons(ctx) == ["heroku-postgresql:hobby-dev"]
    pure = make_ctx(tmp_path / "pure", "cedar-14", files={"requirements.txt": "", "app.py": ""})
    assert django.addons(pure) == []
    deep = make_ctx(tmp_path / "deep", "cedar-14", files={"a/b/c/manage.py": ""})
    assert django.addons(deep) == []


def test_pure_python_app_has_no_addons_and_no_collectstatic(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, files={"requirements.txt": "", "app.py": ""})
    make_env(ctx, current_interpreter())
    assert django.addons(ctx) == []
    assert run(ctx) == []


# --- heroku-24 collectstatic --------------------------------------------------------------------


def test_collectstatic_heroku_24(tmp_path: Path) -> None:
    ctx = django_app(tmp_path, config={"SECRET_KEY": "s3cret", "LD_PRELOAD": "/evil.so"})
    lines = run(ctx)
    assert lines[0] == "-----> $ python manage.py collectstatic --noinput"
    assert "       argv=collectstatic --noinput --traceback" in lines
    assert f"       cwd={ctx.build_dir}" in lines
    assert "       secret=s3cret" in lines  # config vars are exported, as Heroku's sub_env does
    assert "       ld_preload=-" in lines  # …except the ones it never exports
    assert "       pythonpath=." in lines
    assert "       path_has_env=True" in lines
    assert "       a warning on stderr" in lines
    assert "       1 static file copied." in lines
    assert "       " + " an indented line" in lines
    assert not any("Copying" in line or "Post-processed" in line for line in lines)
    assert "       " not in lines  # blank lines dropped…
    assert lines[-1] == ""  # …but one follows the step


def test_collectstatic_nested_manage_py(tmp_path: Path) -> None:
    ctx = django_app(tmp_path, manage="mysite/manage.py")
    lines = run(ctx)
    assert lines[0] == "-----> $ python mysite/manage.py collectstatic --noinput"


def test_collectstatic_failure_fails_the_build_on_heroku_24(tmp_path: Path) -> None:
    ctx = django_app(tmp_path)
    ctx.env["FAKE_MODE"] = "fail"
    with pytest.raises(BuildError) as info:
        run(ctx)
    err = info.value
    assert err.code == "COLLECTSTATIC_FAILED"
    assert err.summary == "Unable to generate Django static files."
    assert any("DISABLE_COLLECTSTATIC=1" in line for line in err.body)
    error = "       django.core.exceptions.ImproperlyConfigured: no STATIC_ROOT"
    assert error in ctx.out.transcript


def test_disable_collectstatic_config_var(tmp_path: Path) -> None:
    ctx = django_app(tmp_path, config={"DISABLE_COLLECTSTATIC": "1"})
    assert run(ctx) == [
        "-----> Skipping Django collectstatic since the env var DISABLE_COLLECTSTATIC is set."
    ]
    enabled = django_app(tmp_path / "zero", config={"DISABLE_COLLECTSTATIC": "0"})
    assert run(enabled)[0] == "-----> $ python manage.py collectstatic --noinput"


def test_django_without_manage_py_and_manage_py_without_django(tmp_path: Path) -> None:
    ctx = django_app(tmp_path)
    (ctx.build_dir / "manage.py").unlink()
    assert run(ctx) == ["-----> Skipping Django collectstatic since no manage.py file found."]
    no_django = django_app(tmp_path / "b", fake_django=False)
    assert run(no_django) == []


# --- cedar-14 collectstatic ---------------------------------------------------------------------


def test_cedar_14_collectstatic(tmp_path: Path) -> None:
    ctx = django_app(tmp_path, "cedar-14")
    lines = run(ctx)
    assert lines[:2] == ["-----> Preparing static assets", "       Running collectstatic..."]
    assert "       argv=collectstatic --noinput" in lines
    assert "       pythonpath=-" in lines
    assert not any("indented line" in line or "Copying" in line for line in lines)
    assert lines[-1] == ""


def test_cedar_14_configuration_error_never_fails_the_build(tmp_path: Path) -> None:
    ctx = django_app(tmp_path, "cedar-14", manage="proj/manage.py")
    ctx.env["FAKE_MODE"] = "fail"
    assert run(ctx) == [
        "-----> Preparing static assets",
        "       Collectstatic configuration error. To debug, run:",
        "       $ heroku run python proj/manage.py collectstatic --noinput",
        "",
    ]
    assert ctx.report.warnings == ["Collectstatic configuration error. To debug, run:"]


def test_cedar_14_run_error_never_fails_the_build(tmp_path: Path) -> None:
    ctx = django_app(tmp_path, "cedar-14")
    ctx.env["FAKE_MODE"] = "fail-real"
    lines = run(ctx)
    assert " !     Error running manage.py collectstatic. More info:" in lines
    assert lines[-1] == ""


# --- real Django --------------------------------------------------------------------------------

PY312 = find_interpreter("3.12")
DJANGO_WHEELS = sorted(APP_WHEELS.glob("[Dd]jango-*.whl"))

SETTINGS = """\
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "test"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.staticfiles"]
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "assets"]
{static_root}
"""
MANAGE = """\
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"""


PIP_PIN = TOOL_WHEELS / "pip-26.2.1-py3-none-any.whl"


@pytest.mark.skipif(
    PY312 is None or not DJANGO_WHEELS or not PIP_PIN.exists(),
    reason=f"needs Python 3.12, Django wheels in {APP_WHEELS} (`make test-deps`) and tool wheels",
)
def test_real_django_collectstatic_and_failure(tmp_path: Path) -> None:
    assert PY312 is not None
    files = {
        "requirements.txt": "django\n",
        "manage.py": MANAGE,
        "mysite/__init__.py": "",
        "mysite/settings.py": SETTINGS.format(static_root='STATIC_ROOT = BASE_DIR / "staticfiles"'),
        "assets/site.css": "body { color: red }\n",
    }
    ctx = make_ctx(tmp_path, wheelhouse=APP_WHEELS, files=files)
    python = chosen(PY312)
    seeded_env(ctx, PY312)
    managers.install(ctx, python, check_package_manager(ctx))
    assert any(p.lower().startswith("django==") for p in ctx.report.packages)
    start = len(ctx.out.transcript)
    django.collectstatic(ctx, python)
    lines = ctx.out.transcript[start:]
    assert lines[0] == "-----> $ python manage.py collectstatic --noinput"
    assert lines[1] == f"       1 static file copied to '{ctx.build_dir / 'staticfiles'}'."
    assert (ctx.build_dir / "staticfiles" / "site.css").is_file()
    assert django.addons(ctx) == []  # Django without psycopg2: no database add-on

    # Without STATIC_ROOT collectstatic raises ImproperlyConfigured: the build fails.
    (ctx.build_dir / "mysite" / "settings.py").write_text(SETTINGS.format(static_root=""))
    with pytest.raises(BuildError) as info:
        django.collectstatic(ctx, python)
    assert info.value.code == "COLLECTSTATIC_FAILED"
    assert any("ImproperlyConfigured" in line for line in ctx.out.transcript)
    assert os.path.isdir(ctx.build_dir / "staticfiles")
