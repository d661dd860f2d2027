"""App logs: Heroku's line format, filters, reading the newest lines, following and trimming."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from gitserver.applog import AppLog, LogFilter, follow, format_lines, last_lines

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"


def test_lines_carry_a_utc_timestamp_and_the_source() -> None:
    text = format_lines("app[web.1]", "first\nsecond\r\n")
    lines = text.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(rf"{STAMP} app\[web\.1\]: first", lines[0])
    assert lines[1].endswith(" app[web.1]: second")
    assert format_lines("heroku[router]", "", when=0).startswith(
        "1970-01-01T00:00:00.000000+00:00 heroku[router]: "
    )


def test_filters_by_dyno_type_dyno_and_source() -> None:
    web1 = "2026-11-23T10:00:00.000000+00:00 app[web.1]: hi"
    web10 = "2026-11-23T10:00:00.000000+00:00 heroku[web.10]: State changed from starting to up"
    worker = "2026-11-23T10:00:00.000000+00:00 app[worker.1]: job"
    router = "2026-11-23T10:00:00.000000+00:00 heroku[router]: at=info"
    api = "2026-11-23T10:00:00.000000+00:00 app[api]: Build succeeded"
    lines = [web1, web10, worker, router, api]
    assert [x for x in lines if LogFilter(dyno="web").matches(x)] == [web1, web10]
    assert [x for x in lines if LogFilter(dyno="web.1").matches(x)] == [web1]
    assert [x for x in lines if LogFilter(dyno="router").matches(x)] == [router]
    assert [x for x in lines if LogFilter(source="app").matches(x)] == [web1, worker, api]
    assert [x for x in lines if LogFilter(dyno="web", source="heroku").matches(x)] == [web10]
    assert all(LogFilter().matches(x) for x in lines)


def test_last_lines_reads_backwards_across_blocks(tmp_path: Path) -> None:
    log = AppLog(tmp_path / "logs" / "app.log")
    for n in range(3000):
        log.write("app[web.1]" if n % 2 else "app[worker.1]", f"line {n} " + "x" * 40)
    newest = last_lines(log.path, 5)
    assert [line.split(": ", 1)[1].split()[1] for line in newest] == [
        "2995",
        "2996",
        "2997",
        "2998",
        "2999",
    ]
    web = last_lines(log.path, 2, LogFilter(dyno="worker"))
    assert [line.split(": ", 1)[1].split()[1] for line in web] == ["2996", "2998"]
    assert len(last_lines(log.path, 10_000)) == 3000
    assert last_lines(tmp_path / "missing.log", 5) == []


def test_trim_keeps_the_newest_half(tmp_path: Path) -> None:
    log = AppLog(tmp_path / "app.log")
    for n in range(1000):
        log.write("app[web.1]", f"line {n}")
    size = log.path.stat().st_size
    assert not log.trim(size + 1)
    assert log.trim(size // 2)
    kept = log.path.read_text().splitlines()
    assert kept[-1].endswith("line 999")
    assert all(": line " in line for line in kept)  # no partial first line
    assert len(kept) < 300


def test_follow_yields_new_lines_and_survives_a_trim(tmp_path: Path) -> None:
    log = AppLog(tmp_path / "app.log")
    log.write("app[web.1]", "old")
    stop = threading.Event()
    seen: list[str] = []
    got_one = threading.Event()
    lines = follow(log.path, LogFilter(dyno="web"), stop=stop, poll=0.01)

    def reader() -> None:
        for line in lines:
            seen.append(line.split(": ", 1)[1])
            got_one.set()
            if len(seen) == 3:
                stop.set()

    thread = threading.Thread(target=reader)
    thread.start()
    log.write("app[web.1]", "one")
    log.write("app[worker.1]", "not me")
    assert got_one.wait(5)
    for n in range(200):
        log.write("app[api]", f"filler {n}")
    log.write("app[web.1]", "two")
    log.trim(2000)  # while the reader may be anywhere in the old file
    log.write("app[web.1]", "three")
    thread.join(5)
    stop.set()
    assert seen == ["one", "two", "three"]
