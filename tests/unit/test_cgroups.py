"""gitserver/cgroups.py and runner/quota.py: the parsers, group paths, R14/R15 wording, and
real groups (where this host has them): a sandboxed command joins its group before it forks,
its process and memory limits hold and are reported, and the group goes after it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitserver import cgroups, sandbox
from gitserver.output import Output
from gitserver.pipeline.build import run_build
from gitserver.runner import quota
from gitserver.settings import Settings
from tests.support.fakes import FakeBuildpack
from tests.unit.test_sandbox import build_request

MB = 1024 * 1024
needs_groups = pytest.mark.skipif(
    bool(cgroups.unavailable(Path("/tmp/cedarbox-unit"))) or bool(sandbox._probe()),
    reason="no writable cgroups or no bubblewrap here",
)


def test_keyed_files_parse_as_counters() -> None:
    assert cgroups.parse_keyed("max 3\n") == {"max": 3}
    oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    assert cgroups.events_v1("max 0\n", oom) == cgroups.Events(0, 2)
    events = "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n"
    assert cgroups.events_v2("max 5\n", events) == cgroups.Events(5, 1)
    assert cgroups.parse_keyed("garbage\nkey notanumber\n") == {}


def test_proc_cgroup_names_each_controllers_group() -> None:
    text = "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/user.slice\n"
    paths = cgroups.parse_proc_cgroup(text)
    assert paths["memory"] == "/process_api/abc"
    assert paths["cpu"] == paths["cpuacct"] == "/x"
    assert paths[""] == "/user.slice"


def test_mountinfo_gives_the_cgroup_mounts_and_group_dirs() -> None:
    text = (
        "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
        "31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "32 25 0:28 /docker/x /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
        "33 25 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "34 25 0:30 / /proc rw - proc proc rw\n"
    )
    mounts = cgroups.parse_mountinfo(text)
    assert [(m.version, m.controllers) for m in mounts] == [
        (1, ("memory",)),
        (1, ("cpu",)),
        (1, ("pids",)),
        (2, ()),
    ]
    memory, _, pids, unified = mounts
    assert cgroups.group_dir(memory, "/process_api/abc") == Path(
        "/sys/fs/cgroup/memory/process_api/abc"
    )
    assert cgroups.group_dir(pids, "/docker/x/sub") == Path("/sys/fs/cgroup/pids/sub")
    assert cgroups.group_dir(unified, "/") == Path("/sys/fs/cgroup/unified")
    with pytest.raises(ValueError):
        cgroups.group_dir(pids, "/elsewhere")


def test_group_names_are_per_data_directory_and_unique_per_unit() -> None:
    a, b = cgroups.root_name(Path("/d/one")), cgroups.root_name(Path("/d/two"))
    assert a.startswith("cedarbox-") and a != b and a == cgroups.root_name(Path("/d/one"))
    first, second = cgroups.unit_name("web.1"), cgroups.unit_name("web.1")
    assert first.startswith("web.1-") and first != second
    assert cgroups.unit_name("../x").startswith("..-x-") and "/" not in cgroups.unit_name("a/b")


def test_working_set_leaves_out_reclaimable_cache() -> None:
    assert cgroups.working_set(100 * MB, {"total_inactive_file": 30 * MB}) == 70 * MB
    assert cgroups.working_set(100 * MB, {"inactive_file": 30 * MB}) == 70 * MB
    assert cgroups.working_set(10, {"inactive_file": 30}) == 0


def watch() -> quota.Watch:
    group = cgroups.Group(1, (("memory", Path("/nonexistent")),))
    return quota.Watch(group, quota_mb=512, limit_mb=1024, max_processes=256)


def test_r14_while_over_quota_every_20_seconds_then_r15_when_killed() -> None:
    w = watch()
    assert quota.assess(w, 400 * MB, cgroups.Events(), now=0).lines == ()
    over = quota.assess(w, 600 * MB, cgroups.Events(), now=1)
    assert over.lines == ("Process running mem=600M(117.2%)", "Error R14 (Memory quota exceeded)")
    assert not over.kill
    assert quota.assess(w, 600 * MB, cgroups.Events(), now=10).lines == ()
    assert len(quota.assess(w, 600 * MB, cgroups.Events(), now=21).lines) == 2
    killed = quota.assess(w, 100 * MB, cgroups.Events(oom_kills=1), now=22)
    assert killed.kill
    assert killed.lines == (
        "Process running mem=1024M(200.0%)",
        "Error R15 (Memory quota vastly exceeded)",
        "Stopping process with SIGKILL",
    )


def test_the_process_limit_is_said_once_per_dyno() -> None:
    w = watch()
    first = quota.assess(w, 0, cgroups.Events(process_limit_hits=3), now=0)
    assert len(first.lines) == 1 and "process limit reached (256" in first.lines[0]
    assert "CEDARBOX_DYNO_MAX_PROCESSES" in first.lines[0]
    assert quota.assess(w, 0, cgroups.Events(process_limit_hits=9), now=1).lines == ()


def test_a_wrapped_command_joins_its_group_first(tmp_path: Path) -> None:
    group = cgroups.Group(1, (("pids", Path("/cg/pids/a")), ("memory", Path("/cg/mem/a"))))
    policy = sandbox.Policy(
        app="demo",
        identity=None,
        writable=(),
        readonly=(),
        cwd=tmp_path,
        max_processes=32,
        cgroup=group,
    )
    argv = sandbox.wrap(policy, ["python", "x.py"])
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[2] == (
        'echo $$ > /cg/pids/a/cgroup.procs && echo $$ > /cg/mem/a/cgroup.procs && exec "$@"'
    )
    assert argv[4:7] == ["env", "--ignore-signal=TERM", "bwrap"]
    assert "prlimit" not in argv  # the group's pids.max limits the sandbox instead
    assert argv[-2:] == ["python", "x.py"]


def run_in_group(
    tmp_path: Path, limits: cgroups.Limits, script: str
) -> tuple[str, cgroups.Events, cgroups.Group]:
    backend = cgroups.backend(tmp_path / "data")
    assert isinstance(backend, cgroups.Backend)
    group = backend.create("demo", "build", limits)
    try:
        policy = sandbox.Policy(
            app="demo",
            identity=sandbox.app_identity(tmp_path / "data", "demo") if os.geteuid() == 0 else None,
            writable=(),
            readonly=sandbox.readonly_roots(),
            cwd=Path("/"),
            max_processes=limits.max_processes,
            cgroup=group,
        )
        done = subprocess.run(
            sandbox.wrap(policy, [sys.executable, "-c", script]),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout + done.stderr, group.events(), group
    finally:
        group.remove()
        backend.sweep(roots_too=True)


@needs_groups
def test_the_groups_process_limit_holds_and_is_counted(tmp_path: Path) -> None:
    script = """
