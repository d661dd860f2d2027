"""Values the Python buildpack's steps hand to each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostInterpreter:
    """A Python interpreter found on this host (pyenv, uv, PATH or the registry)."""

    path: Path
    version: str  # e.g. "3.12.1"
    implementation: str = "cpython"  # or "pypy"
    origin: str = ""  # "pyenv", "uv", "path", "registry"
    # The Python language version it implements; differs from `version` only for PyPy.
    language_version: str = ""

    @property
    def major(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def language(self) -> str:
        """The Python language version (e.g. "2.7.18"): decides how environments are made."""
        return self.language_version or self.version


@dataclass(frozen=True)
class ChosenPython:
    """The Python a build uses: what Heroku would install, and what this host provides."""

    version: str  # what Heroku would install, e.g. "3.12.14" or "2.7.9" (pypy: "1.9")
    runtime_name: str  # "python-3.12.14", "pypy-1.9" (cedar-14's runtime.txt vocabulary)
    requested: str | None  # as the app wrote it ("3.12", "python-3.4.2"); None if unspecified
    source: str  # "runtime.txt", ".python-version", "Pipfile.lock", "sticky" or "default"
    interpreter: HostInterpreter

    @property
    def major(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def exact(self) -> bool:
        return self.interpreter.version == self.version
