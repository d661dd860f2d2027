"""App repositories: the keys cedarbox writes into their config come back exactly to the hook."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitserver import repos
from gitserver.receive.hook import read_cedarbox_config


@pytest.mark.parametrize(
    "name",
    [
        "data dir",  # a space
        "a;b",  # git starts a comment at `;` unless the value is quoted
        "a#b",
        ' "quoted" ',  # leading and trailing spaces, quotes
        "back\\slash\\n",
        "tab\tand\nnewline",
        os.fsdecode(b"latin\xe9"),  # not UTF-8
    ],
)
def test_the_hook_reads_back_the_data_dir_cedarbox_wrote(tmp_path: Path, name: str) -> None:
    data_dir = tmp_path / name
    repo = data_dir / "repos" / "my-app.git"
    repos.create_repo(repo, app="my-app", data_dir=data_dir)
    config = read_cedarbox_config(repo)
    assert config["cedarbox.app"] == "my-app"
    assert config["cedarbox.datadir"] == str(data_dir)
    assert (repo / "hooks" / "pre-receive").is_file()
