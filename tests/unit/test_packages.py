"""pip and the app's requirements, with real pip against a local wheelhouse (no network)."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from gitserver.buildpacks.python import (
    managers,
    packages,
    pipnoop,
    piprunner,
    requirements,
    sitepackages,
    tools,
)
from gitserver.buildpacks.python.checks import check_package_manager
from gitserver.buildpacks.python.types import HostInterpreter
from gitserver.pipeline.cache import BuildCache
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.errors import BuildError
from tests.support.wheelhouse import build_wheel, wheel_name
from tests.unit.buildctx_pkg import (
    TOOL_WHEELS,
    chosen,
    current_interpreter,
    find_interpreter,
    make_ctx,
    make_env,
    seeded_env,
    text,
)

needs_tool_wheels = pytest.mark.skipif(
    not (TOOL_WHEELS / "pip-26.2.1-py3-none-any.whl").is_file(),
    reason=f"pinned tool wheels missing in {TOOL_WHEELS} (run `make install`)",
)
PY27 = find_interpreter("2.7")
needs_py27 = pytest.mark.skipif(PY27 is None, reason="no Python 2.7 on this host (pyenv 2.7.x)")


@pytest.fixture(autouse=True)
def relocations(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Stand in for runtime.make_relocatable (tested with runtime.py) and record its calls."""
    calls: list[Path] = []
    monkeypatch.setattr(packages, "make_relocatable", calls.append)
    return calls


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    house = tmp_path_factory.mktemp("wheelhouse")
    build_wheel(house, "greet", "2.0")
    build_wheel(
        house,
        "hello-world",
        "1.0",
        requires=["greet>=2"],
        modules={"hello": "def main():\n    print('hello from the slug')\n"},
        console_scripts={"hello": "hello:main"},
    )
    build_wheel(house, "alpha", "1.0")
    build_wheel(house, "Beta_Pkg", "1.0")
    return house


# --- pure helpers ------------------------------------------------------------------------------


def test_version_matches() -> None:
    assert tools.version_matches("3.12.1", ">=3.10")
    assert not tools.version_matches("3.9.18", ">=3.10")
    assert tools.version_matches("2.7.18", "<3.5")
    assert not tools.version_matches("3.6.15", "<3.5")
    assert tools.version_matches("9.0.3", "<10") and not tools.version_matches("10.0", "<10")
    assert tools.version_matches("3.11.7", "")
    assert tools.version_matches("3.11.7", ">=3.10,<3.13")


def test_requirement_names() -> None:
    text_ = "\n".join(
        [
            "# comment",
            "Django==5.2  # pinned",
            "beta_pkg>=1 ; python_version > '3'",
            "-r base.txt",
            "--extra-index-url https://example.com/simple",
            "-e git+https://github.com/x/y.git#egg=Some.Thing",
            "https://example.com/pkg.tar.gz#egg=from-url",
            "requests[security] \\",
            "    >=2",
            "",
        ]
    )
    assert requirements.requirement_names(text_) == [
        "django",
        "beta-pkg",
        "some-thing",
        "from-url",
        "requests",
    ]


