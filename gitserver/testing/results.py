"""What one deploy gives a test: the push's transcript, the build report, the release, and
requests to the released app through the router."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitserver.records import Build
    from gitserver.testing.harness import Cedarbox

# A push's time limit: a build's own limit (15 minutes) plus the deploy's verification.
PUSH_TIMEOUT = 20 * 60.0
_ERROR_CODE = re.compile(r"Error code: (\S+)(?: \((\S+)\))?")
# Colours and other terminal control sequences: the user reads the text they paint.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Response:
    """An HTTP response from the deployed app, through cedarbox's router."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:200]!r}>"


@dataclass
class PushProcess:
    """One `git push` in flight (or finished): its process and where its output goes."""

    proc: subprocess.Popen[bytes]
    output_path: Path
    sha: str
    started_at: float


@dataclass(eq=False)  # one push is equal only to itself
class DeployResult:
    """One deploy: what the push printed, what the platform recorded, and the app it made.

    With `deploy(..., wait=False)` the push runs on; the first attribute that needs its
    outcome waits for it (or call `wait()`).
    """

    box: Cedarbox
    app: str
    _push: PushProcess = field(repr=False)
    _done: bool = field(default=False, repr=False)
    _output: str = field(default="", repr=False)
    _returncode: int = field(default=0, repr=False)
    _build: Build | None = field(default=None, repr=False)

    def wait(self, timeout: float = PUSH_TIMEOUT) -> DeployResult:
        if not self._done:
            try:
                self._returncode = self._push.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._push.proc.kill()
                self._returncode = self._push.proc.wait()
            self._output = self._push.output_path.read_text(errors="replace")
            self._build = self.box.build_of(self.app, self._push.sha, self._push.started_at)
            self._done = True
        return self

    @property
    def output(self) -> str:
        """Everything git printed, as the user's terminal shows it."""
        return self.wait()._output

    @property
    def accepted(self) -> bool:
        """The push went through (git exited 0): the branch moved."""
        return self.wait()._returncode == 0

    @property
    def transcript(self) -> list[str]:
        """The `remote:` lines without the prefix, as the user reads them."""
        return remote_lines(self.output)

    @property
    def sha(self) -> str:
        return self._push.sha

    @property
    def build_id(self) -> str | None:
        build = self.wait()._build
        return build.id if build else None

    @property
    def report(self) -> dict[str, Any] | None:
        """The JSON build report (`cedarbox builds:info`); None when no build ran."""
        build = self.wait()._build
        if build is None:
            return None
        path = self.box.platform.data.builds(self.app) / f"{build.id}.json"
        try:
            report: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return report

    @property
    def release(self) -> int | None:
        """The version of the release this deploy created (None if it created none)."""
        build = self.wait()._build
        return build.release_version if build else None

    @property
    def failure_code(self) -> str | None:
        """The build's own code (`PIP_INSTALL_FAILED`), else the push's `Error code:`."""
        return failure_code(self.report, self.transcript)

    @property
    def url(self) -> str:
        """The app's URL through the router: `http://<app>.localhost:<port>/`."""
        return self.box.web_url(self.app)

    def get(self, path: str = "/", headers: Mapping[str, str] | None = None) -> Response:
        return self.box.request(self.app, "GET", path, headers=headers)

    def post(
        self,
        path: str = "/",
        data: bytes | str | None = None,
        json_body: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """POST `data` as is, or `json_body` as JSON."""
        extra = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body)
            extra.setdefault("Content-Type", "application/json")
        body = data.encode() if isinstance(data, str) else data
        return self.box.request(self.app, "POST", path, body=body, headers=extra)

    def logs(self) -> str:
        """The app's log (`cedarbox logs`): dyno output, router and platform lines."""
        return self.box.logs(self.app)

    def rollback(self, version: int | None = None) -> int:
        """`releases:rollback [vN]`; waits until the new release's web dyno is up."""
        return self.box.rollback(self.app, version)

    def __repr__(self) -> str:
        if not self._done and self._push.proc.poll() is None:
            return f"<DeployResult {self.app}: pushing>"
        state = "accepted" if self.accepted else f"rejected, failure_code={self.failure_code}"
        last = [line.strip() for line in self.transcript if line.strip()][-2:]
        return f"<DeployResult {self.app} ({state}); ends {' / '.join(last)!r}>"


def failure_code(report: Mapping[str, Any] | None, transcript: list[str]) -> str | None:
    """The build report's code, else the last `Error code: CODE (DETAIL)` line's DETAIL or CODE
    (a push refused before any build, such as APP_LOCKED, has no report)."""
    if report and report.get("failure_code"):
        return str(report["failure_code"])
    for line in reversed(transcript):
        match = _ERROR_CODE.search(line)
        if match:
            return match.group(2) or match.group(1)
    return None


def remote_lines(output: str) -> list[str]:
    """The `remote:` lines of git's output without the prefix (and git's one space), as a
    terminal shows them: without colour codes."""
    lines = []
    for line in _ANSI.sub("", output).splitlines():
        if line.startswith("remote:"):
            text = line[len("remote:") :]
            lines.append((text[1:] if text.startswith(" ") else text).rstrip())
    return lines