import subprocess
children = []
try:
    for _ in range(100):
        children.append(subprocess.Popen(["sleep", "30"]))
except OSError as exc:
    print(exc.strerror)
print(len(children))
"""
    output, events, group = run_in_group(tmp_path, cgroups.Limits(16, 256 * MB), script)
    assert "Resource temporarily unavailable" in output
    assert 0 < int(output.split()[-1]) < 16
    assert events.process_limit_hits > 0 and events.oom_kills == 0
    assert not any(path.exists() for _, path in group.dirs)


@needs_groups
def test_the_groups_memory_limit_holds_and_is_counted(tmp_path: Path) -> None:
    script = "data = b'x' * (200 << 20)\nprint('survived')\n"
    output, events, group = run_in_group(tmp_path, cgroups.Limits(16, 64 * MB), script)
    assert "survived" not in output
    assert events.oom_kills > 0
    assert not any(path.exists() for _, path in group.dirs)
    root = dict(cgroups.backend(tmp_path / "data").roots)  # type: ignore[union-attr]
    assert not any(path.exists() for path in root.values())  # swept at the end


@needs_groups
def test_every_app_gets_the_same_cpu_share_and_a_sweep_leaves_busy_groups(
    tmp_path: Path,
) -> None:
    backend = cgroups.backend(tmp_path / "data")
    assert isinstance(backend, cgroups.Backend)
    idle = backend.create("one", "web.1", cgroups.Limits(8, None))
    busy = backend.create("two", "web.1", cgroups.Limits(8, None))
    joins = " && ".join(f"echo $$ > {path}" for path in busy.procs_files())
    sleeper = subprocess.Popen(["/bin/sh", "-c", f"{joins} && exec sleep 30"])
    try:
        for app in ("one", "two"):
            shares = idle.dir("cpu").parent.parent / app / "cpu.shares"
            if backend.version == 1:
                assert shares.read_text().strip() == str(cgroups.CPU_SHARES)
        if backend.version == 1:  # all apps together: one busy process per core's worth
            root_shares = idle.dir("cpu").parent.parent / "cpu.shares"
            assert int(root_shares.read_text()) == cgroups.CPU_SHARES * (os.cpu_count() or 1)
        for _ in range(100):
            if busy.pids():
                break
            time.sleep(0.01)
        assert busy.pids() == [sleeper.pid]
        assert backend.sweep() == 1 * len(backend.roots)  # the idle one, in each hierarchy
        assert all(path.exists() for _, path in busy.dirs)
        assert not any(path.exists() for _, path in idle.dirs)
    finally:
        busy.remove()  # kills what is in it
        sleeper.wait(timeout=10)
        backend.sweep(roots_too=True)
    assert not any(path.exists() for _, path in backend.roots)


def fake_v2(tmp: Path, controllers: str) -> tuple[list[cgroups.Mount], dict[str, str]]:
    """A cgroup2 tree in plain files: the server's group `/srv` offering `controllers`."""
    base = tmp / "unified" / "srv"
    base.mkdir(parents=True)
    (base / "cgroup.controllers").write_text(controllers + "\n")
    (base / "cgroup.subtree_control").write_text("")
    return [cgroups.Mount(2, "/", tmp / "unified", ())], {"": "/srv"}


