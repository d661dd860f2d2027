"""Ref rules as a pure function of the pushed ref updates."""

from __future__ import annotations

import pytest

from gitserver.errors import PushRefused
from gitserver.receive.refs import ZERO_SHA, RefUpdate, parse_ref_updates, plan_push

A, B = "a" * 40, "b" * 40


def update(ref: str, old: str = ZERO_SHA, new: str = A) -> RefUpdate:
    return RefUpdate(old, new, ref)


def test_parse_ref_updates_reads_receive_pack_lines() -> None:
    text = f"{ZERO_SHA} {A} refs/heads/main\n{A} {B} refs/tags/v1\n\n"
    assert parse_ref_updates(text) == [
        RefUpdate(ZERO_SHA, A, "refs/heads/main"),
        RefUpdate(A, B, "refs/tags/v1"),
    ]


@pytest.mark.parametrize("line", ["garbage", f"{A} {B}", f"{A} short refs/heads/main"])
def test_parse_ref_updates_rejects_malformed_lines(line: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        parse_ref_updates(line)


@pytest.mark.parametrize("branch", ["main", "master"])
def test_deploy_branches_build(branch: str) -> None:
    plan = plan_push([update(f"refs/heads/{branch}")], shallow=False)
    assert plan.build == update(f"refs/heads/{branch}")
    assert plan.skipped_branches == []


def test_other_branches_and_tags_are_stored() -> None:
    plan = plan_push([update("refs/heads/feature"), update("refs/tags/v1")], shallow=False)
    assert plan.build is None
    assert plan.skipped_branches == ["feature"]
    assert len(plan.stored) == 2


def test_deploy_branch_with_a_tag_builds_and_stores_the_tag() -> None:
    plan = plan_push([update("refs/heads/main"), update("refs/tags/v1")], shallow=False)
    assert plan.build is not None and plan.build.ref == "refs/heads/main"
    assert [u.ref for u in plan.stored] == ["refs/tags/v1"]


def test_deleting_the_deploy_branch_is_refused() -> None:
    with pytest.raises(PushRefused) as info:
        plan_push([update("refs/heads/main", old=A, new=ZERO_SHA)], shallow=False)
    assert info.value.code == "BRANCH_DELETE"


def test_deleting_another_branch_is_allowed() -> None:
    plan = plan_push([update("refs/heads/old", old=A, new=ZERO_SHA)], shallow=False)
    assert plan.build is None and plan.skipped_branches == []


def test_shallow_pushes_are_refused_with_advice() -> None:
    with pytest.raises(PushRefused) as info:
        plan_push([update("refs/heads/main")], shallow=True)
    assert info.value.code == "SHALLOW_CLONE"
    assert "--unshallow" in info.value.hint


def test_main_and_master_at_once_are_refused() -> None:
    with pytest.raises(PushRefused) as info:
        plan_push([update("refs/heads/main"), update("refs/heads/master")], shallow=False)
    assert info.value.code == "MULTIPLE_DEPLOY_BRANCHES"
