"""Which host interpreter a build uses: the policy over what discovery (runtimes.py) found.

The exact version if present, else the newest patch of the same major; the nearest major
only where a stack allows it and the settings ask for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gitserver.buildpacks.python.pyversions import major_of, version_key
from gitserver.buildpacks.python.types import ChosenPython, HostInterpreter


def _of(interpreters: Iterable[HostInterpreter], implementation: str) -> list[HostInterpreter]:
    return [i for i in interpreters if i.implementation == implementation]


def find_interpreter(
    interpreters: Iterable[HostInterpreter], version: str, implementation: str = "cpython"
) -> HostInterpreter | None:
    """The exact `version` if the host has it, else the newest patch of the same major.

    Among equal versions the earlier one wins (registry > pyenv > uv > PATH).
    """
    candidates = _of(interpreters, implementation)
    for interp in candidates:
        if interp.version == version:
            return interp
    same_major = [i for i in candidates if i.major == major_of(version)]
    return _newest(same_major)


def nearest_major(
    interpreters: Iterable[HostInterpreter], version: str, implementation: str = "cpython"
) -> HostInterpreter | None:
    """The host's interpreter whose major is nearest to `version`'s (same 2.x / 3.x line).

    Ties prefer the newer major (python-3.4.2 on a host with 3.3 and 3.5 gets 3.5).
    """
    wanted = version_key(version)
    same_line = [
        i for i in _of(interpreters, implementation) if version_key(i.version)[0] == wanted[0]
    ]
    if not same_line:
        return None
    distance = min(abs(version_key(i.version)[1] - wanted[1]) for i in same_line)
    nearest = [i for i in same_line if abs(version_key(i.version)[1] - wanted[1]) == distance]
    return _newest(nearest)


def newest_of_majors(
    interpreters: Iterable[HostInterpreter], majors: Iterable[str]
) -> HostInterpreter | None:
    """The host's newest CPython among `majors` (e.g. the stack's supported ones)."""
    allowed = set(majors)
    return _newest([i for i in _of(interpreters, "cpython") if i.major in allowed])


def newest_pypy(interpreters: Iterable[HostInterpreter], language: str) -> HostInterpreter | None:
    """The host's newest PyPy implementing the same Python line as `language` ("2.7" -> 2.x)."""
    line = language.split(".")[0]
    return _newest(
        [i for i in _of(interpreters, "pypy") if line and i.language.split(".")[0] == line]
    )


def _newest(interpreters: Sequence[HostInterpreter]) -> HostInterpreter | None:
    best: HostInterpreter | None = None
    for interp in interpreters:  # first of equals wins: the list is in preference order
        if best is None or version_key(interp.version) > version_key(best.version):
            best = interp
    return best


def describe(interpreters: Iterable[HostInterpreter]) -> str:
    """ "2.7.18, 3.10.13, 3.12.1" — for messages that say what the host has."""
    names = sorted(
        {("PyPy " if i.implementation == "pypy" else "") + i.version for i in interpreters},
        key=lambda v: (v.startswith("PyPy"), version_key(v.removeprefix("PyPy "))),
    )
    return ", ".join(names) if names else "none"


def host_note(python: ChosenPython) -> str | None:
    """The honest line printed when the host's interpreter is not what Heroku would install."""
    if python.exact:
        return None
    interp = python.interpreter
    name = "PyPy" if interp.implementation == "pypy" else "Python"
    if (
        interp.major != python.major
        and interp.implementation == "cpython"
        and (python.runtime_name.startswith("python-"))
    ):
        return (
            f"Heroku would install Python {python.version}; this host has no Python "
            f"{python.major}, so this build uses Python {interp.version}."
        )
    return f"Heroku would install {name} {python.version}; this host provides {interp.version}."
