"""Python interpreters on this host: where cedarbox looks for them, best source first.

Heroku downloads the exact Python a build asks for; cedarbox can only use interpreters the
machine already has. Discovery looks in four places, in this order of preference:

  registry  `<data_dir>/runtimes.json`, written by `cedarbox runtimes:add VERSION PATH`
  pyenv     `$PYENV_ROOT/versions/*/bin/python` (default `~/.pyenv`)
  uv        `$UV_PYTHON_INSTALL_DIR` or `~/.local/share/uv/python/*/bin/python3`
  path      `pythonX.Y` and `pypy*` executables on PATH (pyenv shims and venvs are skipped)

Each candidate is run once to learn what it really is (probes.py); selection.py picks one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from gitserver.buildpacks.python.probes import SavedProbes, probe, probe_cache_path
from gitserver.buildpacks.python.pyversions import version_key
from gitserver.buildpacks.python.registry import read_registry
from gitserver.buildpacks.python.types import HostInterpreter
from gitserver.settings import Settings

_PATH_NAME = re.compile(r"^(python[23]\.\d+|pypy(\d(\.\d+)?)?)$")


def list_runtimes(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> list[HostInterpreter]:
    """Every interpreter found on this host, best source first, each real binary once."""
    env = os.environ if environ is None else environ
    saved = SavedProbes.load(probe_cache_path(settings))
    seen: set[str] = set()
    found: list[HostInterpreter] = []
    for origin, path in _candidates(settings, env):
        try:
            real = os.path.realpath(path)
        except OSError:
            continue
        if real in seen:
            continue
        interp = probe(path, origin=origin, saved=saved)
        if interp is None:
            continue
        seen.add(real)
        found.append(interp)
    saved.save()
    return found


def _candidates(settings: Settings, env: Mapping[str, str]) -> Iterator[tuple[str, Path]]:
    for entry in read_registry(settings):
        yield "registry", Path(entry["path"])
    home = Path(env.get("HOME") or Path.home())
    pyenv_root = Path(env.get("PYENV_ROOT") or home / ".pyenv")
    for version_dir in _sorted_dirs(pyenv_root / "versions"):
        path = _first_executable(version_dir / "bin", ("python", "python3", "pypy3", "pypy"))
        if path is not None:
            yield "pyenv", path
    uv_root = env.get("UV_PYTHON_INSTALL_DIR")
    if uv_root:
        uv_dir = Path(uv_root)
    else:
        data_home = env.get("XDG_DATA_HOME") or str(home / ".local" / "share")
        uv_dir = Path(data_home) / "uv" / "python"
    for version_dir in _sorted_dirs(uv_dir):
        path = _first_executable(version_dir / "bin", ("python3", "python", "pypy3", "pypy"))
        if path is not None:
            yield "uv", path
    for directory in env.get("PATH", "").split(os.pathsep):
        if not directory or not os.path.isabs(directory):
            continue
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if _PATH_NAME.match(name):
                path = Path(directory) / name
                if _is_usable_binary(path):
                    yield "path", path


def _sorted_dirs(root: Path) -> list[Path]:
    try:
        dirs = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    return sorted(dirs, key=lambda p: (version_key(p.name), p.name))


def _first_executable(bin_dir: Path, names: Sequence[str]) -> Path | None:
    for name in names:
        path = bin_dir / name
        if _is_usable_binary(path):
            return path
    return None


def _is_usable_binary(path: Path) -> bool:
    """An executable file that is neither a script (pyenv's shims are) nor inside a venv."""
    try:
        if not path.is_file() or not os.access(path, os.X_OK):
            return False
        with open(path, "rb") as f:
            if f.read(2) == b"#!":
                return False
    except OSError:
        return False
    # A venv's interpreter is someone else's environment (cedarbox's own .venv, say).
    return not (path.parent.parent / "pyvenv.cfg").exists()
