"""Testing deploys with cedarbox: the pytest plugin's fixture objects and assertions.

def test_deploys(cedarbox):
    r = cedarbox.deploy(".")
    assert r.accepted
    assert r.get("/").status == 200
"""

from gitserver.testing.assertions import assert_transcript
from gitserver.testing.harness import Cedarbox, DeployResult, Response

__all__ = ["Cedarbox", "DeployResult", "Response", "assert_transcript"]
