"""The pure parts of the hardened front end and the build limits: framing checks, request ids,
the output budget and line splitter, secrets kept out of child environments, private files."""

from __future__ import annotations

import argparse
import io
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from gitserver.cli.serve import api_key_from
from gitserver.datadir import DataDir, private_file, write_private
from gitserver.errors import UsageError
from gitserver.pipeline.commands import LINE_OVERHEAD, run_streamed
from gitserver.pipeline.context import BuildContext
from gitserver.pipeline.outputcap import LineSplitter, OutputBudget
from gitserver.settings import Settings
from gitserver.sqlitestore import SQLiteStore
from gitserver.web.backend import CgiRequest, backend_env
from gitserver.web.framing import BadFraming, check_framing, valid_request_id
from tests.unit.buildctx import make_context


def headers(raw: bytes) -> object:
    import http.client

    return http.client.parse_headers(io.BytesIO(raw + b"\r\n"))


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "both Content-Length and"),
        (b"Transfer-Encoding: xchunked\r\n", "Unsupported Transfer-Encoding 'xchunked'"),
        (b"Transfer-Encoding: gzip, chunked\r\n", "Unsupported Transfer-Encoding"),
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "Unsupported"),
        (b"Transfer-Encoding: identity\r\n", "Unsupported"),
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", "differing Content-Lengths: 5, 6"),
        (b"Content-Length: 5, 6\r\n", "differing Content-Lengths"),
        (b"Content-Length: +5\r\n", "Invalid Content-Length '+5'"),
        (b"Content-Length: 5_0\r\n", "Invalid Content-Length"),
        (b"X-Long: a\r\n  folded\r\n", "'X-Long' is folded onto a second line (obs-fold)"),
        (b"X-Long: a\r\n\tfolded\r\n", "obs-fold"),
        (b"no colon here\r\nX-After: 1\r\n", "malformed"),
    ],
)
def test_ambiguous_framing_is_refused_with_the_reason(raw: bytes, said: str) -> None:
    with pytest.raises(BadFraming) as caught:
        check_framing(headers(b"Host: a\r\n" + raw))  # type: ignore[arg-type]
    assert said in caught.value.message
    assert caught.value.http_status == 400
    assert caught.value.hint


def test_a_first_header_line_that_is_a_continuation_is_refused() -> None:
    with pytest.raises(BadFraming, match="starts with whitespace"):
        check_framing(headers(b" Host: a\r\n"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"Content-Length: 5\r\n",
        b"Content-Length: 5\r\nContent-Length: 5\r\n",  # the same twice: RFC 9110 allows it
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: Chunked\r\n",
        b"X-Any: value with spaces\r\n",
    ],
)
def test_unambiguous_framing_passes(raw: bytes) -> None:
    check_framing(headers(b"Host: a\r\n" + raw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("a" * 20, True),
        ("A-z0+9/=" * 25, True),  # 200 characters
        ("a" * 19, False),
        ("a" * 201, False),
        ("abcdefghij klmnopqrstu", False),
        ('abcdefghijklmnopqrstu" x=1', False),
        ("abcdefghijklmnopqrstu\nheroku[router]: forged", False),
        ("", False),
        (None, False),
    ],
)
def test_request_ids_are_kept_only_in_herokus_shape(value: str | None, kept: bool) -> None:
    assert valid_request_id(value) == (value if kept else None)


def test_the_budget_takes_lines_until_one_does_not_fit_then_nothing() -> None:
    budget = OutputBudget(10)
    assert budget.take(4) and budget.take(6)
    assert not budget.take(1)
    assert budget.exhausted and not budget.take(0)
    assert "more than 10 bytes" in budget.dropped_line()
    assert "CEDARBOX_BUILD_OUTPUT_MAX_BYTES" in OutputBudget(10 * 1024 * 1024).dropped_line()


def test_the_splitter_joins_parts_and_keeps_line_lengths() -> None:
    split = LineSplitter(max_line=100)
    assert split.feed(b"ab") == []
    assert split.feed(b"c\nde\n\nf") == [(b"abc", 3), (b"de", 2), (b"", 0)]
    assert split.flush() == (b"f", 1)
    assert split.flush() is None


def test_the_splitter_keeps_only_the_start_of_a_huge_line() -> None:
    split = LineSplitter(max_line=1000)
    block = b"x" * 65536
    for _ in range(800):  # a 50 MB line, in a pipe's blocks
        assert split.feed(block) == []
    [(line, size)] = split.feed(b"tail\nnext")
    assert line == b"x" * 1000
    assert size == 800 * 65536 + 4
    assert split.flush() == (b"next", 4)


def test_the_api_key_is_not_passed_to_children() -> None:
    settings = Settings(api_key="s3cret-key", postgres="off")
    env = settings.to_env()
    assert "CEDARBOX_API_KEY" not in env
    assert env["CEDARBOX_POSTGRES"] == "off"
    request = CgiRequest("GET", "/a.git/info/refs", "", "", "", "", None, "127.0.0.1")
    os.environ["CEDARBOX_API_KEY"] = "s3cret-key"
    try:
        backend = backend_env(request, Path("/repos"), env)
    finally:
        del os.environ["CEDARBOX_API_KEY"]
    assert "s3cret-key" not in "".join(backend.values())