def test_installed_packages_reads_metadata_not_pip(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    (site / "Flask-3.0.dist-info").mkdir(parents=True)
    (site / "Flask-3.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: Flask\nVersion: 3.0\n\nName: not-a-header\n"
    )
    (site / "pip-26.2.1.dist-info").mkdir()
    (site / "pip-26.2.1.dist-info" / "METADATA").write_text("Name: pip\nVersion: 26.2.1\n")
    (site / "old_style-0.1-py2.7.egg-info").mkdir()
    (site / "old_style-0.1-py2.7.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 1.0\nName: old-style\nVersion: 0.1\n"
    )
    src = tmp_path / "src" / "myapp"
    (src / "myapp.egg-info").mkdir(parents=True)
    (src / "myapp.egg-info" / "PKG-INFO").write_text("Name: myapp\nVersion: 0.0.1\n")
    (site / "myapp.egg-link").write_text(f"{src}\n.\n")
    assert sitepackages.installed_packages(site) == ["Flask==3.0", "myapp==0.0.1", "old-style==0.1"]
    assert sitepackages.site_packages(tmp_path) == site
    assert sitepackages.installed_version(tmp_path, "PIP") == "26.2.1"


def test_pip_environment_passes_only_pip_extra_index_url(tmp_path: Path) -> None:
    ctx = make_ctx(
        tmp_path,
        config={
            "PIP_EXTRA_INDEX_URL": "https://app.example/simple",
            "PIP_INDEX_URL": "https://evil.example/simple",
            "SECRET_KEY": "s3cret",
        },
        extra_env={"PIP_EXTRA_INDEX_URL": "file:///server/simple"},
    )
    env = piprunner.pip_environment(ctx, ctx.build_dir / ".heroku/python")
    assert env["PIP_EXTRA_INDEX_URL"] == "https://app.example/simple file:///server/simple"
    assert "PIP_INDEX_URL" not in env and "SECRET_KEY" not in env
    assert env["PIP_NO_INDEX"] == "1"  # the server's own PIP_* stay
    assert env["PATH"].startswith(str(ctx.build_dir / ".heroku/python/bin"))


# --- planning: which pip, cheaply ---------------------------------------------------------------


@needs_tool_wheels
def test_plan_heroku_24_pins_setuptools_only_up_to_3_12(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    fake = Path("/nonexistent/python")
    for version, names in [("3.12.1", ["pip", "setuptools"]), ("3.13.0", ["pip"])]:
        plan = tools.plan_tools(ctx, chosen(HostInterpreter(fake, version)))
        assert [p.name for p in plan.install] == names
        assert not plan.bundled and plan.pip_version == "26.2.1"
    assert tools.planned_pip_version(ctx, chosen(current_interpreter())) == "26.2.1"


def test_plan_without_tool_wheels_uses_the_bundled_pip(tmp_path: Path) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    ctx = make_ctx(tmp_path, tool_wheels=empty)
    interpreter = current_interpreter()
    bundled = subprocess.run(
        [str(interpreter.path), "-c", "import ensurepip; print(ensurepip.version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    plan = tools.plan_tools(ctx, chosen(interpreter))
    assert plan.bundled and plan.pip_version == bundled
    # cache_rules asks twice per build: the second answer comes from the cache, not ensurepip.
    hits = tools.bundled_pip_version.cache_info().hits
    assert tools.planned_pip_version(ctx, chosen(interpreter)) == bundled
    assert tools.bundled_pip_version.cache_info().hits == hits + 1


@needs_tool_wheels
def test_plan_cedar_14_pins_pip_7_only_where_it_runs(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "cedar-14")
    old = tools.plan_tools(ctx, chosen(HostInterpreter(Path("/x/python2.7"), "2.7.18"), "2.7.9"))
    assert not old.bundled and old.pip_version == "7.0.1"
    assert [f"{p.name}=={p.version}" for p in old.install] == ["pip==7.0.1", "setuptools==16.0"]
    new = tools.plan_tools(ctx, chosen(current_interpreter(), "3.4.2"))
    assert new.bundled and new.pip_version != "7.0.1"


# --- heroku-24 ----------------------------------------------------------------------------------


@needs_tool_wheels
def test_heroku_24_cold_then_warm_install(
    tmp_path: Path, wheelhouse: Path, relocations: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    interpreter = current_interpreter()
    files = {"requirements.txt": "hello-world==1.0\n"}
    ctx = make_ctx(tmp_path, wheelhouse=wheelhouse, files=files)
    env_dir = make_env(ctx, interpreter)
    python = chosen(interpreter)
    managers.install(ctx, python, check_package_manager(ctx))
    major = interpreter.major
    announced = "pip 26.2.1"
    if major in ("3.10", "3.11", "3.12"):
        announced += " and setuptools 70.3.0"
    lines = ctx.out.transcript
    assert lines[0] == f"-----> Installing {announced}"
    assert lines[1] == "-----> Installing dependencies using 'pip install -r requirements.txt'"
    assert "       Successfully installed greet-2.0 hello-world-1.0" in lines
    assert all(line.startswith("       ") for line in lines[2:])
    assert ctx.report.packages == ["greet==2.0", "hello-world==1.0"]
    assert relocations == [env_dir]
    out = subprocess.run([str(env_dir / "bin" / "hello")], capture_output=True, text=True)
    assert out.stdout == "hello from the slug\n"
    assert not (env_dir / packages.DECLARED).exists()  # heroku-24 keeps no declared copy

    # Warm redeploy (restored cache): pip is not reinstalled; "already satisfied" lines are
    # shown as Heroku shows them, without the site-packages path (the buildpack's lib/pip.sh).
    record = next(env_dir.glob("lib/*/site-packages/pip-26.2.1.dist-info")) / "RECORD"
    before = record.stat().st_mtime_ns
    warm_ctx = make_ctx(tmp_path, wheelhouse=wheelhouse, build_dir=ctx.build_dir)
    bootstraps: list[list[str]] = []
    monkeypatch.setattr(tools, "run_quiet", lambda _ctx, argv, **_: bootstraps.append(argv))
    managers.install(warm_ctx, python, check_package_manager(warm_ctx))
    assert bootstraps == []  # the pinned tools were already there: no bootstrap pip ran
    assert record.stat().st_mtime_ns == before
    assert warm_ctx.out.transcript[:2] == lines[:2]
    satisfied = [line for line in warm_ctx.out.transcript if "already satisfied" in line]
    assert satisfied and all("site-packages" not in line for line in satisfied)
    expected = "Requirement already satisfied: hello-world==1.0 (from -r requirements.txt (line 1))"
    assert f"       {expected} (1.0)" in satisfied
    assert not any("Successfully installed" in line for line in warm_ctx.out.transcript)
    assert warm_ctx.report.packages == ["greet==2.0", "hello-world==1.0"]


@needs_tool_wheels
def test_a_pip_run_that_changed_nothing_is_replayed_while_its_inputs_stay(
    tmp_path: Path, wheelhouse: Path
) -> None:
    interpreter = current_interpreter()
    files = {"requirements.txt": "hello-world==1.0\n"}
    ctx = make_ctx(tmp_path, wheelhouse=wheelhouse, files=files)
    env_dir = make_env(ctx, interpreter)
    python = chosen(interpreter)
    managers.install(ctx, python, check_package_manager(ctx))
    assert not packages.noop_record(ctx).exists()  # it installed: nothing to replay

    def warm(name: str, kept: Path | None) -> BuildContext:
        warm_ctx = make_ctx(tmp_path / name, wheelhouse=wheelhouse, build_dir=ctx.build_dir)
        source = tmp_path / name / "last-good-cache"
        source.mkdir(parents=True)
        if kept is not None:
            shutil.copyfile(kept, source / pipnoop.RECORD)
        warm_ctx.cache = BuildCache(root=None, source=source)
        warm_ctx.report.cache.reused = True
        managers.install(warm_ctx, python, check_package_manager(warm_ctx))
        return warm_ctx

    first = warm("w1", None)  # pip runs, finds everything satisfied, changes nothing
    assert not first.report.package_manager.replayed
    kept = packages.noop_record(first)
    assert kept.is_file()
    manager = check_package_manager(first)
    assert manager.cache_entries(first) == {pipnoop.RECORD: kept}
    again = warm("w2", kept)
    assert again.report.package_manager.replayed
    assert again.out.transcript == first.out.transcript
    assert packages.noop_record(again).read_text() == kept.read_text()  # kept for the next

    # The environment changed (a file of it touched): pip runs again.
    (env_dir / "pyvenv.cfg").touch()
    changed = warm("w3", kept)
    assert not changed.report.package_manager.replayed
    assert changed.out.transcript == first.out.transcript


@needs_tool_wheels
def test_heroku_24_pip_extra_index_url_config_var_reaches_pip(
    tmp_path: Path, wheelhouse: Path
) -> None:
    # A "simple" index on 127.0.0.1 that only the app's config var names (a build's sandbox
    # sees no host path an app names, but the host's network); the server's own settings
    # point at an empty index, so the install succeeds only if the config var reached pip.
    served = tmp_path / "served"
    index = served / "simple"
    wheel = build_wheel(served / "files", "extra-pkg", "3.0")
    (index / "extra-pkg").mkdir(parents=True)
    link = f"../../files/{wheel.name}"
    (index / "extra-pkg" / "index.html").write_text(f'<a href="{link}">{wheel.name}</a>')
    empty = tmp_path / "empty-index"
    empty.mkdir()
    empty.chmod(0o755)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/simple/"
        ctx = make_ctx(
            tmp_path / "app",
            files={"requirements.txt": "extra-pkg==3.0\n"},
            config={"PIP_EXTRA_INDEX_URL": url, "PIP_FIND_LINKS": str(wheelhouse)},
            extra_env={"PIP_NO_INDEX": "", "PIP_INDEX_URL": empty.as_uri()},
        )
        ctx.env.pop("PIP_NO_INDEX")
        seeded_env(ctx, current_interpreter())
        managers.install(ctx, chosen(current_interpreter()), check_package_manager(ctx))
        httpd.shutdown()
    assert ctx.report.packages == ["extra-pkg==3.0"]


@needs_tool_wheels
def test_heroku_24_install_failure(tmp_path: Path, wheelhouse: Path) -> None:
    ctx = make_ctx(tmp_path, wheelhouse=wheelhouse, files={"requirements.txt": "no-such-pkg==1\n"})
    seeded_env(ctx, current_interpreter())
    python = chosen(current_interpreter())
    with pytest.raises(BuildError) as info:
        managers.install(ctx, python, check_package_manager(ctx))
    err = info.value
    assert err.code == "PIP_INSTALL_FAILED"
    assert err.summary == "Unable to install dependencies using pip."
    assert err.body == ["See the log output above for more information."]
    # pip's stderr is indented too on heroku-24
    assert any(
        line.startswith("       ERROR: ") and "no-such-pkg" in line for line in ctx.out.transcript
    )


def test_heroku_24_missing_pin_falls_back_to_the_bundled_pip(
    tmp_path: Path, wheelhouse: Path
) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    ctx = make_ctx(
        tmp_path, wheelhouse=wheelhouse, files={"requirements.txt": "greet\n"}, tool_wheels=empty
    )
    interpreter = current_interpreter()
    env_dir = make_env(ctx, interpreter)
    python = chosen(interpreter)
    bundled = tools.bundled_pip_version(interpreter.path)
    managers.install(ctx, python, check_package_manager(ctx))
    lines = ctx.out.transcript
    assert lines[0] == f"-----> Installing pip {bundled}"
    assert lines[1].startswith("       The pinned pip 26.2.1 wheel is not in ")
    assert f"using the pip bundled with Python {interpreter.version} (pip {bundled})" in lines[1]
    assert ctx.report.warnings and "pip 26.2.1" in ctx.report.warnings[0]
    assert sitepackages.installed_version(env_dir, "pip") == bundled
    assert ctx.report.packages == ["greet==2.0"]


# --- cedar-14 -----------------------------------------------------------------------------------


@needs_tool_wheels
@needs_py27
def test_cedar_14_pip_7_on_python_2_7(tmp_path: Path, wheelhouse: Path) -> None:
    assert PY27 is not None
    python = chosen(PY27, "2.7.9")
    ctx = make_ctx(
        tmp_path,
        "cedar-14",
        wheelhouse=wheelhouse,
        files={"requirements.txt": "hello-world==1.0\nalpha\nbeta_pkg\n"},
    )
    env_dir = make_env(ctx, PY27)
    managers.install(ctx, python, check_package_manager(ctx))
    lines = ctx.out.transcript
    assert lines[0] == "-----> Installing dependencies with pip"  # pip 7.0.1: silent
    assert "       Successfully installed" in "\n".join(lines)
    assert lines[-1] == ""  # a blank line after, as in 2015
    assert sitepackages.installed_version(env_dir, "pip") == "7.0.1"
    assert sitepackages.installed_version(env_dir, "setuptools") == "16.0"
    assert ctx.report.packages == ["alpha==1.0", "Beta_Pkg==1.0", "greet==2.0", "hello-world==1.0"]
    assert (env_dir / packages.DECLARED).read_text() == "hello-world==1.0\nalpha\nbeta_pkg\n"
    assert ctx.report.warnings == []

    # Next push: Beta-Pkg removed, setuptools listed. The cache came back with `.heroku`.
    (ctx.build_dir / "requirements.txt").write_text("hello-world==1.0\nalpha\nsetuptools\n")
    warm = make_ctx(tmp_path, "cedar-14", wheelhouse=wheelhouse, build_dir=ctx.build_dir)
    managers.install(warm, python, check_package_manager(warm))
    lines = warm.out.transcript
    assert lines[:3] == [
        " !     The package setuptools/distribute is listed in requirements.txt.",
        " !     Please remove to ensure expected behavior. ",
        "-----> Uninstalling stale dependencies",
    ]
    assert "-----> Installing dependencies with pip" in lines
    assert not any("already satisfied" in line.lower() for line in lines)
    assert sitepackages.installed_version(env_dir, "beta-pkg") is None
    assert warm.report.packages == ["alpha==1.0", "greet==2.0", "hello-world==1.0"]
    assert warm.report.warnings == [
        "The package setuptools/distribute is listed in requirements.txt."
    ]


@needs_py27
def test_cedar_14_stderr_is_not_indented_and_failure_adds_no_lines_of_its_own(
    tmp_path: Path, wheelhouse: Path
) -> None:
    assert PY27 is not None
    ctx = make_ctx(
        tmp_path, "cedar-14", wheelhouse=wheelhouse, files={"requirements.txt": "nothing-here\n"}
    )
    make_env(ctx, PY27)
    with pytest.raises(BuildError) as info:
        managers.install(ctx, chosen(PY27, "2.7.9"), check_package_manager(ctx))
    assert info.value.code == "PIP_INSTALL_FAILED"
    assert info.value.legacy_lines == []  # the 2015 buildpack printed only pip's own error
    lines = ctx.out.transcript
    # pip 7 writes its error to stderr: shown as is, not indented (2015: `| cleanup | indent`
    # on stdout only).
    assert any(line.startswith("No matching distribution found") for line in lines), lines


def test_cedar_14_on_a_modern_python_uses_the_bundled_pip_and_says_so(
    tmp_path: Path, wheelhouse: Path
) -> None:
    interpreter = current_interpreter()
    ctx = make_ctx(
        tmp_path, "cedar-14", wheelhouse=wheelhouse, files={"requirements.txt": "greet==2.0\n"}
    )
    env_dir = make_env(ctx, interpreter)
    managers.install(ctx, chosen(interpreter, "3.4.2"), check_package_manager(ctx))
    out = text(ctx)
    bundled = tools.bundled_pip_version(interpreter.path)
    assert f"       Note: pip 7.0.1 does not run on Python {interpreter.version}" in out
    assert (
        f"       Note: pip {bundled} has no --allow-all-external option (removed in pip 10); "
        "running without it."
    ) in out
    assert sitepackages.installed_version(env_dir, "pip") == bundled
    assert ctx.report.packages == ["greet==2.0"]
    assert any("pip 7.0.1 does not run" in w for w in ctx.report.warnings)


def test_wheelhouse_wheels_are_reproducible(tmp_path: Path) -> None:
    a = build_wheel(tmp_path / "a", "Some.Pkg", "1.0", requires=["x"], console_scripts={"s": "m:f"})
    b = build_wheel(tmp_path / "b", "Some.Pkg", "1.0", requires=["x"], console_scripts={"s": "m:f"})
    assert a.read_bytes() == b.read_bytes()
    assert a.name == wheel_name("Some.Pkg", "1.0")
