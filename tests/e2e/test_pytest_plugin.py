"""The pytest plugin, run by pytest itself (`pytester`): a user's test files in a temporary
directory, a real `pytest` subprocess loading the `cedarbox` entry point, a real ephemeral
server and real pushes.

The inner sessions get the CI's pip settings the way a CI job sets them (PIP_* variables):
no index, the test wheelhouse as find-links. Sessions whose builds are not what a test checks
use the no-op buildpack. Inner tests write what they saw to `seen-*.json` for the outer test
to check after the session ended (the server's pid and data directory, the dynos' pids).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.support import procs
from tests.support.gitutil import make_repo, write_files
from tests.support.server import ROOT, TOOL_WHEELS, find_links, isolated_env, noop_build_env

pytest_plugins = ("pytester",)

# The README's example, as a new user writes it.
README_EXAMPLE = """\
def test_deploys(cedarbox):
    r = cedarbox.deploy(".")
    assert r.accepted
    assert r.get("/").status == 200
"""

WEB_APP = {
    "requirements.txt": "alpha==1.0\n",
    ".python-version": "3.12\n",
    "Procfile": "web: python -m http.server $PORT\n",
}

RECORD = """
import json, os
from pathlib import Path

def record(name, cedarbox, **more):
    info = cedarbox.server.info
    seen = {"pid": info.pid, "data_dir": str(info.data_dir),
            "worker": os.environ.get("PYTEST_XDIST_WORKER", ""), **more}
    Path(os.environ["SEEN_DIR"], f"seen-{name}.json").write_text(json.dumps(seen))
"""


@pytest.fixture
def user_env(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, wheelhouse: Path
) -> dict[str, str]:
    """A CI job's environment: its own pip settings, nothing of this machine's."""
    env = isolated_env(pytester.path / "_env", PIP_FIND_LINKS=find_links(wheelhouse))
    env["HOME"] = os.environ["HOME"]  # pytester's own temporary HOME
    env["CEDARBOX_TOOL_WHEELS"] = str(TOOL_WHEELS)
    env["SEEN_DIR"] = str(pytester.path)
    for key in list(os.environ):
        if key.startswith(("PIP_", "CEDARBOX_", "GIT_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def seen(pytester: pytest.Pytester) -> dict[str, dict[str, object]]:
    return {
        path.stem.removeprefix("seen-"): json.loads(path.read_text())
        for path in pytester.path.glob("seen-*.json")
    }


def assert_all_gone(data_dir: str, pids: list[int]) -> None:
    assert not Path(data_dir).exists(), f"{data_dir} is left behind"
    assert procs.using_data_dir(Path(data_dir)) == []
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=600)


def test_the_readme_example_passes_and_a_redeploy_rolls_back(
    pytester: pytest.Pytester, user_env: dict[str, str]
) -> None:
    assert README_EXAMPLE in (ROOT / "README.md").read_text()  # the README's test is this one
    write_files(pytester.path, {**WEB_APP, "index.html": "one\n"})
    pytester.makepyfile(test_app=README_EXAMPLE)
    pytester.makepyfile(
        test_release=RECORD
        + """
import shutil
from gitserver.testing import assert_transcript

def test_release_report_logs_and_rollback(cedarbox, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(".", src, ignore=shutil.ignore_patterns("test_*", "_env", "__pycache__"))
    first = cedarbox.deploy(src, config={"WHO": "ci"})
    assert first.accepted and first.failure_code is None
    assert first.release == 2  # v1 is the config change
    assert first.report["outcome"] == "succeeded"
    assert first.report["source_version"] == first.sha
    assert any(p.startswith("alpha") for p in first.report["packages"])  # PIP_* reached pip
    assert_transcript(first, [
        "-----> Python app detected",
        "-----> Installing dependencies using 'pip install -r requirements.txt'",
        f"Released v{first.release}",
        "Verifying deploy... done.",
    ])
    assert first.get("/index.html").text == "one\\n"
    assert first.url == f"http://{first.app}.localhost:{cedarbox.url.rsplit(':', 1)[1]}/"

    (src / "index.html").write_text("two\\n")
    second = cedarbox.deploy(src, app=first.app)
    assert second.accepted and second.release == 3
    assert second.get("/index.html").text == "two\\n"
    assert second.post("/", data="x").status == 501  # http.server has no POST
    assert 'heroku[router]: at=info method=GET path="/index.html"' in second.logs()

    assert second.rollback() == 4
    assert second.get("/index.html").text == "one\\n"
    record("release", cedarbox, app=first.app)
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)
    info = seen(pytester)["release"]
    assert_all_gone(str(info["data_dir"]), [int(str(info["pid"]))])


