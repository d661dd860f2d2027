"""`<data_dir>/runtimes.json`: interpreters registered with `cedarbox runtimes:add VERSION PATH`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from gitserver.buildpacks.python.probes import probe
from gitserver.buildpacks.python.pyversions import HOST_VERSION
from gitserver.buildpacks.python.types import HostInterpreter
from gitserver.errors import CedarboxError
from gitserver.settings import Settings

REGISTRY_FILE = "runtimes.json"


class RuntimeRegistrationError(CedarboxError):
    """`cedarbox runtimes:add` / `runtimes:remove` refused the interpreter given."""

    code = "RUNTIME_INVALID"
    http_status = 400


def registry_path(settings: Settings) -> Path:
    return settings.data_dir / REGISTRY_FILE


def read_registry(settings: Settings) -> list[dict[str, str]]:
    try:
        data = json.loads(registry_path(settings).read_text())
    except (OSError, ValueError):
        return []
    entries = data.get("runtimes", []) if isinstance(data, dict) else []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("path"), str)]


def _write_registry(settings: Settings, entries: list[dict[str, str]]) -> None:
    path = registry_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"runtimes": entries}, indent=2) + "\n")
    tmp.replace(path)


def add_runtime(settings: Settings, version: str, path: Path | str) -> HostInterpreter:
    """Register the interpreter at `path`, after checking it runs and really is `version`.

    `version` may be "3.12.4", "3.12", "python-3.12.4" or, for PyPy, "pypy-7.3.15".
    """
    path = Path(path).expanduser().absolute()
    wanted = version.strip()
    implementation = "pypy" if wanted.startswith("pypy") else "cpython"
    wanted = re.sub(r"^(python|pypy)-?", "", wanted)
    if not HOST_VERSION.match(wanted):
        raise RuntimeRegistrationError(
            f"{version!r} is not a Python version.",
            hint="Give the version the interpreter reports, e.g. 3.12.4 or pypy-7.3.15.",
        )
    if not path.is_file() or not os.access(path, os.X_OK):
        raise RuntimeRegistrationError(
            f"{path} is not an executable file.",
            hint="Give the path of the interpreter itself, e.g. /opt/python/3.12/bin/python3.12.",
        )
    interp = probe(path, origin="registry")
    if interp is None:
        raise RuntimeRegistrationError(
            f"{path} did not run as a Python interpreter.",
            hint=f"Check that `{path} -c 'import sys; print(sys.version)'` works on this host.",
        )
    if interp.implementation != implementation or not (
        interp.version == wanted or interp.version.startswith(wanted + ".")
    ):
        what = "PyPy" if interp.implementation == "pypy" else "Python"
        raise RuntimeRegistrationError(
            f"{path} is {what} {interp.version}, not {version}.",
            hint=f"Register it as {interp.version}, or give the path of a {version} interpreter.",
        )
    entries = [e for e in read_registry(settings) if Path(e["path"]) != path]
    entries.append(
        {"version": interp.version, "path": str(path), "implementation": interp.implementation}
    )
    _write_registry(settings, entries)
    return interp


def remove_runtime(settings: Settings, target: str | Path) -> list[str]:
    """Forget registered interpreters matching a path or a version; return the paths removed."""
    entries = read_registry(settings)
    text = str(target)
    by_path = "/" in text or isinstance(target, Path)
    as_path = Path(text).expanduser().absolute() if by_path else None

    def matches(entry: dict[str, str]) -> bool:
        if as_path is not None:
            return Path(entry["path"]) == as_path
        return entry.get("version") == re.sub(r"^(python|pypy)-?", "", text)

    removed = [e["path"] for e in entries if matches(e)]
    if not removed:
        raise RuntimeRegistrationError(
            f"No registered runtime matches {text}.",
            hint="See `cedarbox runtimes` for what is registered (origin: registry).",
        )
    _write_registry(settings, [e for e in entries if not matches(e)])
    return removed
