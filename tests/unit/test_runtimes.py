"""Host interpreter discovery (registry, pyenv, uv, PATH), the registry, and the choosing policy.

Discovery tests run this host's real interpreters (pyenv's, linked into temporary layouts);
they skip where the host lacks one. Policy tests are pure, over HostInterpreter values.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitserver.buildpacks.python import probes
from gitserver.buildpacks.python.probes import probe, probe_cache_path
from gitserver.buildpacks.python.registry import (
    RuntimeRegistrationError,
    add_runtime,
    remove_runtime,
)
from gitserver.buildpacks.python.runtimes import list_runtimes
from gitserver.buildpacks.python.selection import (
    describe,
    find_interpreter,
    host_note,
    nearest_major,
    newest_of_majors,
    newest_pypy,
)
from gitserver.buildpacks.python.types import ChosenPython, HostInterpreter
from gitserver.settings import Settings

PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"


def pyenv_python(version: str) -> Path:
    path = PYENV / version / "bin" / "python"
    if not path.exists():
        pytest.skip(f"needs pyenv {version}")
    return path


def isolated(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment in which discovery sees only what a test puts there."""
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    env = {
        "HOME": str(tmp_path / "home"),
        "PYENV_ROOT": str(empty),
        "PATH": str(empty),
        "UV_PYTHON_INSTALL_DIR": str(empty),
    }
    env.update(extra)
    return env


def interp(
    version: str, origin: str = "pyenv", implementation: str = "cpython", language: str = ""
) -> HostInterpreter:
    return HostInterpreter(
        path=Path(f"/opt/{origin}/{implementation}-{version}/bin/python"),
        version=version,
        implementation=implementation,
        origin=origin,
        language_version=language,
    )


# Probing -----------------------------------------------------------------------------------


def test_probe_reports_version_and_caches_per_process() -> None:
    path = pyenv_python("3.12.1")
    found = probe(path, origin="pyenv")
    assert found == HostInterpreter(path=path, version="3.12.1", origin="pyenv")
    key = next(k for k in probes._probed if k[0] == str(path))
    probes._probed[key] = ("cpython", "9.9.9", "-")  # a cached answer is not re-run
    try:
        assert probe(path) is not None and probe(path).version == "9.9.9"  # type: ignore[union-attr]
    finally:
        del probes._probed[key]
    assert probe(path).version == "3.12.1"  # type: ignore[union-attr]


def test_probe_python_2() -> None:
    found = probe(pyenv_python("2.7.18"))
    assert found is not None and (found.version, found.implementation) == ("2.7.18", "cpython")
    assert found.language == "2.7.18"


def test_probe_rejects_non_pythons(tmp_path: Path) -> None:
    script = tmp_path / "python3.99"
    script.write_text("#!/bin/sh\necho 'cpython not-a-version -'\n")
    script.chmod(0o755)
    assert probe(script) is None
    assert probe(tmp_path / "missing") is None
    assert probe(Path("/bin/true")) is None


# Discovery -----------------------------------------------------------------------------------


def test_discovers_pyenv_versions(tmp_path: Path) -> None:
    if not PYENV.is_dir():
        pytest.skip("needs pyenv")
    env = isolated(tmp_path, PYENV_ROOT=str(PYENV.parent))
    found = list_runtimes(Settings(data_dir=tmp_path), env)
    assert found, "pyenv has versions but none were found"
    for item in found:
        assert item.origin == "pyenv"
        assert item.path.parent.parent.parent == PYENV
        assert item.path.parent.parent.name == item.version  # pyenv names dirs by version


def test_discovers_path_and_uv_and_skips_shims_and_venvs(tmp_path: Path) -> None:
    py39, py310, py311 = (pyenv_python(v) for v in ("3.9.18", "3.10.13", "3.11.7"))
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "python3.9").symlink_to(py39.resolve())
    shim = on_path / "python3.8"  # pyenv's shims are scripts: never used
    shim.write_text('#!/usr/bin/env bash\nexec pyenv exec python3.8 "$@"\n')
    shim.chmod(0o755)
    (on_path / "python3").symlink_to(py39.resolve())  # only pythonX.Y names are looked at
    venv = tmp_path / "venv"
    subprocess.run([str(py311), "-m", "venv", "--without-pip", str(venv)], check=True)
    uv = tmp_path / "uv"
    (uv / "cpython-3.10.13-linux-x86_64-gnu" / "bin").mkdir(parents=True)
    (uv / "cpython-3.10.13-linux-x86_64-gnu" / "bin" / "python3").symlink_to(py310.resolve())
    (uv / ".lock").write_text("")
    env = isolated(
        tmp_path,
        PATH=os.pathsep.join([str(on_path), str(venv / "bin"), "relative/bin"]),
        UV_PYTHON_INSTALL_DIR=str(uv),
    )
    found = list_runtimes(Settings(data_dir=tmp_path), env)
    assert [(i.origin, i.version, i.path) for i in found] == [
        ("uv", "3.10.13", uv / "cpython-3.10.13-linux-x86_64-gnu" / "bin" / "python3"),
        ("path", "3.9.18", on_path / "python3.9"),
    ]


