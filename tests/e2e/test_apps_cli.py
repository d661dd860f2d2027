"""The apps commands, run as a user runs them: a subprocess against a data directory."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Protocol

import pytest

from tests.support.server import isolated_env, run_cli


class Cli(Protocol):
    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    env = isolated_env(tmp_path)
    data = tmp_path / "data"

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(data, env, *args, check=check)

    return run


def test_create_list_info_destroy(cli: Cli, tmp_path: Path) -> None:
    created = cli("apps:create", "shop", "--stack", "cedar-14")
    assert "Creating shop... done, stack is cedar-14" in created.stdout
    assert "http://127.0.0.1:5000/shop.git" in created.stdout
    generated = json.loads(cli("apps:create", "--json").stdout)
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{5}", generated["name"])
    assert generated["stack"] == "heroku-24"

    apps = json.loads(cli("apps", "--json").stdout)
    assert sorted(a["name"] for a in apps) == sorted(["shop", generated["name"]])
    plain = cli("apps").stdout
    assert "shop\tcedar-14" in plain

    info = json.loads(cli("apps:info", "-a", "shop", "--json").stdout)
    assert info["git_url"] == "http://127.0.0.1:5000/shop.git"
    assert info["web_url"] == "https://shop.localhost:5000/"
    assert info["release"] is None
    assert Path(info["repository"], "hooks", "pre-receive").is_file()

    refused = cli("apps:destroy", "shop", check=False)
    assert refused.returncode == 1
    assert "--confirm shop" in refused.stderr
    cli("apps:destroy", "shop", "--confirm", "shop")
    assert not Path(info["repository"]).exists()
    assert [a["name"] for a in json.loads(cli("apps", "--json").stdout)] == [generated["name"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("apps:create", "Bad_Name"), "is not valid"),
        (("apps:create", "x" * 31), "max is 30"),
        (("apps:create", "ok-name", "--stack", "bamboo"), "invalid choice"),
        (("apps:info", "-a", "missing"), "Couldn't find that app"),
        (("apps:info", "-a", "../etc"), "is not valid"),
        (("apps:destroy", "missing", "--confirm", "missing"), "Couldn't find that app"),
        (("no-such-command",), "invalid choice"),
    ],
)
def test_user_mistakes_are_one_clear_line_and_exit_1(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    result = cli(*args, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_creating_an_existing_app_is_refused(cli: Cli) -> None:
    cli("apps:create", "twice")
    result = cli("apps:create", "twice", check=False)
    assert result.returncode == 1
    assert "already exists" in result.stderr
