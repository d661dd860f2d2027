"""Formation rules: default quantities, ps:scale parsing and validation, targets, backoff."""

from __future__ import annotations

import pytest

from gitserver.errors import InvalidFormation
from gitserver.formation import (
    DynoSpec,
    apply_scale,
    check_target,
    describe_formation,
    desired_dynos,
    parse_scale,
    quantities,
    restart_delay,
    target_matches,
)

TYPES = {"web": "gunicorn app:app", "worker": "python worker.py", "release": "migrate"}


def test_web_defaults_to_one_other_types_to_zero_and_release_is_not_a_dyno() -> None:
    assert quantities(TYPES, {}) == {"web": 1, "worker": 0}
    assert quantities(TYPES, {"web": 0, "worker": 2}) == {"web": 0, "worker": 2}
    assert quantities({"worker": "w"}, {}) == {"worker": 0}
    assert quantities({}, {"web": 3}) == {}


def test_desired_dynos_are_named_type_dot_n() -> None:
    assert desired_dynos(TYPES, {"worker": 2}) == [
        DynoSpec("web.1", "web", "gunicorn app:app"),
        DynoSpec("worker.1", "worker", "python worker.py"),
        DynoSpec("worker.2", "worker", "python worker.py"),
    ]
    assert describe_formation(TYPES, {"worker": 2}) == "web=1 worker=2"


def test_scale_sets_adds_and_subtracts() -> None:
    changes = parse_scale(["web=3", "worker+2", "web-1"])
    assert apply_scale(changes, TYPES, {}) == {"web": 2, "worker": 2}
    assert apply_scale(parse_scale(["web=2:standard-1X"]), TYPES, {}) == {"web": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clock=1"], "No such process type 'clock'"),
        (["release=1"], "the release phase is not scalable"),
        (["web=11"], "Cannot scale web to 11"),
        (["web-2"], "Cannot scale web to -1"),
        (["web"], "is not of the form TYPE=N"),
        (["web=x"], "is not of the form TYPE=N"),
        ([], "No process types given"),
    ],
)
def test_scale_refuses_what_the_release_cannot_run(args: list[str], message: str) -> None:
    with pytest.raises(InvalidFormation) as caught:
        apply_scale(parse_scale(args), TYPES, {})
    assert message in caught.value.message
    if message.startswith("No such process type"):
        assert caught.value.hint == "The Procfile declares: web, worker."


def test_targets_name_all_a_type_or_one_dyno() -> None:
    assert check_target("", TYPES) == ""
    assert check_target("web", TYPES) == "web"
    assert check_target("worker.3", TYPES) == "worker.3"
    for bad in ("clock", "clock.1", "release", "web.x"):
        with pytest.raises(InvalidFormation):
            check_target(bad, TYPES)
    assert target_matches("", "web.1")
    assert target_matches("web", "web.2")
    assert target_matches("web.2", "web.2")
    assert not target_matches("web.1", "web.10")
    assert not target_matches("web", "webhook.1")


def test_crash_backoff_restarts_at_once_then_doubles_up_to_the_maximum() -> None:
    delays = [restart_delay(n, 10, 60) for n in range(1, 7)]
    assert delays == [0, 10, 20, 40, 60, 60]
