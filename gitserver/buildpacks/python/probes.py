"""What a host interpreter really is, learnt by running it once per binary.

Every push builds in a new hook process, so the answers are also kept in
`<data_dir>/runtimes-cache.json`, keyed by the path and the stat of the binary it resolves to
(a replaced or changed binary is run again).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gitserver.buildpacks.python.pyversions import HOST_VERSION
from gitserver.buildpacks.python.types import HostInterpreter
from gitserver.settings import Settings

PROBE_CACHE_FILE = "runtimes-cache.json"

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
PROBE_ARGS = ("-E", "-S", "-c", _PROBE)  # after an interpreter's path: it says what it is

# What an interpreter reports: (implementation, language version, PyPy version or "-"),
# or None if it is not a Python.
_Answer = tuple[str, str, str] | None
# The stat of the binary a path resolves to: (st_dev, st_ino, st_size, st_mtime_ns,
# st_ctime_ns). The ctime catches a rewrite that restored the mtime (`cp -p`, rsync).
_Stamp = tuple[int, int, int, int, int]
_PROBE_CACHE_FORMAT = 1

# Per process: (path, *stamp) -> what the interpreter reported, or None if it failed.
_probed: dict[tuple[str, int, int, int, int, int], _Answer] = {}


def probe(
    path: Path, *, origin: str = "", saved: SavedProbes | None = None
) -> HostInterpreter | None:
    """Run `path` once to learn its implementation and version; None if it is not a Python.

    `saved` answers from (and adds to) the probes saved by earlier processes.
    """
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


def _saved_or_run(path: Path, stamp: _Stamp, saved: SavedProbes | None) -> _Answer:
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


def _run_probe(path: Path) -> tuple[_Answer, bool]:
    """What `path` reports now, and whether that answer says something lasting about the file.

    A timeout, a failed fork or a kill by a signal says more about the machine's load than
    about the file: such a failure is not saved for later processes, the next build retries.
    """
    if not os.access(path, os.X_OK) or path.is_dir():
        return None, True
    try:
        proc = subprocess.run(
            [str(path), *PROBE_ARGS],
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
    return parse_answer(proc.returncode, proc.stdout), True


def parse_answer(returncode: int, stdout: str) -> _Answer:
    """The answer in a probe's output (PROBE_ARGS): None unless it ran and said what it is."""
    lines = stdout.strip().splitlines()
    parts = lines[-1].split() if lines else []
    if returncode != 0 or len(parts) != 3 or not HOST_VERSION.match(parts[1]):
        return None
    return parts[0], parts[1], parts[2]


def _probe_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


# Probes saved across processes ---------------------------------------------------------------


def probe_cache_path(settings: Settings) -> Path:
    return settings.data_dir / PROBE_CACHE_FILE


@dataclass
class SavedProbes:
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
    def load(cls, path: Path) -> SavedProbes:
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
        or not HOST_VERSION.match(found[1])
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
