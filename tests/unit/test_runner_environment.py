"""A dyno's environment and command line: host basics, config vars, PORT/DYNO/HOME, .profile.d."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitserver.runner.environment import dyno_argv, dyno_environment


def test_environment_layers_host_basics_config_then_platform_variables(tmp_path: Path) -> None:
    host = {"PATH": "/bin:/usr/bin", "LANG": "C.UTF-8", "SECRET": "server-only", "HOME": "/root"}
    config = {"GREETING": "hi", "PATH": "/custom:/bin"}
    env = dyno_environment(host, config, home=tmp_path, dyno="web.1", port=5678)
    assert env == {
        "PATH": "/custom:/bin",
        "LANG": "C.UTF-8",
        "GREETING": "hi",
        "HOME": str(tmp_path),
        "DYNO": "web.1",
        "PORT": "5678",
    }
    worker = dyno_environment({}, {}, home=tmp_path, dyno="worker.1", port=None)
    assert "PORT" not in worker and worker["PATH"] == "/usr/local/bin:/usr/bin:/bin"


def test_profile_scripts_are_sourced_before_the_command(tmp_path: Path) -> None:
    profile = tmp_path / ".profile.d"
    profile.mkdir()
    (profile / "a.sh").write_text('export FROM_PROFILE="$HOME/x"\n')
    (profile / "b.sh").write_text("export SECOND=2\n")
    env = dyno_environment({"PATH": "/usr/bin:/bin"}, {}, home=tmp_path, dyno="run.1", port=None)
    simple = subprocess.run(
        dyno_argv('echo "$FROM_PROFILE $SECOND $DYNO"'), cwd=tmp_path, env=env, capture_output=True
    )
    assert simple.stdout.decode().strip() == f"{tmp_path}/x 2 run.1"
    compound = subprocess.run(
        dyno_argv("echo one && echo two; exit 7"), cwd=tmp_path, env=env, capture_output=True
    )
    assert compound.stdout.decode().split() == ["one", "two"]
    assert compound.returncode == 7


def test_simple_commands_are_execd_so_they_get_the_signals() -> None:
    assert dyno_argv("gunicorn app:app")[-1].endswith("; exec gunicorn app:app")
    assert dyno_argv("python manage.py runserver 0.0.0.0:$PORT")[-1].endswith(
        "; exec python manage.py runserver 0.0.0.0:$PORT"
    )
    for command in ("a | b", "exit 3", "FOO=1 python app.py", "cd sub && ./run", "time x"):
        assert "exec" not in dyno_argv(command)[-1].split("done;", 1)[1], command
