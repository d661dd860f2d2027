"""Which Python an app asks for (heroku-reference §4): parsing, precedence, resolution, sticky.

The parser/resolver tests are pure. The `choose_python` tests use this host's real
interpreters (pyenv 2.7.18, 3.6.15 … 3.13.0; no 3.14, no PyPy) and skip where a host lacks one.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from gitserver.buildpacks.python import probes, registry, runtimes, selection
from gitserver.buildpacks.python.resolution import (
    VersionRequest,
    request_python_version,
    request_runtime,
    resolve_python_version,
    runtime_not_available,
    version_line,
)
from gitserver.buildpacks.python.rules import (
    RuntimeCatalogRules,
    VersionFileRules,
    load_rules,
)
from gitserver.buildpacks.python.types import HostInterpreter
from gitserver.buildpacks.python.version import choose_python
from gitserver.buildpacks.python.versionfiles import (
    decode_version_file,
    parse_pipfile_lock,
    parse_python_version_file,
    parse_runtime_txt,
    sticky_major,
)
from gitserver.pipeline.errors import BuildError
from gitserver.pipeline.report import BuildReport
from gitserver.settings import Settings
from tests.unit.buildctx import make_context, step_lines

_h24, _c14 = load_rules("heroku-24").python, load_rules("cedar-14").python
assert isinstance(_h24, VersionFileRules) and isinstance(_c14, RuntimeCatalogRules)
H24: VersionFileRules = _h24
C14: RuntimeCatalogRules = _c14


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, bytes):
            (root / name).write_bytes(content)
        else:
            (root / name).write_text(content)
    return root


def request(
    tmp_path: Path, files: dict[str, str | bytes], sticky: str | None = None
) -> VersionRequest:
    return request_python_version(write(tmp_path / "app", files), sticky, H24)


def failure(func, *args) -> BuildError:  # type: ignore[no-untyped-def]
    with pytest.raises(BuildError) as info:
        func(*args)
    return info.value


def resolve(version: str, source: str = ".python-version") -> tuple[str, list[str]]:
    requested = None if source in ("sticky", "default") else version
    resolved = resolve_python_version(VersionRequest(version, source, requested), H24)
    return resolved.version, [w.summary for w in resolved.warnings]


def host_has(version: str) -> HostInterpreter | None:
    found = runtimes.list_runtimes(Settings(data_dir=Path("/nonexistent-cedarbox")))
    return next((i for i in found if i.version == version and i.origin == "pyenv"), None)


# heroku-24: parsing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("python-3.12", "3.12"),
        ("python-3.12.1", "3.12.1"),
        ("  python-3.13.0 \n\n", "3.13.0"),
        ("python-2.7.18\n", "2.7.18"),
        ("python-3.99", "3.99"),
    ],
)
def test_runtime_txt_valid(text: str, version: str) -> None:
    assert parse_runtime_txt(text, "3.14") == version


@pytest.mark.parametrize(
    "text",
    [
        "3.12",
        "python 3.12",
        "python-3",
        "pypy-1.9",
        "python-3.12.x",
        "python-3.012",
        "python-3.12 # comment",
        "python-3.12\npython-3.13",
        "",
    ],
)
def test_runtime_txt_invalid(text: str) -> None:
    exc = failure(parse_runtime_txt, text, "3.14")
    assert exc.code == "PYTHON_VERSION_INVALID"
    assert exc.summary == "Invalid Python version in runtime.txt."
    assert text.strip()[:100] in exc.body
    assert any(".python-version" in line for line in exc.body)


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("3.12", "3.12"),
        ("3.12.1\n", "3.12.1"),
        ("# pinned\n\n  3.13  \n# end\n", "3.13"),
        ("\t3.10.0\t\n", "3.10.0"),
        ("    # indented comment\n3.11\n", "3.11"),
    ],
)
def test_python_version_file_valid(text: str, version: str) -> None:
    assert parse_python_version_file(text, "3.14") == version


@pytest.mark.parametrize(
    "line", ["python-3.12", "3", "3.12.*", "'3.12'", "3.12 # inline comment", "3.12.1.1", "3.x"]
)
def test_python_version_file_invalid_shows_the_line(line: str) -> None:
    exc = failure(parse_python_version_file, f"# comment\n{line}\n", "3.14")
    assert exc.code == "PYTHON_VERSION_INVALID"
    assert exc.summary == "Invalid Python version in .python-version."
    assert line in exc.body


@pytest.mark.parametrize("text", ["", "\n\n", "# 3.12\n", "  # only a comment\n   \n"])
def test_python_version_file_without_version(text: str) -> None:
    exc = failure(parse_python_version_file, text, "3.14")
    assert exc.code == "PYTHON_VERSION_EMPTY"
    assert exc.summary == "No Python version found in .python-version."


def test_python_version_file_with_several_versions() -> None:
    exc = failure(parse_python_version_file, "3.12\n# ok\n3.13\n", "3.14")
    assert exc.code == "PYTHON_VERSION_MULTIPLE"
    assert exc.summary == "Multiple Python versions found in .python-version."
    assert "3.12" in exc.body and "3.13" in exc.body


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + b"3.12\n",
        "3.12\n".encode("utf-16"),
        "3.12\n".encode("utf-16-le"),
        codecs.BOM_UTF16_BE + "3.12".encode("utf-16-be"),
        b"3.12\xff\n",
    ],
)
@pytest.mark.parametrize("name", [".python-version", "runtime.txt"])
def test_unreadable_version_files(name: str, data: bytes) -> None:
    exc = failure(decode_version_file, name, data)
    assert exc.code == "PYTHON_VERSION_UNREADABLE"
    assert exc.summary == f"Unable to read {name}."
    assert any("UTF-8" in line for line in exc.body)


def test_unreadable_file_is_reported_by_the_request(tmp_path: Path) -> None:
    exc = failure(request, tmp_path, {".python-version": "3.12\n".encode("utf-16")})
    assert exc.summary == "Unable to read .python-version."


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (codecs.BOM_UTF8 + b"3.12\n", "it starts with a UTF-8 byte order mark (BOM)."),
        ("3.12\n".encode("utf-16"), "it starts with a UTF-16 byte order mark: it was saved as"),
        (b"\x7fELF\x02\x01\x00\x00garbage", "it contains NUL bytes: it is binary data, or text"),
        (b"3.12\xff\n", "it isn't valid UTF-8 text."),
    ],
)
def test_unreadable_version_files_say_what_is_wrong(data: bytes, problem: str) -> None:
    exc = failure(decode_version_file, ".python-version", data)
    assert problem in exc.body[0]
    assert exc.body[-3:] == [
        "For example, from a POSIX shell:",
        "  printf '3.14\\n' > .python-version",
        "Then commit the change and push again.",
    ]


def test_crlf_line_endings_are_accepted(tmp_path: Path) -> None:
    assert request(tmp_path / "a", {".python-version": b"# pin\r\n3.12\r\n"}).version == "3.12"
    assert request(tmp_path / "b", {"runtime.txt": b"python-3.12.1\r\n"}).version == "3.12.1"


def test_a_version_file_symlink_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    for name in (".python-version", "runtime.txt"):
        app = write(tmp_path / name, {"requirements.txt": ""})
        (app / name).symlink_to(secret)
        exc = failure(request_python_version, app, None, H24)
        assert (exc.code, exc.summary) == ("PYTHON_VERSION_UNREADABLE", f"Unable to read {name}.")
        assert exc.body[0].startswith(f"Your {name} file is a symbolic link (to '{secret}').")
        assert not any("root:" in line for line in exc.body)
    dangling = write(tmp_path / "dangling", {})
    (dangling / ".python-version").symlink_to("nowhere")
    assert failure(request_python_version, dangling, None, H24).code == "PYTHON_VERSION_UNREADABLE"


def test_a_huge_version_file_is_refused_with_its_size(tmp_path: Path) -> None:
    exc = failure(request, tmp_path, {".python-version": b"3.12\n" + b"#" * (10 * 1024 * 1024)})
    assert exc.summary == "Unable to read .python-version."
    assert exc.body[:3] == [
        "Your .python-version file is 10,485,765 bytes long. A version file holds a single",
        "line, such as 3.14, so this can't be one (the build reads at most",
        "65,536 bytes of it). Was another file saved under this name?",
    ]
    at_the_limit = b"3.12\n" + b"#" * (64 * 1024 - 5)
    assert request(tmp_path / "limit", {".python-version": at_the_limit}).version == "3.12"


def test_bad_lines_are_shown_printably_and_cut() -> None:
    exc = failure(parse_python_version_file, "\x1b[31m3.12\x07\n", "3.14")
    assert "\ufffd[31m3.12\ufffd" in exc.body
    exc = failure(parse_python_version_file, "3" * 500, "3.14")
    assert "3" * 97 + "..." in exc.body
    exc = failure(parse_runtime_txt, "python-3.12\x1b]0;pwned\x07\n", "3.14")
    assert "python-3.12\ufffd]0;pwned\ufffd" in exc.body


def test_cedar_runtime_txt_is_read_safely(tmp_path: Path) -> None:
    for data in (codecs.BOM_UTF8 + b"python-2.7.9\n", b"\x00\x01", b"p" * (1024 * 1024)):
        app = write(tmp_path / str(len(data)), {"runtime.txt": data})
        exc = failure(request_runtime, app, None, C14)
        assert exc.summary == "Unable to read runtime.txt."
        assert exc.legacy_lines is not None
        assert exc.legacy_lines[-2:] == [
            "  printf 'python-2.7.9\\n' > runtime.txt",
            "Then commit the change and push again.",
        ]
    crlf = write(tmp_path / "crlf", {"runtime.txt": b"python-3.4.2\r\n"})
    assert request_runtime(crlf, None, C14).version == "python-3.4.2"
    garbage = runtime_not_available("python-\x1b[2J" + "9" * 200, "cedar-14", "url")
    assert garbage.legacy_lines is not None
    assert garbage.legacy_lines[0] == (
        f"Requested runtime (python-\ufffd[2J{'9' * 86}...) is not available for this stack"
        " (cedar-14)."
    )


@pytest.mark.parametrize(
    "name", [".python_version", "python-version", ".python-version.txt", "python_version"]
)
def test_misspelled_python_version_file(tmp_path: Path, name: str) -> None:
    exc = failure(request_python_version, write(tmp_path, {name: "3.12\n"}), None, H24)
    assert exc.code == "PYTHON_VERSION_FILE_MISSPELLED"
    assert exc.summary == "Your .python-version file is spelled incorrectly."
    assert any(name in line for line in exc.body)


@pytest.mark.parametrize("name", ["runtime.text", "Runtime.txt", "runtime.txt.txt"])
def test_misspelled_runtime_txt(tmp_path: Path, name: str) -> None:
    exc = failure(request_python_version, write(tmp_path, {name: "python-3.12\n"}), None, H24)
    assert exc.summary == "Your runtime.txt file is spelled incorrectly."


def test_a_correct_file_wins_over_a_misspelled_one(tmp_path: Path) -> None:
    req = request(tmp_path, {".python-version": "3.12", ".python-version.txt": "3.11"})
    assert (req.version, req.source) == ("3.12", ".python-version")


def test_pipfile_lock() -> None:
    full = {"_meta": {"requires": {"python_full_version": "3.12.3", "python_version": "3.12"}}}
    assert parse_pipfile_lock(json.dumps(full), "3.14") == "3.12.3"
    short = '{"_meta": {"requires": {"python_version": "3.11"}}}'
    assert parse_pipfile_lock(short, "3.14") == "3.11"
    assert parse_pipfile_lock('{"_meta": {}}', "3.14") is None
    assert failure(parse_pipfile_lock, "{not json", "3.14").summary == "Can't parse Pipfile.lock."
    exc = failure(parse_pipfile_lock, '{"_meta": {"requires": {"python_version": "3.*"}}}', "3.14")
    assert exc.summary == "Invalid Python version in Pipfile.lock."


# heroku-24: precedence and sticky ---------------------------------------------------------


def test_precedence(tmp_path: Path) -> None:
    lock = json.dumps({"_meta": {"requires": {"python_version": "3.11"}}})
    files: dict[str, str | bytes] = {
        "runtime.txt": "python-3.10",
        ".python-version": "3.12",
        "Pipfile.lock": lock,
    }
    assert request(tmp_path / "a", files, "python-3.13.0").source == "runtime.txt"
    del files["runtime.txt"]
    assert request(tmp_path / "b", files, "python-3.13.0").source == ".python-version"
    del files[".python-version"]
    req = request(tmp_path / "c", files, "python-3.13.0")
    assert (req.source, req.version, req.requested) == ("Pipfile.lock", "3.11", "3.11")
    req = request(tmp_path / "d", {}, "python-3.13.0")
    assert (req.source, req.version, req.requested) == ("sticky", "3.13", None)
    req = request(tmp_path / "e", {}, None)
    assert (req.source, req.version, req.requested) == ("default", "3.14", None)


def test_parse_errors_win_over_lower_precedence_sources(tmp_path: Path) -> None:
    exc = failure(request, tmp_path, {"runtime.txt": "3.12", ".python-version": "3.12"})
    assert exc.summary == "Invalid Python version in runtime.txt."


@pytest.mark.parametrize(
    ("runtime", "major"),
    [
        ("python-3.12.14", "3.12"),
        ("python-3.9.18", "3.9"),
        ("pypy-1.9", None),
        ("python-2.7.9", "2.7"),
        ("garbage", None),
        (None, None),
        ("python-3.12", None),
    ],
)
def test_sticky_major(runtime: str | None, major: str | None) -> None:
    assert sticky_major(runtime) == major


def test_version_lines() -> None:
    assert version_line(VersionRequest("3.12", ".python-version", "3.12")) == (
        "Using Python 3.12 specified in .python-version"
    )
    assert version_line(VersionRequest("3.12.1", "runtime.txt", "3.12.1")) == (
        "Using Python 3.12.1 specified in runtime.txt"
    )
    assert version_line(VersionRequest("3.14", "default", None)) == (
        "No Python version was specified. Using the buildpack default: Python 3.14"
    )
    assert version_line(VersionRequest("3.12", "sticky", None)) == (
        "No Python version was specified. Using the same major version as the last build: "
        "Python 3.12"
    )


# heroku-24: resolution --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("major", "latest"),
    [
        ("3.10", "3.10.21"),
        ("3.11", "3.11.16"),
        ("3.12", "3.12.14"),
        ("3.13", "3.13.15"),
        ("3.14", "3.14.7"),
    ],
)
def test_major_resolves_to_newest_patch(major: str, latest: str) -> None:
    assert resolve(major)[0] == latest


def test_warnings_per_source_and_version() -> None:
    assert resolve("3.12") == ("3.12.14", [])
    assert resolve("3.12.14") == ("3.12.14", [])
    assert resolve("3.12.1") == ("3.12.1", ["A Python patch update is available!"])
    assert resolve("3.12", "runtime.txt") == ("3.12.14", ["The runtime.txt file is deprecated."])
    assert resolve("3.10") == ("3.10.21", ["Support for Python 3.10 is deprecated!"])
    assert resolve("3.10.0", "runtime.txt")[1] == [
        "The runtime.txt file is deprecated.",
        "Support for Python 3.10 is deprecated!",
        "A Python patch update is available!",
    ]
    assert resolve("3.14", "default") == ("3.14.7", ["No Python version was specified."])
    assert resolve("3.12", "sticky") == ("3.12.14", ["No Python version was specified."])


@pytest.mark.parametrize("version", ["3.9", "3.9.18", "3.8", "2.7", "2.7.18", "3.0", "1.0"])
def test_end_of_life(version: str) -> None:
    exc = failure(resolve, version)
    assert exc.code == "PYTHON_VERSION_EOL"
    assert exc.summary == "The requested Python version has reached end-of-life."
    assert any("3.10" in line for line in exc.body)


@pytest.mark.parametrize("version", ["3.15", "3.15.0", "3.99", "4.0", "4.0.0"])
def test_unrecognised(version: str) -> None:
    exc = failure(resolve, version)
    assert exc.code == "PYTHON_VERSION_UNKNOWN"
    assert exc.summary == "The requested Python version isn't recognised."


@pytest.mark.parametrize("version", ["3.12.15", "3.14.8", "3.10.99"])
def test_unavailable_patch(version: str) -> None:
    exc = failure(resolve, version)
    assert exc.code == "PYTHON_VERSION_UNAVAILABLE"
    assert exc.summary == "The requested Python version isn't available."


def test_sticky_errors_speak_of_the_cached_version() -> None:
    assert failure(resolve, "3.9", "sticky").summary == (
        "The cached Python version has reached end-of-life."
    )
    assert failure(resolve, "3.15", "sticky").summary == (
        "The cached Python version isn't recognised."
    )


# cedar-14: the 2015 catalog ---------------------------------------------------------------


def test_cedar_catalog() -> None:
    assert list(C14.catalog.names) == [
        "python-2.7.9",
        "python-3.4.2",
        "python-2.7.10",
        "python-3.4.3",
        "pypy-1.9",
        "python-2.4.6",
        "python-2.5.5",
        "python-2.6.9",
        "python-3.1.5",
        "python-3.2.5",
        "python-3.3.3",
    ]


def test_cedar_request(tmp_path: Path) -> None:
    app = write(tmp_path / "a", {"runtime.txt": "python-3.4.2\n"})
    assert request_runtime(app, "python-2.7.9", C14) == VersionRequest(
        "python-3.4.2", "runtime.txt", "python-3.4.2"
    )
    empty = write(tmp_path / "b", {"requirements.txt": ""})
    assert request_runtime(empty, None, C14) == VersionRequest("python-2.7.9", "default", None)
    assert request_runtime(empty, "python-3.4.2", C14) == VersionRequest(
        "python-3.4.2", "sticky", None
    )
    # A runtime the 2015 catalog never had (e.g. from a heroku-24 build) isn't sticky here.
    assert request_runtime(empty, "python-3.12.14", C14).source == "default"
    # heroku-24's file is not a cedar-14 thing.
    dotfile = write(tmp_path / "c", {".python-version": "3.4"})
    assert request_runtime(dotfile, None, C14).source == "default"


# choose_python: the step, on this host's interpreters ---------------------------------------


def test_choose_same_major_prints_the_honest_line(tmp_path: Path) -> None:
    if host_has("3.12.1") is None:
        pytest.skip("needs pyenv 3.12.1")
    ctx = make_context(tmp_path, files={".python-version": "3.12\n"})
    chosen = choose_python(ctx)
    assert (chosen.version, chosen.runtime_name) == ("3.12.14", "python-3.12.14")
    assert chosen.interpreter.version == "3.12.1"
    assert ctx.out.transcript == [
        "-----> Using Python 3.12 specified in .python-version",
        "       Heroku would install Python 3.12.14; this host provides 3.12.1.",
    ]
    py = ctx.report.python
    assert (py.requested, py.source, py.resolved, py.used, py.exact, py.runtime_name) == (
        "3.12",
        ".python-version",
        "3.12.14",
        "3.12.1",
        False,
        "python-3.12.14",
    )
    assert py.interpreter == str(chosen.interpreter.path)
    assert ctx.report.warnings == []


def test_choose_default_falls_back_to_newest_host_major(tmp_path: Path) -> None:
    host = runtimes.list_runtimes(Settings(data_dir=tmp_path / "probe"))
    if selection.find_interpreter(host, "3.14.7") is not None:
        pytest.skip("this host has Python 3.14: no fallback to show")
    newest = selection.newest_of_majors(host, H24.latest_patches)
    assert newest is not None
    ctx = make_context(tmp_path, files={"requirements.txt": ""})
    chosen = choose_python(ctx)
    assert chosen.version == "3.14.7" and chosen.source == "default"
    assert chosen.interpreter == newest
    transcript = ctx.out.transcript
    assert transcript[0] == (
        "-----> No Python version was specified. Using the buildpack default: Python 3.14"
    )
    assert transcript[1].startswith("       Heroku would install Python 3.14.7; this host has no")
    assert " !     Warning: No Python version was specified." in transcript
    fallback = f"Python 3.14 isn't installed on this host; using Python {newest.major} instead."
    assert f" !     Warning: {fallback}" in transcript
    assert any("cedarbox runtimes:add 3.14.7" in line for line in transcript)
    assert ctx.report.warnings == ["No Python version was specified.", fallback]
    assert ctx.report.python.exact is False


def test_choose_sticky_major(tmp_path: Path) -> None:
    if host_has("3.12.1") is None:
        pytest.skip("needs pyenv 3.12.1")
    ctx = make_context(tmp_path, files={"requirements.txt": ""}, sticky_runtime="python-3.12.14")
    chosen = choose_python(ctx)
    assert (chosen.source, chosen.version, chosen.interpreter.version) == (
        "sticky",
        "3.12.14",
        "3.12.1",
    )
    assert step_lines(ctx) == [
        "-----> No Python version was specified. Using the same major version as the last "
        "build: Python 3.12"
    ]
    assert ctx.report.warnings == ["No Python version was specified."]


def test_choose_explicit_major_missing_on_host_fails(tmp_path: Path) -> None:
    host = runtimes.list_runtimes(Settings(data_dir=tmp_path / "probe"))
    if selection.find_interpreter(host, "3.14.7") is not None:
        pytest.skip("this host has Python 3.14")
    ctx = make_context(tmp_path, files={".python-version": "3.14\n"})
    exc = failure(choose_python, ctx)
    assert exc.code == "RUNTIME_MISSING_ON_HOST"
    assert exc.summary == "Python 3.14 isn't installed on this host."
    text = "\n".join(exc.body)
    assert "cedarbox runtimes:add 3.14.7" in text and "pyenv install 3.14" in text
    assert step_lines(ctx) == ["-----> Using Python 3.14 specified in .python-version"]
    assert ctx.report.python.requested == "3.14" and ctx.report.python.used is None


def test_choose_exact_version_from_the_registry(tmp_path: Path) -> None:
    system = Path("/usr/bin/python3.11")
    found = probes.probe(system) if system.exists() else None
    if found is None:
        pytest.skip("needs /usr/bin/python3.11")
    data = tmp_path / "data"
    registry.add_runtime(Settings(data_dir=data), found.version, system)
    ctx = make_context(tmp_path, files={"runtime.txt": f"python-{found.version}"}, data_dir=data)
    chosen = choose_python(ctx)
    assert chosen.interpreter.path == system and chosen.interpreter.origin == "registry"
    assert chosen.exact and ctx.report.python.exact is True
    assert ctx.out.transcript[0] == f"-----> Using Python {found.version} specified in runtime.txt"
    assert not any(line.startswith("       Heroku would") for line in ctx.out.transcript)
    assert "The runtime.txt file is deprecated." in ctx.report.warnings


def test_parse_errors_come_before_the_using_line(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={".python-version": "python-3.12\n"})
    assert failure(choose_python, ctx).code == "PYTHON_VERSION_INVALID"
    assert ctx.out.transcript == []
    assert ctx.report.python.requested is None


def test_eol_and_unknown_errors_come_after_the_using_line(tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "a", files={".python-version": "3.9\n"})
    assert failure(choose_python, ctx).code == "PYTHON_VERSION_EOL"
    assert ctx.out.transcript == ["-----> Using Python 3.9 specified in .python-version"]
    assert ctx.report.python.requested == "3.9"
    ctx = make_context(tmp_path / "b", files={"runtime.txt": "python-3.15"})
    assert failure(choose_python, ctx).code == "PYTHON_VERSION_UNKNOWN"
    assert ctx.out.transcript == ["-----> Using Python 3.15 specified in runtime.txt"]


def test_warnings_are_printed_and_recorded(tmp_path: Path) -> None:
    if host_has("3.10.13") is None:
        pytest.skip("needs pyenv 3.10.13")
    ctx = make_context(tmp_path, files={"runtime.txt": "python-3.10.13\n"})
    chosen = choose_python(ctx)
    assert chosen.exact and chosen.version == "3.10.13"
    assert ctx.report.warnings == [
        "The runtime.txt file is deprecated.",
        "Support for Python 3.10 is deprecated!",
        "A Python patch update is available!",
    ]
    warning_lines = [line for line in ctx.out.transcript if line.startswith(" !     Warning:")]
    assert warning_lines == [f" !     Warning: {w}" for w in ctx.report.warnings]


# choose_python on cedar-14 -------------------------------------------------------------------


def test_cedar_default_runtime(tmp_path: Path) -> None:
    if host_has("2.7.18") is None:
        pytest.skip("needs pyenv 2.7.18")
    ctx = make_context(tmp_path, stack="cedar-14", files={"requirements.txt": ""})
    chosen = choose_python(ctx)
    assert (chosen.runtime_name, chosen.version, chosen.source) == (
        "python-2.7.9",
        "2.7.9",
        "default",
    )
    assert chosen.interpreter.version == "2.7.18"
    assert ctx.out.transcript == []  # the 2015 buildpack said nothing about the version here
    assert ctx.report.python.runtime_name == "python-2.7.9"


def test_cedar_runtime_not_in_catalog(tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path, stack="cedar-14", files={"requirements.txt": "", "runtime.txt": "python-3.5.0\n"}
    )
    exc = failure(choose_python, ctx)
    assert exc.code == "RUNTIME_NOT_AVAILABLE"
    assert exc.legacy_lines == [
        "Requested runtime (python-3.5.0) is not available for this stack (cedar-14).",
        "Aborting.  More info: https://devcenter.heroku.com/articles/python-support",
    ]
    assert ctx.out.transcript == ["-----> Installing runtime (python-3.5.0)"]


def test_cedar_major_missing_on_host_and_nearest_major(tmp_path: Path) -> None:
    host = runtimes.list_runtimes(Settings(data_dir=tmp_path / "probe"))
    if selection.find_interpreter(host, "3.4.2") is not None or host_has("3.6.15") is None:
        pytest.skip("needs a host without Python 3.4 and with pyenv 3.6.15")
    files = {"requirements.txt": "", "runtime.txt": "python-3.4.2"}
    ctx = make_context(tmp_path / "a", stack="cedar-14", files=files)
    exc = failure(choose_python, ctx)
    assert exc.code == "RUNTIME_MISSING_ON_HOST"
    assert exc.legacy_lines is not None
    assert exc.legacy_lines[0] == "Requested runtime (python-3.4.2) is not installed on this host."
    legacy = "\n".join(exc.legacy_lines)
    assert "CEDARBOX_NEAREST_MAJOR=1" in legacy and "3.6.15" in legacy
    assert "cedarbox runtimes:add 3.4.2" in legacy

    ctx = make_context(tmp_path / "b", stack="cedar-14", files=files, nearest_major=True)
    chosen = choose_python(ctx)
    assert (chosen.version, chosen.interpreter.version) == ("3.4.2", "3.6.15")
    assert selection.host_note(chosen) == (
        "Heroku would install Python 3.4.2; this host has no Python 3.4, so this build uses "
        "Python 3.6.15."
    )


def test_nearest_major_is_off_for_heroku_24(tmp_path: Path) -> None:
    host = runtimes.list_runtimes(Settings(data_dir=tmp_path / "probe"))
    if selection.find_interpreter(host, "3.14.7") is not None:
        pytest.skip("this host has Python 3.14")
    ctx = make_context(tmp_path, files={".python-version": "3.14"}, nearest_major=True)
    assert failure(choose_python, ctx).code == "RUNTIME_MISSING_ON_HOST"


def test_cedar_pypy_needs_a_pypy_on_the_host(tmp_path: Path) -> None:
    host = runtimes.list_runtimes(Settings(data_dir=tmp_path / "probe"))
    if any(i.implementation == "pypy" for i in host):
        pytest.skip("this host has PyPy")
    files = {"requirements.txt": "", "runtime.txt": "pypy-1.9"}
    ctx = make_context(tmp_path, stack="cedar-14", files=files, nearest_major=True)
    exc = failure(choose_python, ctx)
    assert exc.code == "RUNTIME_MISSING_ON_HOST"
    assert exc.summary == "PyPy 1.9 isn't installed on this host."


def test_report_is_a_real_build_report(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, files={".python-version": "3.9"})
    assert isinstance(ctx.report, BuildReport)
    failure(choose_python, ctx)
    python = ctx.report.to_json()["python"]
    assert isinstance(python, dict) and python["requested"] == "3.9"
