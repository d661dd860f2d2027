"""Procfile parsing, .slugignore matching and slug export."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from gitserver.pipeline.errors import BuildError
from gitserver.pipeline.procfile import parse_procfile
from gitserver.pipeline.slug import format_size, write_slug
from gitserver.pipeline.slugignore import SlugIgnore


def test_parse_procfile_reads_types_in_order() -> None:
    text = "# comment\n\nweb: gunicorn app:app --log-file -\r\nworker:python w.py\nrelease: ./r\n"
    assert parse_procfile(text) == {
        "web": "gunicorn app:app --log-file -",
        "worker": "python w.py",
        "release": "./r",
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("web gunicorn app\n", "Line 1"),
        ("web: a\nbad line\n", "Line 2"),
        ("web: a\nweb: b\n", "declared twice"),
        ("we b: x\n", "Line 1"),
        ("web:\n", "Line 1"),
    ],
)
def test_parse_procfile_names_the_bad_line(text: str, reason: str) -> None:
    with pytest.raises(BuildError) as info:
        parse_procfile(text)
    assert info.value.code == "INVALID_PROCFILE"
    assert reason in "\n".join(info.value.body)


def test_parse_procfile_limits_a_huge_file() -> None:
    text = "".join(f"p{i}: run {i}\n" for i in range(10_000))
    with pytest.raises(BuildError) as info:
        parse_procfile(text)
    assert info.value.code == "INVALID_PROCFILE"
    assert info.value.body[0] == (
        "The Procfile declares 10000 process types, but cedarbox accepts at most 100."
    )
    at_the_limit = "".join(f"p{i}: run {i}\n" for i in range(100))
    assert parse_procfile(at_the_limit) == {f"p{i}": f"run {i}" for i in range(100)}


def test_parse_procfile_shows_the_first_bad_lines_and_counts_the_rest() -> None:
    text = "web: ok\n" + "".join(f"p{i} run {i}\n" for i in range(10_000))
    with pytest.raises(BuildError) as info:
        parse_procfile(text)
    assert info.value.body == [
        "10000 lines of the Procfile could not be parsed; the first 5:",
        *[
            line
            for i in range(5)
            for line in (f"Line {i + 2}: expected `<process type>: <command>`.", f"  p{i} run {i}")
        ],
        "... and 9995 more.",
        "",
        "Each line must name a process type (letters, digits, '_' or '-'), a colon,",
        "and the command to run, for example:",
        "  web: gunicorn app:app",
    ]


def test_parse_procfile_shows_bad_lines_printably() -> None:
    with pytest.raises(BuildError) as info:
        parse_procfile("web: ok\n\x1b[2Jbad\x07 line\nworker " + "x" * 500 + "\n")
    body = info.value.body
    assert body[:3] == [
        "2 lines of the Procfile could not be parsed:",
        "Line 2: expected `<process type>: <command>`.",
        "  \ufffd[2Jbad\ufffd line",
    ]
    assert body[4] == "  worker " + "x" * 110 + "..."


def test_slugignore_patterns() -> None:
    ignore = SlugIgnore.parse("*.psd\n/docs\ntests/fixtures\n# comment\n!keep.psd\n")
    assert ignore.ignores("art/logo.psd")
    assert ignore.ignores("docs/index.md")
    assert not ignore.ignores("app/docs.py")
    assert ignore.ignores("tests/fixtures/big.bin")
    assert not ignore.ignores("tests/test_app.py")
    assert not ignore.ignores("app.py")
    assert ignore.patterns == ("*.psd", "/docs", "tests/fixtures")


def test_write_slug_skips_git_and_ignored_files_and_keeps_symlinks(tmp_path: Path) -> None:
    build = tmp_path / "build"
    (build / ".git").mkdir(parents=True)
    (build / ".git" / "HEAD").write_text("ref")
    (build / "docs").mkdir()
    (build / "docs" / "big.txt").write_text("x" * 1000)
    (build / "app.py").write_text("print(1)")
    (build / ".slugignore").write_text("/docs\n")
    os.symlink("/etc/passwd", build / "escape")
    slug = tmp_path / "slugs" / "s.tar.gz"
    assert write_slug(build, slug).size == slug.stat().st_size
    with tarfile.open(slug) as tar:
        names = sorted(m.name for m in tar.getmembers())
        link = tar.getmember("./escape")
        assert link.issym() and link.linkname == "/etc/passwd"
    assert "./app.py" in names
    assert not any(n.startswith("./.git") or n.startswith("./docs") for n in names)


def test_format_size_uses_herokus_notation() -> None:
    assert format_size(int(21.2 * 1024 * 1024)) == "21.2M"
