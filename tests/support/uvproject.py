"""uv projects for tests, locked by the real uv (the pinned wheel in the tool wheels), offline.

    uv = uv_binary(tmp_path)                  # unpacked from .wheels/tools once per directory
    files = uv_project(name="shop", dependencies=["hello-world"], index=wheelhouse)
    lock(uv, project_dir)                     # writes uv.lock as a user's `uv lock` would

`index` declares the wheelhouse as the app's `[[tool.uv.index]]` (a flat index); without it the
lock is made with UV_FIND_LINKS/UV_NO_INDEX, the way a server's own UV_* settings would serve it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from tests.support.server import TOOL_WHEELS

UV_VERSION = json.loads(
    (Path(__file__).parents[2] / "gitserver/pipeline/profiles/heroku-24.json").read_text()
)["package_managers"]["uv"]["version"]


def uv_wheel() -> Path | None:
    return next(iter(sorted(TOOL_WHEELS.glob(f"uv-{UV_VERSION}-*.whl"))), None)


def uv_binary(directory: Path) -> Path:
    """The pinned uv binary, unpacked from its wheel into `directory`."""
    target = directory / "uv"
    if not target.is_file():
        wheel = uv_wheel()
        assert wheel is not None, f"the uv {UV_VERSION} wheel is missing from {TOOL_WHEELS}"
        directory.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            target.write_bytes(zf.read(f"uv-{UV_VERSION}.data/scripts/uv"))
        target.chmod(0o755)
    return target


def uv_project(
    name: str = "uvapp",
    dependencies: Sequence[str] = ("hello-world",),
    *,
    index: Path | None = None,
    requires_python: str = ">=3.11",
    extra: str = "",
) -> str:
    """A pyproject.toml, as `uv init --bare` plus `uv add` would leave it."""
    deps = ", ".join(f'"{d}"' for d in dependencies)
    text = (
        f'[project]\nname = "{name}"\nversion = "0.1.0"\n'
        f'requires-python = "{requires_python}"\ndependencies = [{deps}]\n'
    )
    if index is not None:
        text += f'\n[[tool.uv.index]]\nname = "local"\nurl = "{index}"\nformat = "flat"\n'
    return text + extra


def lock_env(home: Path, find_links: Path | None = None) -> dict[str, str]:
    """uv's environment for locking: offline, no Python of its own, nothing of the host's."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "UV_CACHE_DIR": str(home / "uv-cache"),
        "UV_OFFLINE": "1",
        "UV_NO_MANAGED_PYTHON": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON": sys.executable,
    }
    if find_links is not None:
        env.update({"UV_NO_INDEX": "1", "UV_FIND_LINKS": str(find_links)})
    return env


def lock(uv: Path, project: Path, find_links: Path | None = None) -> str:
    """Run the real `uv lock` in `project`; the new uv.lock's text."""
    home = project.parent / f".{project.name}-uv-home"
    home.mkdir(exist_ok=True)
    subprocess.run(
        [str(uv), "lock", "--quiet"],
        cwd=project,
        env=lock_env(home, find_links),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return (project / "uv.lock").read_text()
