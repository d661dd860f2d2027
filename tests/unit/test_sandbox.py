"""gitserver/sandbox.py: the policy's argv, per-app uids, exec errors, and real bwrap runs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitserver import sandbox
from gitserver.output import Output
from gitserver.pipeline.build import run_build
from gitserver.pipeline.context import BuildRequest
from gitserver.settings import Settings
from tests.support.fakes import FakeBuildpack

UID = sandbox.Identity(2_100_000, 2_100_000)
needs_sandbox = pytest.mark.skipif(bool(sandbox._probe()), reason="no bubblewrap sandbox here")


def policy(tmp: Path, identity: sandbox.Identity | None = UID, **changes: object) -> sandbox.Policy:
    values: dict[str, object] = {
        "app": "demo",
        "identity": identity,
        "writable": (tmp / "build",),
        "readonly": (),
        "cwd": tmp / "build",
        "max_processes": 32,
    }
    values.update(changes)
    return sandbox.Policy(**values)  # type: ignore[arg-type]


def test_as_root_the_command_drops_to_the_apps_uid_in_namespaces_of_its_own(
    tmp_path: Path,
) -> None:
    (tmp_path / "build").mkdir()
    argv = sandbox.wrap(policy(tmp_path), ["python", "x.py"])
    assert argv[:3] == ["env", "--ignore-signal=TERM", "bwrap"]
    for flag in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"):
        assert flag in argv
    assert "--unshare-user" not in argv[: argv.index("--")]  # bwrap mounts as root, then…
    inner = argv[argv.index("--") + 1 :]
    assert inner[:2] == ["setpriv", "--reuid=2100000"]
    assert "--no-new-privs" in inner and "--bounding-set=-all" in inner
    assert inner[inner.index("unshare") : inner.index("unshare") + 3] == [
        "unshare",
        "--user",
        "--map-current-user",
    ]
    assert inner[-5:] == ["prlimit", "--nproc=32:32", "--", "python", "x.py"]
    build = str(tmp_path / "build")
    assert argv[argv.index(build) - 1] == "--bind"
    # Its parents are made traversable (0711), not listable, before the bind.
    assert ["--perms", "0711", "--dir", str(tmp_path)] == argv[
        argv.index(str(tmp_path)) - 3 : argv.index(str(tmp_path)) + 1
    ]


def test_not_root_the_sandbox_is_a_user_namespace_of_the_servers_user(tmp_path: Path) -> None:
    argv = sandbox.wrap(policy(tmp_path, identity=None), ["true"])
    assert "--unshare-user" in argv
    assert "setpriv" not in argv


def test_binds_go_parents_first_and_missing_writable_paths_are_left_out(tmp_path: Path) -> None:
    outer, inner = tmp_path / "a", tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    argv = sandbox.wrap(policy(tmp_path, writable=(inner, outer, tmp_path / "gone")), ["true"])
    binds = [argv[i + 1] for i, word in enumerate(argv) if word == "--bind"]
    assert binds == [str(outer), str(inner)]


def test_each_app_gets_its_own_recorded_uid(tmp_path: Path) -> None:
    first = sandbox.app_identity(tmp_path, "shop")
    assert first == sandbox.app_identity(tmp_path, "shop")
    assert sandbox.UID_BASE < first.uid < sandbox.UID_BASE + sandbox.UID_SPAN
    record = tmp_path / sandbox.UIDS_FILE
    assert json.loads(record.read_text()) == {"shop": first.uid}
    assert record.stat().st_mode & 0o777 == 0o600
    # Another name whose hash lands on a taken uid gets the next free one.
    record.write_text(json.dumps({"squatter": first.uid}))
    assert sandbox.app_identity(tmp_path, "shop").uid == first.uid + 1


def test_exec_problems_are_found_before_the_sandbox_starts(tmp_path: Path) -> None:
    script = tmp_path / "hook"
    assert isinstance(sandbox.exec_problem(str(script), ""), FileNotFoundError)
    script.write_text("#!/bin/sh\necho hi\n")
    assert isinstance(sandbox.exec_problem(str(script), ""), PermissionError)
    script.chmod(0o755)
    assert sandbox.exec_problem(str(script), "") is None
    script.write_text("#!/no/such/interpreter\n")
    assert isinstance(sandbox.exec_problem(str(script), ""), FileNotFoundError)
    assert sandbox.exec_problem("sh", os.defpath) is None
    assert isinstance(sandbox.exec_problem("no-such-program", os.defpath), FileNotFoundError)


@needs_sandbox
def test_a_sandboxed_command_writes_only_its_own_tree_and_sees_only_its_processes(
    tmp_path: Path,
) -> None:
    build, secret = tmp_path / "build", tmp_path / "secret.txt"
    build.mkdir()
    secret.write_text("s3cret")
    secret.chmod(0o644)
    identity = sandbox.app_identity(tmp_path / "data", "demo") if os.geteuid() == 0 else None
    sandbox.give(identity, [build])
    script = f"""
        touch {build}/made && echo wrote-own
        cat {secret} 2>/dev/null && echo read-secret
        touch {tmp_path}/escaped 2>/dev/null && echo wrote-outside
        ls /proc | grep -c '^[0-9]'
        id -u
    """
    argv = sandbox.wrap(policy(tmp_path, identity=identity), ["sh", "-c", script])
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    lines = done.stdout.split()
    assert lines[0] == "wrote-own" and (build / "made").exists()
    assert "read-secret" not in lines and "wrote-outside" not in lines
    assert not (tmp_path / "escaped").exists()
    assert int(lines[-2]) < 10  # its own pid namespace: a handful of processes
    assert int(lines[-1]) == (identity.uid if identity else os.geteuid())


@needs_sandbox
def test_the_process_limit_holds(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    identity = sandbox.app_identity(tmp_path / "data", "demo") if os.geteuid() == 0 else None
    sandbox.give(identity, [tmp_path / "build"])
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
    limited = policy(
        tmp_path, identity=identity, max_processes=16, readonly=sandbox.readonly_roots()
    )
    argv = sandbox.wrap(limited, [sys.executable, "-c", script])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert "Resource temporarily unavailable" in done.stdout
    assert 0 < int(done.stdout.split()[-1]) < 16


def build_request(tmp: Path, settings: Settings) -> BuildRequest:
    build_dir = tmp / "build"
    build_dir.mkdir()
    (build_dir / "app.py").write_text("print('hi')\n")
    (tmp / "env").mkdir()
    return BuildRequest(
        app="demo",
        stack="heroku-24",
        build_dir=build_dir,
        cache_root=tmp / "cache",
        env_dir=tmp / "env",
        slug_path=None,
        source_version="a" * 40,
        settings=settings,
    )


def test_with_the_sandbox_off_every_build_says_so(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data").with_(sandbox="off")
    out = Output(io.BytesIO(), colour_blocks=False)
    result = run_build(build_request(tmp_path, settings), out, [FakeBuildpack()])
    assert result.succeeded
    said = [line for line in out.transcript if "Sandbox off" in line]
    assert said == [" !     Sandbox off (CEDARBOX_SANDBOX=off): this build's code runs unconfined."]


def test_without_a_sandbox_builds_are_refused_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This host has bubblewrap; a host without it is what _probe reports then.
    monkeypatch.setattr(sandbox, "_probe", lambda: "`bwrap` is not installed")
    out = Output(io.BytesIO(), colour_blocks=False)
    settings = Settings(data_dir=tmp_path / "data")
    result = run_build(build_request(tmp_path, settings), out, [FakeBuildpack()])
    assert not result.succeeded
    assert result.report.failure_code == "SANDBOX_UNAVAILABLE"
    text = "\n".join(out.transcript)
    assert "`bwrap` is not installed" in text
    assert "apt-get install bubblewrap" in text and "CEDARBOX_SANDBOX=off" in text
