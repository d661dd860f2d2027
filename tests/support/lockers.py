"""The real Poetry and Pipenv, for tests that make apps the way a user does: write the project
file, then let the tool write the lockfile against the tests' own index (no network).

    tools = LockTools.install(tmp_dir)          # one venv with the stack's pinned versions
    poetry_app(app_dir, tools, index, ["hello-world>=1"])   # pyproject.toml + poetry.lock
    pipenv_app(app_dir, tools, index, ["hello-world"])      # Pipfile + Pipfile.lock

The tools come from the tool wheels directory (`make install` fetches them with their
dependencies), are installed once into a scratch venv, and run with a scratch HOME, cache and
WORKON_HOME, so nothing of the host's (its interpreters, ~/.cache) is touched.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import TOOL_WHEELS
from tests.support.simpleindex import SimpleIndex

POETRY_VERSION = "2.4.1"
PIPENV_VERSION = "2026.7.1"
PIP_VERSION = "26.2.1"  # runs the install of the tools from its own wheel
PYTHON = "3.12"  # the sample apps' Python (tests/support/apps.py)


def host_python(major: str = PYTHON) -> Path:
    """The host's interpreter for `major` (pyenv's, else pythonX.Y on PATH)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(root.glob(f"{major}.*"), reverse=True):
        binary = candidate / "bin" / f"python{major}"
        if binary.is_file():
            return binary
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        binary = Path(directory) / f"python{major}"
        if binary.is_file() and "shims" not in binary.parts:
            return binary
    raise RuntimeError(f"no Python {major} on this host")


@dataclass(frozen=True)
class LockTools:
    """A scratch venv holding the pinned Poetry and Pipenv, and where they may write."""

    venv: Path
    scratch: Path

    @classmethod
    def install(cls, scratch: Path) -> LockTools:
        scratch.mkdir(parents=True, exist_ok=True)
        venv = scratch / "tools"
        python = host_python()
        subprocess.run([str(python), "-m", "venv", "--without-pip", str(venv)], check=True)
        pip_wheel = next(TOOL_WHEELS.glob(f"pip-{PIP_VERSION}-*.whl"))
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                f"{pip_wheel}/pip",
                "install",
                "--isolated",
                "--no-index",
                "--find-links",
                str(TOOL_WHEELS),
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--quiet",
                f"poetry=={POETRY_VERSION}",
                f"pipenv=={PIPENV_VERSION}",
            ],
            check=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PIP_CONFIG_FILE": os.devnull},
        )
        return cls(venv, scratch)

    def env(self) -> dict[str, str]:
        home = self.scratch / "home"
        home.mkdir(exist_ok=True)
        return {
            "PATH": f"{self.venv / 'bin'}{os.pathsep}/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PIP_CONFIG_FILE": os.devnull,
            "POETRY_CACHE_DIR": str(self.scratch / "poetry-cache"),
            "WORKON_HOME": str(self.scratch / "venvs"),
            "PIPENV_PYTHON": str(host_python()),
            "PIPENV_NOSPIN": "1",
            "PIPENV_YES": "1",
        }

    def run(self, tool: str, args: Sequence[str], cwd: Path) -> str:
        """Run `tool ARGS` in `cwd`; its output (raises with it when the tool fails)."""
        proc = subprocess.run(
            [str(self.venv / "bin" / tool), *args],
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout + proc.stderr


def poetry_pyproject(
    index: SimpleIndex, dependencies: Sequence[str], *, name: str = "poetry-app"
) -> str:
    """A Poetry app's pyproject.toml: an app (not a package), its index the tests' own."""
    deps = ", ".join(f'"{d}"' for d in dependencies)
    return (
        "[project]\n"
        f'name = "{name}"\n'
        'version = "0.1.0"\n'
        f'requires-python = ">={PYTHON}"\n'
        f"dependencies = [{deps}]\n"
        "\n"
        "[tool.poetry]\n"
        "package-mode = false\n"
        "\n"
        "[[tool.poetry.source]]\n"
        'name = "local"\n'
        f'url = "{index.url}"\n'
        'priority = "primary"\n'
    )


def poetry_app(
    root: Path, tools: LockTools, index: SimpleIndex, dependencies: Sequence[str]
) -> dict[str, str]:
    """Write pyproject.toml in `root`, run `poetry lock`; the app's files (both, as text)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(poetry_pyproject(index, dependencies))
    tools.run("poetry", ["lock", "--no-interaction", "--no-ansi"], root)
    return _read(root, ("pyproject.toml", "poetry.lock"))


def pipfile(index: SimpleIndex, packages: Mapping[str, str], *, python: str | None = PYTHON) -> str:
    """A Pipfile whose only source is the tests' index."""
    lines = [
        "[[source]]",
        f'url = "{index.url}"',
        "verify_ssl = false",
        'name = "local"',
        "",
        "[packages]",
        *(f'{name} = "{spec}"' for name, spec in packages.items()),
    ]
    if python:
        lines += ["", "[requires]", f'python_version = "{python}"']
    return "\n".join(lines) + "\n"


def pipenv_app(
    root: Path,
    tools: LockTools,
    index: SimpleIndex,
    packages: Mapping[str, str],
    *,
    python: str | None = PYTHON,
) -> dict[str, str]:
    """Write a Pipfile in `root`, run `pipenv lock`; the app's files (both, as text)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pipfile").write_text(pipfile(index, packages, python=python))
    tools.run("pipenv", ["lock"], root)
    return _read(root, ("Pipfile", "Pipfile.lock"))


def _read(root: Path, names: Sequence[str]) -> dict[str, str]:
    return {name: (root / name).read_text() for name in names}