def _args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**{"api_key": None, "api_key_file": None, **values})


def test_the_api_key_comes_from_a_file_and_never_from_argv(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("  k3y-value \n")
    key.chmod(0o644)
    with pytest.raises(UsageError, match="can be read by other users") as loose:
        api_key_from(_args(api_key_file=str(key)))
    assert loose.value.hint == f"Make it yours alone: chmod 600 {key}"
    key.chmod(0o600)
    assert api_key_from(_args(api_key_file=str(key))) == "k3y-value"
    assert api_key_from(_args()) is None
    with pytest.raises(UsageError, match="in `ps`") as refused:
        api_key_from(_args(api_key="k3y-value"))
    assert "--api-key-file" in refused.value.hint and "CEDARBOX_API_KEY" in refused.value.hint
    with pytest.raises(UsageError, match="Cannot read the API key file"):
        api_key_from(_args(api_key_file=str(tmp_path / "missing")))
    key.write_text("\n")
    with pytest.raises(UsageError, match="on one line"):
        api_key_from(_args(api_key_file=str(key)))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_the_state_are_private(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    data = DataDir(root).ensure()
    assert mode(root) == 0o700
    (root / "state.db").touch()
    (root / "state.db").chmod(0o644)
    store = SQLiteStore(data.database)
    store.create_app("shop", "heroku-24")
    store.close()
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        if (root / name).exists():
            assert mode(root / name) == 0o600, name
    fresh = SQLiteStore(tmp_path / "other" / "state.db")
    fresh.create_app("shop", "heroku-24")
    assert mode(tmp_path / "other" / "state.db") == 0o600
    assert mode(tmp_path / "other" / "state.db-wal") == 0o600
    fresh.close()


def test_private_files_are_0600_from_the_start(tmp_path: Path) -> None:
    target = tmp_path / "cluster.json"
    write_private(target, '{"password": "x"}')
    assert mode(target) == 0o600 and target.read_text() == '{"password": "x"}'
    target.chmod(0o644)
    private_file(target)
    assert mode(target) == 0o600
    assert mode(private_file(tmp_path / "new")) == 0o600


def test_builds_past_the_retention_are_forgotten_but_not_the_last_good_or_a_running_one(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    store.create_app("shop", "heroku-24")
    store.start_build("good", "shop", "a" * 40, "heroku-24")
    store.finish_build("good", failure_code=None)
    store.start_build("running", "shop", "b" * 40, "heroku-24")  # a hook still building
    for n in range(4):
        store.start_build(f"bad{n}", "shop", "c" * 40, "heroku-24")
        store.finish_build(f"bad{n}", failure_code="PIP_INSTALL_FAILED")
    assert sorted(store.prune_builds("shop", keep=2)) == ["bad0", "bad1"]
    assert {b.id for b in store.list_builds("shop")} == {"good", "running", "bad2", "bad3"}
    assert store.prune_builds("shop", keep=2) == []
    store.close()


def capped_context(tmp_path: Path, limit: int) -> BuildContext:
    ctx = make_context(tmp_path)
    settings = ctx.request.settings.with_(build_output_max_bytes=limit)
    ctx.request = replace(ctx.request, settings=settings)
    return ctx


def test_commands_print_up_to_the_budget_then_one_line_and_run_to_the_end(
    tmp_path: Path,
) -> None:
    ctx = capped_context(tmp_path, 1000)
    seen: list[str] = []
    script = (
        "i=0; while [ $i -lt 100 ]; do echo line-$i-0123456789; i=$((i+1)); done; "
        "head -c 3000000 /dev/zero | tr '\\0' q; echo; echo done > finished"
    )
    assert run_streamed(ctx, ["sh", "-c", script], on_line=seen.append) == 0
    assert (ctx.build_dir / "finished").read_text() == "done\n"  # it ran to its end
    assert seen[0] == "line-0-0123456789"
    assert sum(len(line) + LINE_OVERHEAD for line in seen) <= 1000 < 27 * len(seen) + 27
    assert [line for line in ctx.out.transcript if "Output limit" in line] == [
        " !     " + OutputBudget(1000).dropped_line()
    ]
    # The budget is the build's: a later command prints nothing, and says nothing again.
    assert run_streamed(ctx, ["echo", "later"], on_line=seen.append) == 0
    assert "later" not in seen
    assert sum("Output limit" in line for line in ctx.out.transcript) == 1


def test_a_huge_line_within_the_budget_arrives_whole(tmp_path: Path) -> None:
    ctx = capped_context(tmp_path, 8 * 1024 * 1024)
    seen: list[str] = []
    script = "head -c 5000000 /dev/zero | tr '\\0' w; echo; echo after"
    assert run_streamed(ctx, ["sh", "-c", script], on_line=seen.append) == 0
    assert [len(line) for line in seen] == [5_000_000, 5]