def test_a_failing_build_is_reported_with_its_transcript(
    pytester: pytest.Pytester, user_env: dict[str, str]
) -> None:
    write_files(pytester.path / "broken", {**WEB_APP, "requirements.txt": "no-such-pkg==1.0\n"})
    pytester.makepyfile(
        """
import pytest
from gitserver.testing import assert_transcript

@pytest.fixture(scope="module")
def broken(cedarbox):
    return cedarbox.deploy("broken")

def test_user_expects_success(broken):
    assert broken.accepted

def test_failure_code_and_report(broken):
    assert not broken.accepted
    assert broken.failure_code == "PIP_INSTALL_FAILED"
    assert broken.report["outcome"] == "failed" and broken.release is None
    assert_transcript(broken, ["-----> Python app detected", "!     Push failed"])

def test_transcript_mismatch_is_readable(broken):
    assert_transcript(broken, ["-----> Python app detected", "Released v1"])
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    # `assert r.accepted` shows the result; the report has what the push printed, whole.
    assert "rejected, failure_code=PIP_INSTALL_FAILED" in out
    result.stdout.fnmatch_lines(
        [
            "*- cedarbox push to *",
            "remote: -----> Python app detected*",
            "remote: -----> Installing dependencies using 'pip install -r requirements.txt'*",
            "remote:  !     Error code: BUILD_FAILED (PIP_INSTALL_FAILED)*",
        ]
    )
    # assert_transcript names the missing line, what matched, and numbers the transcript.
    assert "expected line 2 not found after transcript line 5: 'Released v1'" in out
    result.stdout.fnmatch_lines(
        ["*+ -----> Python app detected", "*- Released v1", "*1 | Building source:"]
    )
    # A failed test that used the server shows the server's log.
    assert "cedarbox server log" in out


def test_two_tests_share_one_server_with_separate_apps_and_nothing_is_left(
    pytester: pytest.Pytester, user_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in noop_build_env().items():
        monkeypatch.setenv(key, value)
    write_files(pytester.path / "plain", {"Procfile": "web: python -m http.server $PORT\n"})
    checkout = make_repo(pytester.path / "checkout", user_env, {"app.py": "print('hi')\n"})
    head = (checkout / ".git" / "refs" / "heads" / "main").read_text().strip()
    (checkout / "uncommitted.txt").write_text("not pushed\n")
    pytester.makepyfile(
        RECORD
        + """
def test_plain_directory(cedarbox):
    r = cedarbox.deploy("plain")
    assert r.accepted and r.get("/").status == 200
    dynos = [d.pid for d in cedarbox.platform.dynos(r.app)]
    assert dynos
    record("plain", cedarbox, app=r.app, dynos=dynos)

def test_git_checkout(cedarbox):
    r = cedarbox.deploy("checkout", stack="cedar-14", wait=False)
    assert r.wait().accepted and r.report["outcome"] == "succeeded"
    assert r.report["stack"] == "cedar-14"
    record("checkout", cedarbox, app=r.app, sha=r.sha)
"""
    )
    # A user's global git config that would send every push elsewhere: it must not be read
    # (git reads $XDG_CONFIG_HOME/git/config whatever HOME is).
    xdg = pytester.path / "_xdg"
    gitconfig = xdg / "git" / "config"
    gitconfig.parent.mkdir(parents=True)
    gitconfig.write_text('[url "http://nowhere.invalid/"]\n\tinsteadOf = http://\n')
    before = gitconfig.read_text()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    result = run(pytester)
    result.assert_outcomes(passed=2)
    assert gitconfig.read_text() == before
    assert not (Path(os.environ["HOME"]) / ".local" / "share" / "cedarbox").exists()
    plain, checked_out = seen(pytester)["plain"], seen(pytester)["checkout"]
    assert plain["pid"] == checked_out["pid"] and plain["data_dir"] == checked_out["data_dir"]
    assert plain["app"] != checked_out["app"]
    assert checked_out["sha"] == head  # HEAD, pushed as main
    dynos = [int(pid) for pid in plain["dynos"]]  # type: ignore[attr-defined]
    assert_all_gone(str(plain["data_dir"]), [int(str(plain["pid"])), *dynos])
    # The user's checkout is as it was: nothing committed, no config written.
    assert (checkout / "uncommitted.txt").exists()
    assert not (pytester.path / "plain" / ".git").exists()


def test_under_xdist_each_worker_has_its_own_server(
    pytester: pytest.Pytester, user_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in noop_build_env().items():
        monkeypatch.setenv(key, value)
    write_files(pytester.path / "app", {"app.py": "print('hi')\n"})
    pytester.makepyfile(
        RECORD
        + """
import time

def test_one(cedarbox):
    assert cedarbox.deploy("app").accepted
    record("one", cedarbox)
    time.sleep(1)  # keep this worker busy so that the other test goes to the other one

def test_two(cedarbox):
    assert cedarbox.deploy("app").accepted
    record("two", cedarbox)
    time.sleep(1)
"""
    )
    result = run(pytester, "-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=2)
    one, two = seen(pytester)["one"], seen(pytester)["two"]
    assert {one["worker"], two["worker"]} == {"gw0", "gw1"}
    assert one["pid"] != two["pid"] and one["data_dir"] != two["data_dir"]
    for info in (one, two):
        assert_all_gone(str(info["data_dir"]), [int(str(info["pid"]))])


def test_a_test_run_killed_outright_still_leaves_nothing(
    pytester: pytest.Pytester, user_env: dict[str, str]
) -> None:
    pytester.makepyfile(
        RECORD
        + """
import os, signal

def test_killed(cedarbox):
    record("killed", cedarbox)
    os.kill(os.getpid(), signal.SIGKILL)
"""
    )
    run(pytester)
    info = seen(pytester)["killed"]
    pid, data_dir = int(str(info["pid"])), Path(str(info["data_dir"]))
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_all_gone(str(data_dir), [pid])


def test_a_server_that_cannot_start_fails_the_tests_with_its_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CEDARBOX_DEFAULT_STACK", "cedar-99")
    pytester.makepyfile("def test_deploys(cedarbox):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "`cedarbox serve --ephemeral` did not start (exit status 1)." in out
    assert "Unknown stack 'cedar-99'." in out and "Choose one of: heroku-24, cedar-14." in out


def test_the_plugin_loads_without_importing_cedarbox(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unrelated suites pay for nothing: loading the plugin imports no cedarbox module but
    the plugin's own package."""
    pytester.makepyfile(
        """
import sys

def test_nothing_imported():
    loaded = sorted(m for m in sys.modules if m.startswith("gitserver"))
    assert loaded == ["gitserver", "gitserver.testing", "gitserver.testing.plugin"]
"""
    )
    run(pytester).assert_outcomes(passed=1)
    # And `-p no:cedarbox` turns it off.
    pytester.makepyfile(test_off="def test_off(cedarbox):\n    pass\n")
    off = run(pytester, "-p", "no:cedarbox", "test_off.py")
    off.assert_outcomes(errors=1)
    assert "fixture 'cedarbox' not found" in off.stdout.str()

    # With autoloading off (as some CI setups do), `-p cedarbox` loads it by its entry point.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    listed = run(pytester, "--fixtures", "test_off.py").stdout.str()
    assert "cedarbox [session scope]" not in listed
    listed = run(pytester, "-p", "cedarbox", "--fixtures", "test_off.py").stdout.str()
    assert "cedarbox [session scope]" in listed
