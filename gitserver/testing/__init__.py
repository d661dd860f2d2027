"""Testing deploys with cedarbox: the pytest plugin's fixture objects and assertions.

    def test_deploys(cedarbox):
        r = cedarbox.deploy(".")
        assert r.accepted
        assert r.get("/").status == 200

The names below load on first use, so that pytest loading the plugin (gitserver.testing.plugin,
in this package) imports nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitserver.testing.assertions import assert_transcript
    from gitserver.testing.harness import Cedarbox, DeployResult, Response

__all__ = ["Cedarbox", "DeployResult", "Response", "assert_transcript"]

_HOMES = {
    "assert_transcript": "gitserver.testing.assertions",
    "Cedarbox": "gitserver.testing.harness",
    "DeployResult": "gitserver.testing.harness",
    "Response": "gitserver.testing.harness",
}


def __getattr__(name: str) -> object:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
