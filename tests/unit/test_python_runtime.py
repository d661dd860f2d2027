"""`.heroku/python` from this host's real interpreters: fresh, cached, purged, and relocatable.

Every relocation test builds an environment, installs a console script with a real pip,
moves the whole build directory somewhere else (as a released slug is unpacked elsewhere)
and runs the interpreter and the script from there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitserver.buildpacks.python import probes
from gitserver.buildpacks.python.runtime import (
    ENV_SUBDIR,
    RUNTIME_MARKER,
    install_python,
    make_relocatable,
)
from gitserver.buildpacks.python.types import ChosenPython, HostInterpreter
from tests.support.wheelhouse import build_wheel
from tests.unit.buildctx import make_context

PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
PRINT_PREFIX = "import sys\ndef main():\n    sys.stdout.write(sys.prefix + '\\n')\n"


def host(version: str) -> HostInterpreter:
    found = probes.probe(PYENV / version / "bin" / "python", origin="pyenv")
    if found is None:
        pytest.skip(f"needs pyenv {version}")
    return found


def chosen(version: str, runtime_name: str, interp: HostInterpreter) -> ChosenPython:
    return ChosenPython(version, runtime_name, None, "default", interp)


def run(*argv: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=env, timeout=60, **kwargs
    )  # type: ignore[call-overload]


def env_version(build_dir: Path) -> str:
    python = build_dir / ENV_SUBDIR / "bin" / "python"
    return run(python, "-c", "import sys; print(sys.version)").stdout


def wheel(tmp_path: Path) -> Path:
    return build_wheel(
        tmp_path / "wheels",
        "hello-cb",
        "1.0",
        modules={"hello_cb.py": PRINT_PREFIX},
        console_scripts={"hello-cb": "hello_cb:main"},
    )


def pip_install(env_dir: Path, whl: Path, *, python2: bool = False) -> None:
    """Install `whl` with a real pip running as the environment's own interpreter."""
    env = {
        **os.environ,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONWARNINGS": "ignore",
    }
    if python2:
        # virtualenv<20.22 bundles pip 20.3.4, the last pip for Python 2.7 (not imported:
        # importing virtualenv here only adds deprecation warnings).
        spec = importlib.util.find_spec("virtualenv")
        assert spec is not None and spec.submodule_search_locations
        embed = Path(next(iter(spec.submodule_search_locations))) / "seed" / "wheels" / "embed"
        pip = next(embed.glob("pip-20.*-py2.py3-none-any.whl"))
        argv = [str(env_dir / "bin" / "python"), f"{pip}/pip", "install", "--no-deps", str(whl)]
    else:
        argv = [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env_dir / "bin" / "python"),
            "install",
            "--no-deps",
            str(whl),
        ]
    subprocess.run(argv, check=True, capture_output=True, env=env, timeout=120)


