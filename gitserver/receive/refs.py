"""Ref rules for a push (heroku-reference §2), as a pure function of the pushed ref updates.

Only `main` and `master` build; other branches are stored; tags are stored; deleting the
deploy branch is refused; a push that needs new shallow roots is refused with advice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitserver.errors import PushRefused

ZERO_SHA = "0" * 40
DEPLOY_BRANCHES = ("main", "master")


@dataclass(frozen=True)
class RefUpdate:
    """One `old new ref` line that receive-pack gives the pre-receive hook."""

    old: str
    new: str
    ref: str

    @property
    def is_delete(self) -> bool:
        return self.new == ZERO_SHA

    @property
    def branch(self) -> str | None:
        prefix = "refs/heads/"
        return self.ref[len(prefix) :] if self.ref.startswith(prefix) else None

    @property
    def is_deploy_branch(self) -> bool:
        return self.branch in DEPLOY_BRANCHES


@dataclass(frozen=True)
class PushPlan:
    """What to do with a push: at most one build, plus refs that are simply stored."""

    build: RefUpdate | None
    stored: list[RefUpdate] = field(default_factory=list)
    skipped_branches: list[str] = field(default_factory=list)


def parse_ref_updates(text: str) -> list[RefUpdate]:
    """Parse receive-pack's hook input; malformed lines are a bug in git, so they raise."""
    updates = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or len(parts[0]) != len(parts[1]):
            raise ValueError(f"malformed ref update line: {line!r}")
        updates.append(RefUpdate(*parts))
    return updates


def plan_push(updates: list[RefUpdate], *, shallow: bool) -> PushPlan:
    """Apply the ref rules; a push the platform refuses raises PushRefused with its code."""
    deploys = [u for u in updates if u.is_deploy_branch]
    if shallow and any(not u.is_delete for u in updates):
        raise PushRefused(
            "Push rejected, source repository is a shallow clone.",
            hint="Unshallow it with `git fetch --all --unshallow` and try pushing again.",
            code="SHALLOW_CLONE",
        )
    for update in deploys:
        if update.is_delete:
            raise PushRefused(
                f"Push rejected, deleting the deploy branch {update.branch} is not allowed.",
                hint="To start over, push a new commit with `git push --force`, or destroy the "
                "app with `cedarbox apps:destroy`.",
                code="BRANCH_DELETE",
            )
    if len(deploys) > 1:
        raise PushRefused(
            "Push rejected, both main and master were pushed at once.",
            hint="Push one deploy branch at a time, e.g. `git push cedarbox main`.",
            code="MULTIPLE_DEPLOY_BRANCHES",
        )
    build = deploys[0] if deploys else None
    stored = [u for u in updates if u is not build]
    skipped = [u.branch for u in stored if u.branch is not None and not u.is_delete]
    return PushPlan(build=build, stored=stored, skipped_branches=skipped)
