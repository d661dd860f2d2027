"""The pytest plugin (entry point `cedarbox`): the session-scoped `cedarbox` fixture.

Loaded by every pytest run where cedarbox is installed, so it costs nothing until a test asks
for the fixture: this module imports only pytest, and the server starts on first use. Under
pytest-xdist each worker is a session of its own, so each gets its own server. Turn it off
with `-p no:cedarbox`; load it explicitly with `-p cedarbox` when plugin autoloading is off
(PYTEST_DISABLE_PLUGIN_AUTOLOAD=1).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gitserver.testing.harness import Cedarbox

_STARTED = pytest.StashKey["Cedarbox"]()
# How many deploys the session had made when a test began: those after are the test's own.
_DEPLOYS_BEFORE = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def cedarbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cedarbox]:
    """An ephemeral cedarbox server for the session: `cedarbox.deploy(".")` and so on."""
    from gitserver.testing.harness import Cedarbox

    box = Cedarbox.start(tmp_path_factory.mktemp("cedarbox"))
    request.config.stash[_STARTED] = box
    try:
        yield box
    finally:
        box.close()


def pytest_runtest_setup(item: pytest.Item) -> None:
    box = item.config.stash.get(_STARTED, None)
    item.stash[_DEPLOYS_BEFORE] = len(box.deploys) if box is not None else 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used the server gets what its pushes printed, whole, and the end of
    the server's log in its report."""
    report = yield
    box = item.config.stash.get(_STARTED, None)
    if report.failed and box is not None and "cedarbox" in getattr(item, "fixturenames", ()):
        for deploy in box.deploys[item.stash.get(_DEPLOYS_BEFORE, 0) :]:
            report.sections.append((f"cedarbox push to {deploy.app}", deploy.output))
        report.sections.append(("cedarbox server log", box.server.log_tail()))
    return report
