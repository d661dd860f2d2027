"""Python interpreters on this host: a registry, pyenv, uv, PATH, and the policy that picks one.

Heroku downloads the exact Python a build asks for; cedarbox can only use interpreters the
machine already has. Discovery looks in four places, in this order of preference:

  registry  `<data_dir>/runtimes.json`, written by `cedarbox runtimes:add VERSION PATH`
  pyenv     `$PYENV_ROOT/versions/*/bin/python` (default `~/.pyenv`)
  uv        `$UV_PYTHON_INSTALL_DIR` or `~/.local/share/uv/python/*/bin/python3`
  path      `pythonX.Y` and `pypy*` executables on PATH (pyenv shims and venvs are skipped)

Each interpreter is run to learn what it really is, once per binary: every push builds in a
new hook process, so the answers are kept in `<data_dir>/runtimes-cache.json`, keyed by the
path and the stat of the binary it resolves to (a replaced or changed binary is run again).
The policy (see docs/architecture.md): the exact version if present, else the newest patch of
the same major; the nearest major only where a stack allows it and the settings ask for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitserver.buildpacks.python.types import ChosenPython, HostInterpreter
from gitserver.errors import CedarboxError
from gitserver.settings import Settings

REGISTRY_FILE = "runtimes.json"
PROBE_CACHE_FILE = "runtimes-cache.json"
ORIGINS = ("registry", "pyenv", "uv", "path")

# Runs under any Python from 2.4-era syntax onwards: no f-strings, no print function.
_PROBE = (
    "import sys\n"
    "impl = getattr(getattr(sys, 'implementation', None), 'name', None)\n"
    "if not impl:\n"
    "    impl = '__pypy__' in sys.builtin_module_names and 'pypy' or 'cpython'\n"
    "v = sys.version_info\n"
    "lang = '%d.%d.%d' % (v[0], v[1], v[2])\n"
    "if v[3] != 'final':\n"
    "    lang += {'alpha': 'a', 'beta': 'b', 'candidate': 'rc'}.get(v[3], v[3]) + str(v[4])\n"
    "pv = getattr(sys, 'pypy_version_info', None)\n"
    "sys.stdout.write('%s %s %s\\n' % (impl, lang, pv and '%d.%d.%d' % tuple(pv[:3]) or '-'))\n"
)
_PROBE_TIMEOUT = 20.0
_PATH_NAME = re.compile(r"^(python[23]\.\d+|pypy(\d(\.\d+)?)?)$")
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?([a-z]+\d*)?$")

# What an interpreter reports: (implementation, language version, PyPy version or "-"),
# or None if it is not a Python.
_Answer = tuple[str, str, str] | None
# The stat of the binary a path resolves to: (st_dev, st_ino, st_size, st_mtime_ns,
# st_ctime_ns). The ctime catches a rewrite that restored the mtime (`cp -p`, rsync).
_Stamp = tuple[int, int, int, int, int]
_PROBE_CACHE_FORMAT = 1

# Per process: (path, *stamp) -> what the interpreter reported, or None if it failed.
_probed: dict[tuple[str, int, int, int, int, int], _Answer] = {}


class RuntimeRegistrationError(CedarboxError):
    """`cedarbox runtimes:add` / `runtimes:remove` refused the interpreter given."""

    code = "RUNTIME_INVALID"
    http_status = 400


# Version arithmetic ---------------------------------------------------------------------


def version_key(version: str) -> tuple[int, int, int, int]:
    """Sort key for "3.12.1" / "3.14.0rc1" (a pre-release sorts before its final release)."""
    m = _VERSION.match(version)
    if not m:
        return (-1, -1, -1, -1)
    major, minor, patch, pre = m.groups()
    return (int(major), int(minor), int(patch or 0), 0 if pre else 1)


def major_of(version: str) -> str:
    return ".".join(version.split(".")[:2])


# Probing ------------------------------------------------------------------------------------


def probe(path: Path, *, origin: str = "") -> HostInterpreter | None:
    """Run `path` once to learn its implementation and version; None if it is not a Python."""
    return _probe(path, origin, None)


def _probe(path: Path, origin: str, saved: _SavedProbes | None) -> HostInterpreter | None:
    """`probe`, also answering from (and adding to) the probes saved by earlier processes."""
    try:
        stamp = _stamp(path.stat())
    except OSError:
        return None
    key = (str(path), *stamp)
    if key not in _probed:
        _probed[key] = _saved_or_run(path, stamp, saved)
    return _interpreter(path, origin, _probed[key])


def _stamp(st: os.stat_result) -> _Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _saved_or_run(path: Path, stamp: _Stamp, saved: _SavedProbes | None) -> _Answer:
    if saved is not None:
        entry = saved.entries.get(str(path))
        if entry is not None and entry[0] == stamp:
            return entry[1]
    answer, lasting = _run_probe(path)
    if saved is not None and lasting:
        saved.record(str(path), stamp, answer)
    return answer


def _interpreter(path: Path, origin: str, found: _Answer) -> HostInterpreter | None:
    if found is None:
        return None
    impl, language, pypy = found
    if impl == "pypy":
        return HostInterpreter(
            path=path,
            version=pypy,
            implementation="pypy",
            origin=origin,
            language_version=language,
        )
    return HostInterpreter(path=path, version=language, implementation=impl, origin=origin)


def probe_uncached(path: Path) -> tuple[str, str, str] | None:
    """(implementation, language version, PyPy version or "-") as `path` reports them now."""
    return _run_probe(path)[0]


def _run_probe(path: Path) -> tuple[_Answer, bool]:
    """What `path` reports now, and whether that answer says something lasting about the file.

    A timeout, a failed fork or a kill by a signal says more about the machine's load than
    about the file: such a failure is not saved for later processes, the next build retries.
    """
    if not os.access(path, os.X_OK) or path.is_dir():
        return None, True
    try:
        proc = subprocess.run(
            [str(path), "-E", "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            stdin=subprocess.DEVNULL,
            env=_probe_env(),
        )
    except (OSError, subprocess.SubprocessError):
        return None, False
    if proc.returncode < 0:
        return None, False
    parts = proc.stdout.split()
    if proc.returncode != 0 or len(parts) != 3 or not _VERSION.match(parts[1]):
        return None, True
    return (parts[0], parts[1], parts[2]), True


def _probe_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


# Discovery ----------------------------------------------------------------------------------


def list_runtimes(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> list[HostInterpreter]:
    """Every interpreter found on this host, best source first, each real binary once."""
    env = os.environ if environ is None else environ
    saved = _SavedProbes.load(probe_cache_path(settings))
    seen: set[str] = set()
    found: list[HostInterpreter] = []
    for origin, path in _candidates(settings, env):
        try:
            real = os.path.realpath(path)
        except OSError:
            continue
        if real in seen:
            continue
        interp = _probe(path, origin, saved)
        if interp is None:
            continue
        seen.add(real)
        found.append(interp)
    saved.save()
    return found


def _candidates(settings: Settings, env: Mapping[str, str]) -> Iterator[tuple[str, Path]]:
    for entry in _read_registry(settings):
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


# Probes saved across processes ---------------------------------------------------------------


def probe_cache_path(settings: Settings) -> Path:
    return settings.data_dir / PROBE_CACHE_FILE


@dataclass
class _SavedProbes:
    """Probe answers kept in a file, so that each push's new hook process need not run them.

    The file is only a cache: one that is missing, unreadable or corrupt counts as empty, and
    failing to write it is no error. Hooks of several apps may save at once; the last one
    wins, which at worst costs another process a probe.
    """

    path: Path
    # interpreter path -> (stamp of its binary when probed, the answer)
    entries: dict[str, tuple[_Stamp, _Answer]] = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def load(cls, path: Path) -> _SavedProbes:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return cls(path)
        if not isinstance(data, dict) or data.get("format") != _PROBE_CACHE_FORMAT:
            return cls(path)
        probes = data.get("probes")
        if not isinstance(probes, dict):
            return cls(path)
        entries = {k: e for k, raw in probes.items() if (e := _parse_entry(raw)) is not None}
        return cls(path, entries)

    def record(self, interpreter: str, stamp: _Stamp, answer: _Answer) -> None:
        if self.entries.get(interpreter) != (stamp, answer):
            self.entries[interpreter] = (stamp, answer)
            self.changed = True

    def save(self) -> None:
        """Write the file if a probe was added, atomically; never create the data directory."""
        if not self.changed:
            return
        # Entries of interpreters that are gone would only make the file grow.
        probes = {
            interpreter: {"stat": list(stamp), "found": list(answer) if answer else None}
            for interpreter, (stamp, answer) in self.entries.items()
            if os.path.exists(interpreter)
        }
        text = json.dumps({"format": _PROBE_CACHE_FORMAT, "probes": probes}, indent=1) + "\n"
        _write_atomically(self.path, text)
        self.changed = False


def _parse_entry(raw: object) -> tuple[_Stamp, _Answer] | None:
    """One saved probe as `save` writes it, or None for anything else."""
    if not isinstance(raw, dict):
        return None
    stamp, found = raw.get("stat"), raw.get("found")
    if not isinstance(stamp, list) or len(stamp) != 5 or any(type(n) is not int for n in stamp):
        return None
    if found is None:
        return (stamp[0], stamp[1], stamp[2], stamp[3], stamp[4]), None
    if (
        not isinstance(found, list)
        or len(found) != 3
        or not all(isinstance(s, str) for s in found)
        or not _VERSION.match(found[1])
    ):
        return None
    return (stamp[0], stamp[1], stamp[2], stamp[3], stamp[4]), (found[0], found[1], found[2])


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` through a temporary file unique to this writer."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:
        return  # no data directory (yet), or not ours to write
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# The registry -------------------------------------------------------------------------------


def registry_path(settings: Settings) -> Path:
    return settings.data_dir / REGISTRY_FILE


def _read_registry(settings: Settings) -> list[dict[str, str]]:
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
    if not _VERSION.match(wanted):
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
    entries = [e for e in _read_registry(settings) if Path(e["path"]) != path]
    entries.append(
        {"version": interp.version, "path": str(path), "implementation": interp.implementation}
    )
    _write_registry(settings, entries)
    return interp


def remove_runtime(settings: Settings, target: str | Path) -> list[str]:
    """Forget registered interpreters matching a path or a version; return the paths removed."""
    entries = _read_registry(settings)
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


# Policy ------------------------------------------------------------------------------------


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