def move(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    src.rename(dest)
    assert not src.exists()
    return dest


# heroku-24 ------------------------------------------------------------------------------------


def test_fresh_install_runs_from_anywhere(tmp_path: Path) -> None:
    python = chosen("3.12.14", "python-3.12.14", host("3.12.1"))
    ctx = make_context(tmp_path, files={"requirements.txt": ""})
    install_python(ctx, python)
    assert ctx.out.transcript == ["-----> Installing Python 3.12.14"]
    env_dir = ctx.build_dir / ENV_SUBDIR
    assert not (env_dir / "bin" / "pip").exists()  # pip is the packages step's job
    pip_install(env_dir, wheel(tmp_path))
    assert make_relocatable(env_dir) == [env_dir / "bin" / "hello-cb"]
    assert make_relocatable(env_dir) == []  # idempotent

    slug = move(ctx.build_dir, tmp_path / "elsewhere" / "app")
    moved = slug / ENV_SUBDIR
    out = run(moved / "bin" / "python", "-c", "import sys, ssl; print(sys.prefix, sys.version)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == [str(moved), "3.12.1"]
    out = run(moved / "bin" / "hello-cb")
    assert (out.returncode, out.stdout.strip()) == (0, str(moved)), out.stderr
    # Through a symlink too (realpath finds the environment's own bin/).
    (tmp_path / "link").symlink_to(moved / "bin" / "hello-cb")
    assert run(tmp_path / "link").stdout.strip() == str(moved)


def test_a_bin_the_app_made_a_link_is_not_followed(tmp_path: Path) -> None:
    """make_relocatable runs as the platform: a `bin` (or environment) that app code turned
    into a link to somewhere else is left alone, whatever the scripts there say."""
    outside = tmp_path / "outside"
    outside.mkdir()
    env_dir = tmp_path / "app" / ENV_SUBDIR
    script = outside / "tool"
    script.write_text(f"#!{env_dir}/bin/python\nprint('hi')\n")
    env_dir.mkdir(parents=True)
    (env_dir / "bin").symlink_to(outside)
    assert make_relocatable(env_dir) == []
    assert script.read_text().startswith(f"#!{env_dir}/bin/python")
    (env_dir / "bin").unlink()
    env_dir.rmdir()
    env_dir.symlink_to(tmp_path)  # .heroku/python itself a link: its bin/ is outside too
    (tmp_path / "bin").symlink_to(outside)
    assert make_relocatable(env_dir) == []


def test_without_relocation_a_moved_console_script_breaks(tmp_path: Path) -> None:
    """The premise of make_relocatable: pip hard-codes the build path."""
    python = chosen("3.12.14", "python-3.12.14", host("3.12.1"))
    ctx = make_context(tmp_path)
    install_python(ctx, python)
    env_dir = ctx.build_dir / ENV_SUBDIR
    pip_install(env_dir, wheel(tmp_path))
    assert (env_dir / "bin" / "hello-cb").read_text().startswith(f"#!{env_dir}/bin/python")
    moved = move(ctx.build_dir, tmp_path / "elsewhere") / ENV_SUBDIR
    with pytest.raises(FileNotFoundError):  # execve: the shebang's interpreter is gone
        run(moved / "bin" / "hello-cb")


def test_cached_environment_is_reused(tmp_path: Path) -> None:
    python = chosen("3.12.14", "python-3.12.14", host("3.12.1"))
    first = make_context(tmp_path, name="first")
    install_python(first, python)
    second = make_context(tmp_path, name="second")
    move(first.build_dir / ".heroku", second.build_dir / ".heroku")  # what restore does
    second.report.cache.reused = True
    cfg = second.build_dir / ENV_SUBDIR / "pyvenv.cfg"
    inode = cfg.stat().st_ino
    install_python(second, python)
    assert second.out.transcript == ["-----> Using cached install of Python 3.12.14"]
    assert cfg.stat().st_ino == inode


def test_cached_environment_that_no_longer_runs_is_replaced(tmp_path: Path) -> None:
    python = chosen("3.12.14", "python-3.12.14", host("3.12.1"))
    ctx = make_context(tmp_path)
    bin_dir = ctx.build_dir / ENV_SUBDIR / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to("/nonexistent/python3.12")
    ctx.report.cache.reused = True
    install_python(ctx, python)
    assert ctx.out.transcript == ["-----> Installing Python 3.12.14"]
    assert ctx.report.cache.reasons == ["The cached Python environment no longer runs on this host"]
    assert run(bin_dir / "python", "-c", "pass").returncode == 0


def test_cached_environment_of_another_python_is_replaced(tmp_path: Path) -> None:
    first = make_context(tmp_path, name="first")
    install_python(first, chosen("3.11.16", "python-3.11.16", host("3.11.7")))
    second = make_context(tmp_path, name="second")
    move(first.build_dir / ".heroku", second.build_dir / ".heroku")
    second.report.cache.reused = True
    install_python(second, chosen("3.12.14", "python-3.12.14", host("3.12.1")))
    assert second.out.transcript == ["-----> Installing Python 3.12.14"]
    assert env_version(second.build_dir).startswith("3.12.1")


def test_a_committed_heroku_python_is_not_used(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={".heroku/python/bin/python": "#!/bin/sh\necho fake\n"})
    install_python(ctx, chosen("3.12.14", "python-3.12.14", host("3.12.1")))
    assert ctx.out.transcript == ["-----> Installing Python 3.12.14"]
    python = ctx.build_dir / ENV_SUBDIR / "bin" / "python"
    assert run(python, "-c", "print('real')").stdout == "real\n"


# cedar-14 -------------------------------------------------------------------------------------


def test_cedar_python27_fresh_install_runs_from_anywhere(tmp_path: Path) -> None:
    python = chosen("2.7.9", "python-2.7.9", host("2.7.18"))
    ctx = make_context(tmp_path, stack="cedar-14", files={"requirements.txt": ""})
    install_python(ctx, python)
    assert ctx.out.transcript == [
        "-----> Installing runtime (python-2.7.9)",
        "       Heroku would install Python 2.7.9; this host provides 2.7.18.",
    ]
    assert (ctx.build_dir / RUNTIME_MARKER).read_text() == "python-2.7.9\n"
    env_dir = ctx.build_dir / ENV_SUBDIR
    pip_install(env_dir, wheel(tmp_path), python2=True)
    assert env_dir / "bin" / "hello-cb" in make_relocatable(env_dir)

    moved = move(ctx.build_dir, tmp_path / "elsewhere" / "app") / ENV_SUBDIR
    out = run(moved / "bin" / "python", "-c", "import sys; print(sys.prefix); print(sys.version)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:2] == [str(moved), out.stdout.splitlines()[1]]
    assert out.stdout.splitlines()[1].startswith("2.7.18")
    out = run(moved / "bin" / "hello-cb")
    assert (out.returncode, out.stdout.strip()) == (0, str(moved)), out.stderr


def test_cedar_unchanged_cached_runtime_prints_nothing(tmp_path: Path) -> None:
    python = chosen("2.7.9", "python-2.7.9", host("2.7.18"))
    first = make_context(tmp_path, stack="cedar-14", name="first")
    install_python(first, python)
    second = make_context(tmp_path, stack="cedar-14", name="second")
    move(first.build_dir / ".heroku", second.build_dir / ".heroku")
    inode = (second.build_dir / ENV_SUBDIR / "pyvenv.cfg").stat().st_ino
    install_python(second, python)
    assert second.out.transcript == []
    assert (second.build_dir / ENV_SUBDIR / "pyvenv.cfg").stat().st_ino == inode
    assert second.report.cache.discarded is False


def test_cedar_changed_runtime_is_purged(tmp_path: Path) -> None:
    first = make_context(tmp_path, stack="cedar-14", name="first")
    install_python(first, chosen("2.7.9", "python-2.7.9", host("2.7.18")))
    second = make_context(tmp_path, stack="cedar-14", name="second", nearest_major=True)
    move(first.build_dir / ".heroku", second.build_dir / ".heroku")
    install_python(second, chosen("3.4.2", "python-3.4.2", host("3.6.15")))
    assert second.out.transcript == [
        "-----> Found runtime python-2.7.9, removing",
        "-----> Installing runtime (python-3.4.2)",
        "       Heroku would install Python 3.4.2; this host has no Python 3.4, so this build "
        "uses Python 3.6.15.",
    ]
    assert second.report.cache.discarded is True
    assert second.report.cache.reasons == [
        "The runtime has changed from python-2.7.9 to python-3.4.2"
    ]
    assert (second.build_dir / RUNTIME_MARKER).read_text() == "python-3.4.2\n"
    assert env_version(second.build_dir).startswith("3.6.15")


# make_relocatable, activate and .profile.d ----------------------------------------------------


def test_relocates_every_shebang_form(tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    install_python(ctx, chosen("3.12.14", "python-3.12.14", host("3.12.1")))
    env_dir = ctx.build_dir / ENV_SUBDIR
    bin_dir = env_dir / "bin"
    body = "import sys\nprint(sys.prefix)\nprint('caf\\u00e9')\n"
    scripts = {
        "plain": f"#!{bin_dir}/python\n{body}",
        "cookie": f"#!{bin_dir}/python3\n# -*- coding: utf-8 -*-\n{body}",
        "args": f"#!{bin_dir}/python -E\n{body}",
        # distlib's form for shebangs longer than the kernel accepts:
        "long": f"#!/bin/sh\n'''exec' {bin_dir}/python \"$0\" \"$@\"\n' '''\n{body}",
        # written in an earlier build directory, restored from the cache:
        "old-build": f"#!/tmp/build-0ld/.heroku/python/bin/python\n{body}",
        "env": f"#!/usr/bin/env python3\n{body}",
        "system": f"#!/usr/bin/python3\n{body}",
        "shell": "#!/bin/sh\necho shell\n",
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    changed = make_relocatable(env_dir)
    assert sorted(p.name for p in changed) == ["args", "cookie", "long", "old-build", "plain"]
    assert (bin_dir / "cookie").read_text().splitlines()[:2] == [
        "#!/bin/sh",
        "# -*- coding: utf-8 -*-",
    ]
    assert '/python" -E "$0" "$@"' in (bin_dir / "args").read_text()
    assert (bin_dir / "env").read_text() == scripts["env"]
    assert (bin_dir / "shell").read_text() == scripts["shell"]
    assert (bin_dir / "python").is_symlink()
    assert os.access(bin_dir / "plain", os.X_OK)
    moved = move(ctx.build_dir, tmp_path / "moved") / ENV_SUBDIR
    for name in ("plain", "cookie", "args", "long", "old-build"):
        out = run(moved / "bin" / name)
        assert out.returncode == 0, (name, out.stderr)
        assert out.stdout.splitlines() == [str(moved), "café"], name


def test_python2_honours_the_moved_coding_cookie(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, stack="cedar-14")
    install_python(ctx, chosen("2.7.9", "python-2.7.9", host("2.7.18")))
    bin_dir = ctx.build_dir / ENV_SUBDIR / "bin"
    script = bin_dir / "latin"
    script.write_bytes(
        f"#!{bin_dir}/python\n# -*- coding: utf-8 -*-\n".encode()
        + "import sys\nsys.stdout.write(repr(u'caf\u00e9') + '\\n')\n".encode()
    )
    script.chmod(0o755)
    make_relocatable(ctx.build_dir / ENV_SUBDIR)
    moved = move(ctx.build_dir, tmp_path / "moved") / ENV_SUBDIR
    out = run(moved / "bin" / "latin")
    assert (out.returncode, out.stdout) == (0, "u'caf\\xe9'\n"), out.stderr


@pytest.mark.parametrize(("stack", "version"), [("heroku-24", "3.13.0"), ("cedar-14", "2.7.18")])
def test_activate_works_after_a_move(tmp_path: Path, stack: str, version: str) -> None:
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    ctx = make_context(tmp_path, stack=stack)
    install_python(ctx, chosen(version, f"python-{version}", host(version)))
    moved = move(ctx.build_dir, tmp_path / "moved") / ENV_SUBDIR
    script = f'source "{moved}/bin/activate" && echo "$VIRTUAL_ENV" && command -v python'
    out = run("bash", "-c", script)
    assert out.stdout.splitlines() == [str(moved), str(moved / "bin" / "python")], out.stderr


def test_profile_script_runs_the_slug_python(tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    install_python(ctx, chosen("3.12.14", "python-3.12.14", host("3.12.1")))
    profile = (ctx.build_dir / ".profile.d" / "python.sh").read_text()
    assert 'export PATH="$HOME/.heroku/python/bin:$PATH"' in profile
    assert 'export PYTHONUNBUFFERED="true"' in profile
    assert "export PYTHONHOME" not in profile
    slug = move(ctx.build_dir, tmp_path / "slug")
    check = (
        '. "$HOME/.profile.d/python.sh" && python -c "import os, sys; print(sys.prefix); '
        "print(' '.join(os.environ.get(k, '-') for k in ('PYTHONUNBUFFERED', 'LANG', "
        "'WEB_CONCURRENCY', 'PYTHONPATH', 'PYTHONHOME')))\""
    )
    env = {"HOME": str(slug), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["sh", "-c", check], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [str(slug / ENV_SUBDIR), f"true en_US.UTF-8 2 {slug} -"]
    out = subprocess.run(
        ["sh", "-c", check],
        capture_output=True,
        text=True,
        timeout=30,
        env={**env, "LANG": "C.UTF-8", "WEB_CONCURRENCY": "5"},
    )
    assert out.stdout.splitlines()[1] == f"true C.UTF-8 5 {slug} -"


def test_cedar_profile_script_sets_the_2015_defaults(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, stack="cedar-14")
    install_python(ctx, chosen("2.7.9", "python-2.7.9", host("2.7.18")))
    profile = (ctx.build_dir / ".profile.d" / "python.sh").read_text()
    assert 'export PYTHONHASHSEED="${PYTHONHASHSEED:-random}"' in profile
