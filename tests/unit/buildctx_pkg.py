"""Real BuildContexts for the package-manager, pip and Django steps' tests (no network).

`make_ctx` builds a context from real objects (Settings, stack profile, Output, BuildReport)
whose env points pip at a local wheelhouse only. `make_env` creates `.heroku/python` the way
the runtime step leaves it: a virtual environment without pip. `seeded_env` does the same
with the stack's pinned pip already in it, copied from a per-session template (fast).
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from gitserver.buildpacks.python.types import ChosenPython, HostInterpreter
from gitserver.output import Output
from gitserver.pipeline.context import BuildContext, BuildRequest
from gitserver.pipeline.profiles import load_profile
from gitserver.pipeline.report import BuildReport
from gitserver.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TOOL_WHEELS = Path(os.environ.get("CEDARBOX_TOOL_WHEELS", ROOT / ".wheels" / "tools"))
APP_WHEELS = Path(os.environ.get("CEDARBOX_TEST_APP_WHEELS", ROOT / ".wheels" / "apps"))
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions"
ENV = Path(".heroku") / "python"


def current_interpreter() -> HostInterpreter:
    """The (base) interpreter running the tests."""
    base = getattr(sys, "_base_executable", sys.executable)
    version = ".".join(str(p) for p in sys.version_info[:3])
    return HostInterpreter(path=Path(base), version=version, origin="path")


def find_interpreter(major: str) -> HostInterpreter | None:
    """A host interpreter of `major` ("2.7", "3.12"): the current one, else pyenv's newest."""
    if ".".join(str(p) for p in sys.version_info[:2]) == major:
        return current_interpreter()
    candidates = sorted(
        PYENV_VERSIONS.glob(f"{major}.*"),
        key=lambda p: [int(x) for x in p.name.split(".") if x.isdigit()],
    )
    for prefix in reversed(candidates):
        exe = prefix / "bin" / f"python{major}"
        if exe.is_file() and prefix.name.replace(".", "").isdigit():
            return HostInterpreter(path=exe, version=prefix.name, origin="pyenv")
    return None


def chosen(interpreter: HostInterpreter, version: str | None = None) -> ChosenPython:
    """The ChosenPython the version step would hand over for `interpreter`."""
    version = version or interpreter.version
    return ChosenPython(
        version=version,
        runtime_name=f"python-{version}",
        requested=None,
        source="default",
        interpreter=interpreter,
    )


def make_ctx(
    root: Path,
    stack: str = "heroku-24",
    *,
    wheelhouse: Path | None = None,
    files: Mapping[str, str] | None = None,
    config: Mapping[str, str] | None = None,
    tool_wheels: Path = TOOL_WHEELS,
    build_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> BuildContext:
    """A build context under `root` with the app's `files` and config vars `config`."""
    root.mkdir(parents=True, exist_ok=True)
    build = build_dir or root / "build"
    build.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        path = build / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    env_dir = root / "env"
    env_dir.mkdir(exist_ok=True)
    for name, value in (config or {}).items():
        (env_dir / name).write_text(value)
    home = root / "home"
    home.mkdir(exist_ok=True)
    settings = Settings(data_dir=root / "data", tool_wheels=tool_wheels)
    request = BuildRequest(
        app="test-app",
        stack=stack,
        build_dir=build,
        cache_root=root / "cache",
        env_dir=env_dir,
        slug_path=None,
        source_version="0" * 40,
        settings=settings,
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "STACK": stack,
        "ENV_DIR": str(env_dir),
        "BUILD_DIR": str(build),
        # The server's pip settings in a test: only the local wheelhouse, no index.
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    if wheelhouse is not None:
        env["PIP_FIND_LINKS"] = str(wheelhouse)
    env.update(extra_env or {})
    return BuildContext(
        request=request,
        profile=load_profile(stack),
        out=Output(io.BytesIO(), colour_blocks=False),
        report=BuildReport(app="test-app", stack=stack, source_version="0" * 40),
        env=env,
        deadline=time.monotonic() + 600,
        scratch=root / "scratch",
    )


def make_env(ctx: BuildContext, interpreter: HostInterpreter) -> Path:
    """`.heroku/python` as the runtime step leaves it: a virtual environment without pip."""
    env_dir = ctx.build_dir / ENV
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    _create_env(interpreter, env_dir)
    return env_dir


def seeded_env(ctx: BuildContext, interpreter: HostInterpreter) -> Path:
    """`.heroku/python` with the stack's pinned tools installed (copied from a template)."""
    key = (ctx.request.stack, str(interpreter.path))
    template = _TEMPLATES.get(key)
    if template is None:
        from gitserver.buildpacks.python import tools

        template_root = Path(tempfile.mkdtemp(prefix="cedarbox-seeded-"))
        atexit.register(shutil.rmtree, template_root, True)
        tctx = make_ctx(template_root, ctx.request.stack)
        env_dir = make_env(tctx, interpreter)
        python = chosen(interpreter)
        plan = tools.plan_tools(tctx, python)
        tools.install_tools(tctx, python, plan, env_dir)
        template = env_dir
        _TEMPLATES[key] = template
    dest = ctx.build_dir / ENV
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The same absolute path layout is not needed: the tests run `bin/python -m pip`.
    subprocess.run(["cp", "-a", str(template), str(dest)], check=True)
    return dest


def transcript(ctx: BuildContext) -> list[str]:
    return list(ctx.out.transcript)


def text(ctx: BuildContext) -> str:
    return "\n".join(ctx.out.transcript)


_TEMPLATES: dict[tuple[str, str], Path] = {}


def _create_env(interpreter: HostInterpreter, env_dir: Path) -> None:
    if interpreter.version.startswith("2."):
        # Python 2.7 has no venv module: virtualenv<20.22 (a cedarbox dependency) makes one.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "virtualenv",
                "-q",
                "--no-pip",
                "--no-setuptools",
                "--no-wheel",
                "--no-periodic-update",
                "-p",
                str(interpreter.path),
                str(env_dir),
            ],
            check=True,
            capture_output=True,
        )
        return
    subprocess.run(
        [str(interpreter.path), "-m", "venv", "--without-pip", str(env_dir)],
        check=True,
        capture_output=True,
    )