def test_uv_default_location_and_dedup_prefers_the_earlier_source(tmp_path: Path) -> None:
    py311 = pyenv_python("3.11.7")
    home = tmp_path / "home"
    uv_bin = home / ".local" / "share" / "uv" / "python" / "cpython-3.11.7-linux" / "bin"
    uv_bin.mkdir(parents=True)
    (uv_bin / "python3").symlink_to(py311.resolve())
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "python3.11").symlink_to(py311.resolve())  # the same binary again
    env = isolated(tmp_path, HOME=str(home), PATH=str(on_path))
    del env["UV_PYTHON_INSTALL_DIR"]
    found = list_runtimes(Settings(data_dir=tmp_path), env)
    assert [(i.origin, i.version) for i in found] == [("uv", "3.11.7")]


# Probes saved across processes -------------------------------------------------------------------


@pytest.fixture
def new_process(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Forget this process's probes, as a new push's hook process starts without them."""

    def forget() -> None:
        monkeypatch.setattr(probes, "_probed", {})

    forget()
    return forget


@pytest.fixture
def probe_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The programs run through subprocess.run from now on (they still really run)."""
    ran: list[str] = []
    real_run = subprocess.run

    def counting(args: list[str], *rest: object, **kwargs: object) -> object:
        ran.append(str(args[0]))
        return real_run(args, *rest, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", counting)
    return ran


def fake_python(path: Path, reports: str) -> Path:
    """An executable that answers the probe with `reports`, registered by path (the registry
    takes scripts, which discovery elsewhere skips)."""
    path.write_text(f"#!/bin/sh\necho '{reports}'\n")
    path.chmod(0o755)
    return path


def register(settings: Settings, *paths: Path) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    entries = [{"version": "?", "path": str(p)} for p in paths]
    (settings.data_dir / "runtimes.json").write_text(json.dumps({"runtimes": entries}))


def versions(settings: Settings, env: dict[str, str]) -> list[str]:
    return [i.version for i in list_runtimes(settings, env)]


def test_a_new_process_reuses_the_saved_probes(
    tmp_path: Path, new_process: Callable[[], None], probe_runs: list[str]
) -> None:
    if not PYENV.is_dir():
        pytest.skip("needs pyenv")
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir()
    env = isolated(tmp_path, PYENV_ROOT=str(PYENV.parent))
    first = list_runtimes(settings, env)
    assert first and len(probe_runs) >= len(first)
    saved = probe_cache_path(settings)
    written = saved.stat()
    new_process()
    probe_runs.clear()
    assert list_runtimes(settings, env) == first
    assert probe_runs == []
    after = saved.stat()  # nothing new: the file was not rewritten
    assert (after.st_ino, after.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    assert not [p for p in settings.data_dir.iterdir() if p.name.endswith(".tmp")]


def test_a_changed_or_replaced_interpreter_is_probed_again(
    tmp_path: Path, new_process: Callable[[], None], probe_runs: list[str]
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    python = fake_python(tmp_path / "python", "cpython 3.12.1 -")
    register(settings, python)
    env = isolated(tmp_path)
    assert versions(settings, env) == ["3.12.1"]
    # Rewritten in place, same size, mtime put back (cp -p, rsync -t): only the ctime tells.
    before = python.stat()
    while python.stat().st_ctime_ns == before.st_ctime_ns:  # the ctime clock is coarse
        fake_python(python, "cpython 3.12.2 -")
        os.utime(python, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (python.stat().st_size, python.stat().st_mtime_ns) == (
        before.st_size,
        before.st_mtime_ns,
    )
    new_process()
    assert versions(settings, env) == ["3.12.2"]
    # Replaced by another file (a reinstall): a new inode.
    fake_python(tmp_path / "new", "cpython 3.12.3 -").replace(python)
    new_process()
    assert versions(settings, env) == ["3.12.3"]
    assert len(probe_runs) == 3
    new_process()
    assert versions(settings, env) == ["3.12.3"] and len(probe_runs) == 3


def test_a_failed_probe_is_saved_until_the_file_changes(
    tmp_path: Path, new_process: Callable[[], None], probe_runs: list[str]
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nexit 3\n")
    python.chmod(0o755)
    register(settings, python)
    env = isolated(tmp_path)
    assert versions(settings, env) == []
    new_process()
    assert versions(settings, env) == [] and len(probe_runs) == 1
    fake_python(python, "cpython 3.11.7 -")
    new_process()
    assert versions(settings, env) == ["3.11.7"] and len(probe_runs) == 2


def test_a_timed_out_probe_is_not_saved(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_process: Callable[[], None],
    probe_runs: list[str],
) -> None:
    monkeypatch.setattr(probes, "_PROBE_TIMEOUT", 0.2)
    settings = Settings(data_dir=tmp_path / "data")
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nexec sleep 30\n")  # a Python too busy to answer, say
    python.chmod(0o755)
    register(settings, python)
    env = isolated(tmp_path)
    assert versions(settings, env) == []
    new_process()
    assert versions(settings, env) == [] and len(probe_runs) == 2  # tried again
    assert not probe_cache_path(settings).exists()


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"format": 99, "probes": {}}',
        b'{"format": 1, "probes": []}',
        b'{"format": 1, "probes": {"PATH": "junk"}}',
        b'{"format": 1, "probes": {"PATH": {"stat": [1, 2, 3], "found": null}}}',
        b'{"format": 1, "probes": {"PATH": {"stat": "STAT", "found": ["cpython", "x", "-"]}}}',
        b"[" * 100_000,
    ],
)
def test_a_corrupt_probe_cache_counts_as_empty(
    tmp_path: Path, new_process: Callable[[], None], probe_runs: list[str], content: bytes
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    python = fake_python(tmp_path / "python", "cpython 3.12.1 -")
    register(settings, python)
    stamp = list(probes._stamp(python.stat()))
    content = content.replace(b"PATH", str(python).encode()).replace(
        b'"STAT"', json.dumps(stamp).encode()
    )
    probe_cache_path(settings).write_bytes(content)
    assert versions(settings, isolated(tmp_path)) == ["3.12.1"]
    assert len(probe_runs) == 1
    new_process()  # and the file written in its place serves the next process
    assert versions(settings, isolated(tmp_path)) == ["3.12.1"] and len(probe_runs) == 1


def test_an_unwritable_probe_cache_is_no_error(
    tmp_path: Path, new_process: Callable[[], None], probe_runs: list[str]
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    python = fake_python(tmp_path / "python", "cpython 3.12.1 -")
    register(settings, python)
    probe_cache_path(settings).mkdir()  # neither readable nor replaceable as a file
    assert versions(settings, isolated(tmp_path)) == ["3.12.1"]
    assert sorted(p.name for p in settings.data_dir.iterdir()) == [
        "runtimes-cache.json",
        "runtimes.json",
    ]


def test_the_data_directory_is_not_created_for_the_probe_cache(tmp_path: Path) -> None:
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "python3.12").symlink_to(pyenv_python("3.12.1").resolve())
    settings = Settings(data_dir=tmp_path / "missing")
    found = list_runtimes(settings, isolated(tmp_path, PATH=str(on_path)))
    assert [i.version for i in found] == ["3.12.1"]
    assert not settings.data_dir.exists()


# The registry ----------------------------------------------------------------------------------


def test_add_list_remove_runtime(tmp_path: Path) -> None:
    py312 = pyenv_python("3.12.1")
    settings = Settings(data_dir=tmp_path / "data")
    added = add_runtime(settings, "3.12.1", py312)
    assert (added.version, added.origin, added.path) == ("3.12.1", "registry", py312)
    assert add_runtime(settings, "3.12", py312).version == "3.12.1"  # a major is enough
    assert add_runtime(settings, "python-3.12.1", py312).version == "3.12.1"
    registry = (tmp_path / "data" / "runtimes.json").read_text()
    assert registry.count(str(py312)) == 1  # re-adding replaces the entry
    found = list_runtimes(settings, isolated(tmp_path))
    assert [(i.origin, i.version) for i in found] == [("registry", "3.12.1")]
    # The registry beats pyenv for the same binary.
    env = isolated(tmp_path, PYENV_ROOT=str(PYENV.parent))
    assert [i.origin for i in list_runtimes(settings, env) if i.version == "3.12.1"] == ["registry"]
    assert remove_runtime(settings, "3.12.1") == [str(py312)]
    assert list_runtimes(settings, isolated(tmp_path)) == []
    add_runtime(settings, "3.12.1", py312)
    assert remove_runtime(settings, py312) == [str(py312)]
    with pytest.raises(RuntimeRegistrationError):
        remove_runtime(settings, "3.12.1")


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("3.11.7", "is Python 3.12.1, not 3.11.7"),
        ("3.1", "is Python 3.12.1, not 3.1"),
        ("pypy-7.3.1", "is Python 3.12.1, not pypy-7.3.1"),
        ("three", "is not a Python version"),
    ],
)
def test_add_runtime_checks_the_version(tmp_path: Path, version: str, message: str) -> None:
    py312 = pyenv_python("3.12.1")
    with pytest.raises(RuntimeRegistrationError) as info:
        add_runtime(Settings(data_dir=tmp_path), version, py312)
    assert message in info.value.message
    assert info.value.code == "RUNTIME_INVALID"
    assert not (tmp_path / "runtimes.json").exists()


def test_add_runtime_checks_the_path(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(RuntimeRegistrationError, match="not an executable file"):
        add_runtime(settings, "3.12.1", tmp_path / "nope")
    fake = tmp_path / "python3.12"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(RuntimeRegistrationError, match="did not run as a Python interpreter"):
        add_runtime(settings, "3.12.1", fake)


def test_a_registered_interpreter_that_vanished_is_skipped(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    (tmp_path / "runtimes.json").write_text(
        '{"runtimes": [{"version": "3.12.1", "path": "/nonexistent/python3.12"}, "junk"]}'
    )
    assert list_runtimes(settings, isolated(tmp_path)) == []
    (tmp_path / "runtimes.json").write_text("not json")
    assert list_runtimes(settings, isolated(tmp_path)) == []


# Policy (pure) -------------------------------------------------------------------------------


HOST = [
    interp("3.12.1", "registry"),
    interp("2.7.18"),
    interp("3.6.15"),
    interp("3.12.1"),
    interp("3.12.0", "uv"),
    interp("3.13.0"),
    interp("3.11.2", "path"),
    interp("3.11.7"),
    interp("7.3.15", "pyenv", "pypy", "2.7.18"),
    interp("7.3.16", "pyenv", "pypy", "3.10.14"),
]


def test_exact_version_first_then_newest_patch_of_the_major() -> None:
    assert find_interpreter(HOST, "3.11.2") == interp("3.11.2", "path")
    assert find_interpreter(HOST, "3.11.16") == interp("3.11.7")
    assert find_interpreter(HOST, "3.12.14") == interp("3.12.1", "registry")  # registry first
    assert find_interpreter(HOST, "2.7.9") == interp("2.7.18")
    assert find_interpreter(HOST, "3.14.7") is None
    assert find_interpreter(HOST, "3.4.2") is None
    assert find_interpreter(HOST, "7.3.15", "pypy") == HOST[8]
    assert find_interpreter(HOST, "1.9", "pypy") is None


def test_nearest_major() -> None:
    assert nearest_major(HOST, "3.4.2") == interp("3.6.15")
    assert nearest_major(HOST, "2.6.9") == interp("2.7.18")
    assert nearest_major(HOST, "3.15.0") == interp("3.13.0")
    assert nearest_major([interp("3.3.7"), interp("3.5.10")], "3.4.2") == interp("3.5.10")
    assert nearest_major(HOST, "4.0.0") is None


def test_newest_of_majors_and_pypy() -> None:
    supported = ["3.10", "3.11", "3.12", "3.13", "3.14"]
    assert newest_of_majors(HOST, supported) == interp("3.13.0")
    assert newest_of_majors(HOST, ["2.7", "3.4"]) == interp("2.7.18")
    assert newest_of_majors(HOST, ["3.4"]) is None
    assert newest_pypy(HOST, "2.7") == HOST[8]
    assert newest_pypy(HOST, "3.10") == HOST[9]
    assert newest_pypy(HOST[:8], "2.7") is None


def test_host_notes() -> None:
    def chosen(version: str, used: HostInterpreter, name: str | None = None) -> ChosenPython:
        return ChosenPython(version, name or f"python-{version}", None, "default", used)

    assert host_note(chosen("3.12.1", interp("3.12.1"))) is None
    assert host_note(chosen("3.12.14", interp("3.12.1"))) == (
        "Heroku would install Python 3.12.14; this host provides 3.12.1."
    )
    assert host_note(chosen("3.14.7", interp("3.13.0"))) == (
        "Heroku would install Python 3.14.7; this host has no Python 3.14, so this build "
        "uses Python 3.13.0."
    )
    assert host_note(chosen("1.9", HOST[8], "pypy-1.9")) == (
        "Heroku would install PyPy 1.9; this host provides 7.3.15."
    )


def test_describe() -> None:
    assert describe(HOST) == (
        "2.7.18, 3.6.15, 3.11.2, 3.11.7, 3.12.0, 3.12.1, 3.13.0, PyPy 7.3.15, PyPy 7.3.16"
    )
    assert describe([]) == "none"
