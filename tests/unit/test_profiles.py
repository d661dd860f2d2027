"""Stack profiles and the Python buildpack's rules: the shipped files load, bad ones are refused."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest

from gitserver.buildpacks.python.rules import (
    RuntimeCatalogRules,
    VersionFileRules,
    load_rules,
    parse_rules,
)
from gitserver.errors import InvalidStack
from gitserver.pipeline.profiles import (
    ProfileData,
    ProfileError,
    load_profile,
    parse_profile,
    read_profile,
)

STACKS = sorted(
    p.name.removesuffix(".json")
    for p in resources.files("gitserver.pipeline.profiles").iterdir()
    if p.name.endswith(".json")
)


def test_the_shipped_stacks_are_heroku_24_and_cedar_14() -> None:
    assert STACKS == ["cedar-14", "heroku-24"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_profile_loads_with_its_buildpack_rules(stack: str) -> None:
    profile = load_profile(stack)
    rules = load_rules(stack)
    assert profile.name == stack
    assert rules.detect_files and rules.pip.tools[0].name == "pip"
    expected = RuntimeCatalogRules if profile.legacy else VersionFileRules
    assert type(rules.python) is expected
    assert load_rules(stack) is rules  # parsed once per stack


def test_an_unknown_stack_has_no_profile() -> None:
    with pytest.raises(InvalidStack):
        read_profile("cedar-10")


def edited(stack: str, edit: Any) -> ProfileData:
    data = copy.deepcopy(dict(read_profile(stack).data))
    edit(data)
    return ProfileData(f"{stack}.json", data)


def test_a_misspelt_key_is_refused_naming_file_and_key() -> None:
    def misspell(data: dict[str, Any]) -> None:
        data["pip"]["hide_lnes"] = data["pip"].pop("hide_lines")

    with pytest.raises(ProfileError) as info:
        parse_rules(edited("heroku-24", misspell))
    assert (info.value.source, info.value.key) == ("heroku-24.json", "pip.hide_lnes")
    assert str(info.value) == "heroku-24.json: pip.hide_lnes: unknown key"


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (lambda d: d["django"]["messages"].pop("failed"), "django.messages.failed", "missing"),
        (lambda d: d["pip"].update(tools=[{"name": "pip"}]), "pip.tools[0].version", "missing"),
        (
            lambda d: d["pip"].update(announce_tools=1),
            "pip.announce_tools",
            "must be true or false",
        ),
        (
            lambda d: d["django"].update(manage_py_max_depth=True),
            "django.manage_py_max_depth",
            "must be a whole number",
        ),
        (
            lambda d: d["pip"].update(setup_py="maybe"),
            "pip.setup_py",
            "must be one of ['sunset', 'generate']",
        ),
        (
            lambda d: d["python"].update(scheme="eggs"),
            "python.scheme",
            "must be one of ['version-files', 'runtime-catalog']",
        ),
        (lambda d: d.update(djnago={}), "djnago", "unknown key"),
    ],
)
def test_bad_rules_are_refused_when_they_load(edit: Any, key: str, problem: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_rules(edited("cedar-14", edit))
    assert str(info.value) == f"cedar-14.json: {key}: {problem}"


def test_a_bad_stack_part_is_refused_naming_file_and_key() -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(edited("cedar-14", lambda d: d.pop("legacy")))
    assert str(info.value) == "cedar-14.json: legacy: missing"
