"""Crash safety: SIGKILL the server, the hook or the build's pip mid-push; fill the disk at export.

Every kill run pushes a new commit, kills its target at a random point chosen by a seeded
random.Random (the seed is in the test id; CEDARBOX_CRASH_SEED picks another), waits until no
process of the killed push is left, then checks that the platform is consistent:

- `git fsck --full` on the app's repository is clean and no quarantine is left behind;
- the deploy branch is the last accepted push (the killed push's commit, or the one before);
- the current release is the deploy branch's commit;
- the build cache is the last good build's, untorn (same files, same bytes), and the digest it
  recorded of `.heroku` matches `.heroku` (the next build checks its spare copy against it);
- the app's lock is free;

and that the next push is accepted, builds, releases, and leaves no stale build, cache or slug.

A server killed mid-push does not stop the push's build: git's receive-pack and the hook carry
on as orphans and finish it (the branch moves only if the build succeeds), as Heroku finishes a
build whose `git push` connection dropped. The checks run once they have finished.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitserver.pipeline.cache import SPARE
from gitserver.pipeline.treedigest import tree_digest
from tests.support import procs
from tests.support.gitutil import GitResult, check, commit, git, make_repo, write_files
from tests.support.server import Server, find_links, start_server
from tests.support.transcript import normalise
from tests.support.waiting import entries_once_deleted

SEED = int(os.environ.get("CEDARBOX_CRASH_SEED", "20261125"))
RUNS_PER_TARGET = 7  # x 3 targets: 21 kill runs
TARGETS = ("server", "hook", "pip")
APP_NAME = "crashy"
# In the environment pip installs into, so that every push runs pip (one that found its
# environment as a no-op run left it would replay that run: buildpacks/python/pipnoop.py).
MARKER = ".heroku/python/crash-marker"

# No Procfile: no dyno to boot, so a push is all build. bin/post_compile stamps the cached
# .heroku with the commit that built it, which tells whose cache the app has.
APP = {
    "requirements.txt": "alpha\nbeta\n",
    ".python-version": "3.12\n",
    "app.py": "print('crash')\n",
    "bin/post_compile": f'#!/bin/sh\necho "$SOURCE_VERSION" > {MARKER}\n',
}


@dataclass(frozen=True)
class Deployed:
    """What the platform holds for the app when no push is running."""

    branch: str  # refs/heads/main in the app's repository
    release: int  # current release version
    release_description: str
    marker: str  # the commit whose build the cache holds
    manifest: dict[str, str]  # the cache's files (marker aside): path -> sha256 or link target
    digest_matches: bool  # digests.json's `.heroku` is the digest of `.heroku`


@dataclass(frozen=True)
class Kill:
    """One kill: when it happened and whether it hit the push while it was still running."""

    target: str
    delay: float
    landed: bool
    result: GitResult


@dataclass
class Rig:
    """One app on a server that the test may kill and restart on the same data directory."""

    tmp: Path
    env_extra: dict[str, str]
    server: Server
    repo: Path = field(init=False)
    last_push_seconds: float = 1.0

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def bare(self) -> Path:
        return self.data_dir / "repos" / f"{APP_NAME}.git"

    @property
    def cache_root(self) -> Path:
        return self.data_dir / "cache" / APP_NAME

    @property
    def slugs(self) -> Path:
        return self.data_dir / "slugs" / APP_NAME

    def restart(self) -> None:
        """A new server on the same data directory (the killed one's server.json is stale)."""
        self.server = start_server(self.tmp, **self.env_extra)

    def commit(self, label: str) -> str:
        write_files(self.repo, {"app.py": f"print({label!r})\n"})
        return commit(self.repo, self.server.env, label)

    def push(self) -> GitResult:
        started = time.monotonic()
        result = git(self.repo, self.server.env, "push", self.server.git_url(APP_NAME), "main")
        self.last_push_seconds = time.monotonic() - started
        return result

    def start_push(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["git", "push", self.server.git_url(APP_NAME), "main"],
            cwd=self.repo,
            env=self.server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def rig(tmp_path: Path, wheelhouse: Path) -> Iterator[Rig]:
    env_extra = {"PIP_FIND_LINKS": find_links(wheelhouse)}
    made = Rig(tmp=tmp_path, env_extra=env_extra, server=start_server(tmp_path, **env_extra))
    made.repo = make_repo(tmp_path / "src", made.server.env, APP)
    yield made
    made.server.stop()
    for leftover in procs.using_data_dir(made.data_dir):  # only this test's own processes
        procs.kill(leftover.pid)


# --- what the platform holds ---------------------------------------------------------------


def query(rig: Rig, sql: str, *args: object) -> list[sqlite3.Row]:
    db = sqlite3.connect(f"file:{rig.data_dir / 'state.db'}?mode=ro", uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def branch(rig: Rig) -> str:
    return check(git(rig.bare, rig.server.env, "rev-parse", "refs/heads/main")).stdout.strip()


def effective_cache(rig: Rig) -> Path:
    """The cache the next build will use: `current`, or what recovery restores if a commit
    was cut between its two renames (the newest `old-*`)."""
    current = rig.cache_root / "current"
    if current.exists():
        return current
    olds = sorted(rig.cache_root.glob("old-*"), key=lambda p: p.stat().st_mtime)
    assert olds, f"no cache at all under {rig.cache_root}"
    return olds[-1]


# What cedarbox derives from `.heroku` (its digest, its compressed part of the slug, the kept
# no-op pip run): they change whenever the marker does, so the manifest leaves them out and
# checks them apart.
DERIVED = ("digests.json", "slug-members/", "pip-noop.json")


def manifest(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if rel == MARKER or rel.startswith(DERIVED):
                continue
            if path.is_symlink():
                files[rel] = "-> " + os.readlink(path)
            else:
                files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def deployed(rig: Rig) -> Deployed:
    cache = effective_cache(rig)
    release = query(
        rig,
        "SELECT version, description FROM releases WHERE app = ? ORDER BY version DESC LIMIT 1",
        APP_NAME,
    )[0]
    return Deployed(
        branch=branch(rig),
        release=release["version"],
        release_description=release["description"],
        marker=(cache / MARKER).read_text().strip(),
        manifest=manifest(cache),
        digest_matches=json.loads((cache / "digests.json").read_text())[".heroku"]
        == tree_digest(cache / ".heroku"),
    )


def cache_leftovers(rig: Rig) -> list[str]:
    """What the cache root holds besides `current` and the spare copy of its `.heroku`."""
    digest = json.loads((rig.cache_root / "current" / "digests.json").read_text())[".heroku"]
    spare = f"{SPARE}{digest}"
    allowed = {"current", spare, f"{spare}.partial"}
    return [name for name in entries_once_deleted(rig.cache_root) if name not in allowed]


def build_log(rig: Rig, sha: str) -> str:
    """The stored transcript of the build of `sha` ("" if it never started)."""
    rows = query(rig, "SELECT id FROM builds WHERE app = ? AND source_version = ?", APP_NAME, sha)
    logs = [rig.data_dir / "builds" / APP_NAME / f"{row['id']}.log" for row in rows]
    return "".join(log.read_text(errors="replace") for log in logs if log.exists())


def lock_is_free(rig: Rig) -> bool:
    path = rig.data_dir / "locks" / f"{APP_NAME}.lock"
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the flock
    return True


def assert_repository_sound(rig: Rig, context: str) -> None:
    fsck = git(rig.bare, rig.server.env, "fsck", "--full", "--no-dangling")
    assert fsck.returncode == 0 and not fsck.output.strip(), f"{context}: fsck\n{fsck.output}"
    quarantines = list((rig.bare / "objects").glob("incoming-*"))
    assert not quarantines, f"{context}: quarantine left behind: {quarantines}"


# --- the checks ------------------------------------------------------------------------------


def assert_consistent_after_kill(rig: Rig, before: Deployed, sha: str, kill: Kill) -> None:
    """After a killed push: nothing torn, the branch and the release are one of two states."""
    context = f"{kill.target} killed {kill.delay * 1000:.0f} ms in (seed {SEED})"
    assert_repository_sound(rig, context)
    now = deployed(rig)
    log = build_log(rig, sha)
    assert now.branch in (before.branch, sha), f"{context}: branch moved to {now.branch}"
    if kill.result.returncode == 0:
        assert now.branch == sha, f"{context}: an accepted push is not on the branch"
    accepted = now.branch == sha
    if accepted:
        assert now.release == before.release + 1, context
        assert now.release_description == f"Deploy {sha[:7]}", context
        status = query(
            rig, "SELECT status FROM builds WHERE app = ? AND source_version = ?", APP_NAME, sha
        )
        assert [row["status"] for row in status] == ["succeeded"], context
    elif now.release != before.release:
        # Only a hook killed after creating the release, before git moved the branch.
        assert kill.target == "hook" and "Released v" in log, f"{context}: release {now}"
    assert now.manifest == before.manifest, f"{context}: the cache is torn"
    assert now.digest_matches, f"{context}: the cache's digest doesn't match its .heroku"
    assert now.marker in (before.marker, sha), f"{context}: cache of {now.marker}"
    if now.marker == sha:
        # A build commits its cache only after it has written the slug ("Done: 6.6M").
        assert "Done: " in log, f"{context}: cache of a build that never finished:\n{log}"
    if accepted:
        assert now.marker == sha, f"{context}: the released build's cache was not kept"
    assert lock_is_free(rig), f"{context}: the app's lock is still held"


def assert_next_push_succeeds(rig: Rig, before: Deployed, context: str) -> None:
    """The next push is accepted and releases; nothing the crash left behind remains."""
    sha = rig.commit(f"after {context}")
    result = rig.push()
    assert result.returncode == 0, f"{context}: next push failed\n{result.output}"
    now = deployed(rig)
    released = [line.strip() for line in result.remote_lines()]
    assert f"Released v{now.release}" in released, f"{context}\n{result.output}"
    assert now.release > before.release, context
    assert now.branch == sha and now.marker == sha, f"{context}: {now.branch} {now.marker}"
    assert now.release_description == f"Deploy {sha[:7]}", context
    assert now.manifest == before.manifest, f"{context}: the cache changed content"
    assert now.digest_matches, f"{context}: the cache's digest doesn't match its .heroku"
    pending = query(rig, "SELECT id FROM builds WHERE app = ? AND status = 'pending'", APP_NAME)
    assert not pending, f"{context}: builds left pending: {[row['id'] for row in pending]}"
    assert not cache_leftovers(rig), f"{context}: cache leftovers"
    live_slugs = {
        row["slug"]
        for row in query(
            rig, "SELECT slug FROM releases WHERE app = ? AND slug_pruned = 0", APP_NAME
        )
    }
    stray = sorted(str(p) for p in rig.slugs.iterdir() if str(p) not in live_slugs)
    assert not stray, f"{context}: slugs no release uses: {stray}"
    assert lock_is_free(rig), context


# --- killing ---------------------------------------------------------------------------------


def crash_push(rig: Rig, target: str, rng: random.Random) -> Kill:
    """Push and SIGKILL `target` at a random point of the push; wait for the dust to settle."""
    server = rig.server
    push = rig.start_push()
    spread = 0.9 * rig.last_push_seconds  # the hook lives about as long as the push
    victim: procs.Proc | None
    if target == "pip":
        anchor = procs.wait_for(
            lambda: procs.find_pip(server.proc.pid), lambda: push.poll() is None
        )
        delay = rng.uniform(0, 0.2)
    elif target == "server" and rng.random() < 0.3:
        anchor = None  # while git negotiates and uploads the pack, before any build
        delay = rng.uniform(0, 0.15)
    else:
        anchor = procs.wait_for(
            lambda: procs.find_hook(server.proc.pid), lambda: push.poll() is None
        )
        delay = rng.uniform(0, spread)
    time.sleep(delay)
    if target == "server":
        victim = procs.Proc(server.proc.pid, os.getpid(), ())
    else:
        victim = procs.find_pip(server.proc.pid) if target == "pip" else anchor
    running = push.poll() is None
    landed = victim is not None and running and procs.kill(victim.pid)
    if target == "server" and not landed:
        procs.kill(server.proc.pid)  # the push ended first: the server dies between pushes
    stdout, stderr = push.communicate(timeout=120)
    result = GitResult(push.returncode, stdout, stderr)
    alive = [server.proc.pid]
    if target == "server":
        server.proc.wait(timeout=10)
        alive = []
    left = procs.settle(rig.data_dir, exclude=alive)
    assert not left, f"processes of the killed push still run: {[p.cmdline for p in left]}"
    if target == "server":
        rig.restart()
    return Kill(target=target, delay=delay, landed=landed, result=result)


@pytest.mark.parametrize("target", TARGETS, ids=[f"{t}-seed{SEED}" for t in TARGETS])
def test_sigkill_at_random_points_leaves_a_consistent_platform(rig: Rig, target: str) -> None:
    """Seven pushes, each SIGKILLed (`target`) at a random point, each followed by the checks
    in the module docstring and by a push that must succeed; most kills land mid-push."""
    check(rig.push())  # the first build: the cache every later push reuses
    rig.commit("warm")
    check(rig.push())  # a cached push: how long the hook lives, for the random delays
    rng = random.Random(f"{SEED}-{target}")
    landed = 0
    for run in range(RUNS_PER_TARGET):
        before = deployed(rig)
        sha = rig.commit(f"{target} run {run}")
        kill = crash_push(rig, target, rng)
        landed += kill.landed
        assert_consistent_after_kill(rig, before, sha, kill)
        assert_next_push_succeeds(rig, before, f"{target} run {run} (seed {SEED})")
    assert landed >= RUNS_PER_TARGET // 2 + 1, f"only {landed} kills hit a running push"


# --- disk full -------------------------------------------------------------------------------


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[None]:
    """A tmpfs of `size` mounted on `path` (root only; skip elsewhere), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def fill(directory: Path, leave_bytes: int) -> Path:
    """A file that takes all but `leave_bytes` of the free space of `directory`'s filesystem."""
    stat = os.statvfs(directory)
    filler = directory / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave_bytes))
    return filler


def test_disk_full_while_exporting_the_slug_fails_the_build_cleanly(rig: Rig) -> None:
    """The slug directory fills up during export: the push is rejected with the reason and the
    fix, and nothing is half-done: branch, release, cache and slugs are the last good build's,
    no partial slug is left, and once there is space again the next push succeeds."""
    with small_filesystem(rig.slugs, "48m"):
        check(rig.push())
        before = deployed(rig)
        slugs_before = sorted(p.name for p in rig.slugs.iterdir())
        filler = fill(rig.slugs, leave_bytes=256 * 1024)  # the slug needs ~6.6 MB

        sha = rig.commit("no room for the slug")
        result = rig.push()

        assert result.returncode != 0
        assert "! [remote rejected] main -> main (pre-receive hook declined)" in result.stderr
        lines = normalise(result.remote_lines())
        tail = lines[lines.index("-----> Compressing...") :]
        slug_name = re.compile(r"Writing [0-9a-f-]{36}\.tar\.gz failed")
        assert [slug_name.sub("Writing <SLUG> failed", line) for line in tail] == [
            "-----> Compressing...",
            "",
            " !     Error: Unable to write the slug.",
            " !",
            " !     Writing <SLUG> failed: No space left on device.",
            " !     Free some disk space in the cedarbox data directory and push again.",
            "",
            "",
            " !     Push failed",
            " !     Error code: BUILD_FAILED (SLUG_WRITE_FAILED)",
        ], result.output
        now = deployed(rig)
        assert (now.branch, now.release, now.marker) == (
            before.branch,
            before.release,
            before.marker,
        )
        assert now.manifest == before.manifest, "the cache changed"
        assert sorted(p.name for p in rig.slugs.iterdir() if p != filler) == slugs_before
        status = query(rig, "SELECT status, failure_code FROM builds WHERE source_version = ?", sha)
        assert [tuple(row) for row in status] == [("failed", "SLUG_WRITE_FAILED")]
        assert lock_is_free(rig)

        filler.unlink()
        assert_next_push_succeeds(rig, before, "after the disk was full")