def test_v2_groups_get_v2_limits_and_the_controllers_handed_down(tmp_path: Path) -> None:
    fake_v2(tmp_path, "cpuset cpu io memory pids")
    root = tmp_path / "unified" / "srv" / "cedarbox-x"
    backend = cgroups.Backend(2, (("", root),))
    for path in (root, root / "demo"):  # plain files: what the kernel would make, made here
        path.mkdir(parents=True, exist_ok=True)
        (path / "cgroup.subtree_control").write_text("")
    group = backend.create("demo", "web.1", cgroups.Limits(32, 96 * MB))
    unit = group.dir("memory")
    assert unit.parent == root / "demo" and group.dir("pids") == unit
    assert (unit / "pids.max").read_text() == "32"
    assert (unit / "memory.max").read_text() == str(96 * MB)
    assert (root / "demo" / "cpu.weight").read_text() == str(cgroups.CPU_WEIGHT)
    for control in (root.parent, root):
        assert (control / "cgroup.subtree_control").read_text() == "+pids +memory +cpu"
    assert group.procs_files() == (unit / "cgroup.procs",)
    (unit / "pids.events").write_text("max 4\n")
    (unit / "memory.events").write_text("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n")
    assert group.events() == cgroups.Events(4, 1)


def test_without_usable_cgroups_the_reason_is_named(tmp_path: Path) -> None:
    mounts, mine = fake_v2(tmp_path, "cpu memory")
    assert cgroups._v2(mounts, mine, "cedarbox-x") == (
        f"{tmp_path / 'unified' / 'srv'} offers no pids controller"
    )
    assert cgroups._v2([], {}, "cedarbox-x") == "not mounted"
    assert cgroups._v1([], {}, "cedarbox-x") == "no pids hierarchy"


@needs_groups
def test_a_build_says_once_when_it_runs_without_groups(tmp_path: Path) -> None:
    said = {}
    for setting in ("off", "auto"):
        settings = Settings(data_dir=tmp_path / setting / "data").with_(cgroups=setting)
        (tmp_path / setting).mkdir()
        out = Output(io.BytesIO(), colour_blocks=False)
        result = run_build(build_request(tmp_path / setting, settings), out, [FakeBuildpack()])
        assert result.succeeded
        said[setting] = [line for line in out.transcript if "Limits:" in line]
    assert said["off"] == [
        " !     Limits: CEDARBOX_CGROUPS=off; processes are limited per app uid (prlimit), "
        "memory and CPU are not."
    ]
    assert said["auto"] == []


@needs_groups
def test_a_start_removes_old_empty_groups_of_other_data_directories(tmp_path: Path) -> None:
    mine = cgroups.backend(tmp_path / "mine")
    other = cgroups.backend(tmp_path / "killed")
    assert isinstance(mine, cgroups.Backend) and isinstance(other, cgroups.Backend)
    old = other.create("gone", "web.1", cgroups.Limits(8, None))
    fresh = other.create("new", "build", cgroups.Limits(8, None))
    try:
        mine.sweep_others(older_than=60)  # (other tests' leftovers may go, too)
        assert all(path.exists() for _, path in (*old.dirs, *fresh.dirs))  # just made: live
        # A server killed long ago: its group is old (mtime set back, as time would).
        for _, path in old.dirs:
            for each in (path, path.parent):
                os.utime(each, (time.time() - 120, time.time() - 120))
        assert mine.sweep_others(older_than=60) >= len(old.dirs)
        assert not any(path.exists() for _, path in old.dirs)
        assert all(path.exists() for _, path in fresh.dirs)
    finally:
        fresh.remove()
        old.remove()
    assert not any(root.exists() for _, root in other.roots)
