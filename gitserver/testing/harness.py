"""The `cedarbox` fixture's objects: an ephemeral server, deploys to it and their results.

`Cedarbox.start` runs `cedarbox serve --ephemeral` as a child process and reads its JSON line;
`Cedarbox.deploy` pushes a directory or a git checkout with the real git over HTTP, as a user
would, and returns a `DeployResult` built from what the user sees (the `remote:` lines) and
what the platform recorded (the build report, the release). git runs with a temporary HOME
and no global or system configuration, so nothing of the user's git setup is read or written.
Importing this module imports nothing else of cedarbox: the platform is opened on first use.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gitserver.errors import CedarboxError

if TYPE_CHECKING:
    from gitserver.platform import Platform
    from gitserver.records import Build

# How long the ephemeral server may take to print its JSON line.
START_TIMEOUT = 60.0
# SIGTERM, then SIGKILL after this long (the server stops its dynos within its stop grace).
STOP_TIMEOUT = 30.0
# A push's time limit: a build's own limit (15 minutes) plus the deploy's verification.
PUSH_TIMEOUT = 20 * 60.0
LOG_TAIL_BYTES = 16 * 1024
_ERROR_CODE = re.compile(r"Error code: (\S+)(?: \((\S+)\))?")


class HarnessError(CedarboxError):
    """The fixture could not do what a test asked (start the server, read a source, push)."""

    code = "TEST_HARNESS"


@dataclass(frozen=True)
class ServerInfo:
    """The JSON line `cedarbox serve --ephemeral` prints once it is ready."""

    url: str
    data_dir: Path
    api_key: str
    pid: int
    https_url: str | None = None

    @classmethod
    def from_line(cls, line: str) -> ServerInfo:
        data = json.loads(line)
        return cls(
            url=str(data["url"]),
            data_dir=Path(data["data_dir"]),
            api_key=str(data["api_key"]),
            pid=int(data["pid"]),
            https_url=data.get("https_url"),
        )


class EphemeralServer:
    """`cedarbox serve --ephemeral` as a child process, its output in files under `workdir`.

    Files, not pipes: a pipe nobody reads can fill and stall the server.
    """

    def __init__(self, workdir: Path, env: Mapping[str, str], timeout: float) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = workdir / "server.stdout"
        self.stderr_path = workdir / "server.stderr"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gitserver", "serve", "--ephemeral"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(env),
                cwd=workdir,
            )
        self.info = self._read_info(timeout)

    def _read_info(self, timeout: float) -> ServerInfo:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line, newline, _ = self.stdout_path.read_text(errors="replace").partition("\n")
            if newline:
                try:
                    return ServerInfo.from_line(line)
                except (ValueError, KeyError, TypeError):
                    break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise HarnessError(
            f"`cedarbox serve --ephemeral` did not start (exit status {self.proc.returncode}).",
            hint=f"Its output follows; the full log is in {self.stderr_path}.\n" + self.log_tail(),
        )

    def log_tail(self, limit: int = LOG_TAIL_BYTES) -> str:
        """The end of the server's stderr, where its diagnostics and tracebacks are."""
        try:
            with self.stderr_path.open("rb") as f:
                f.seek(max(f.seek(0, os.SEEK_END) - limit, 0))
                return f.read().decode(errors="replace")
        except OSError as exc:
            return f"<no log: {exc}>"

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (the server stops its dynos and removes its data directory), then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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
class _Push:
    """One `git push` in flight (or finished): its process and where its output goes."""

    proc: subprocess.Popen[bytes]
    output_path: Path
    sha: str
    started_at: float


@dataclass
class DeployResult:
    """One deploy: what the push printed, what the platform recorded, and the app it made.

    With `deploy(..., wait=False)` the push runs on; the first attribute that needs its
    outcome waits for it (or call `wait()`).
    """

    box: Cedarbox
    app: str
    _push: _Push = field(repr=False)
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
            self._build = self.box._build_of(self.app, self._push.sha, self._push.started_at)
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
        path = self.box.data_dir / "builds" / self.app / f"{build.id}.json"
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
        report = self.report
        if report and report.get("failure_code"):
            return str(report["failure_code"])
        for line in reversed(self.transcript):
            match = _ERROR_CODE.search(line)
            if match:
                return match.group(2) or match.group(1)
        return None

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
        lines = "\n".join(f"    remote: {line}" for line in self.transcript)
        return f"<DeployResult {self.app} ({state}); transcript:\n{lines}\n>"


def remote_lines(output: str) -> list[str]:
    """The `remote:` lines of git's output without the prefix (and git's one space)."""
    lines = []
    for line in output.splitlines():
        if line.startswith("remote:"):
            text = line[len("remote:") :]
            lines.append((text[1:] if text.startswith(" ") else text).rstrip())
    return lines


class Cedarbox:
    """An ephemeral cedarbox server and deploys to it (the `cedarbox` pytest fixture)."""

    def __init__(self, server: EphemeralServer, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self._platform: Platform | None = None
        self._sources = 0
        home = workdir / "git-home"
        home.mkdir(parents=True, exist_ok=True)
        self.git_env = git_env(home)

    @classmethod
    def start(
        cls,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        timeout: float = START_TIMEOUT,
    ) -> Cedarbox:
        """Start `cedarbox serve --ephemeral` with this process's environment (so the CI's
        PIP_* settings and CEDARBOX_* tunables reach builds), minus the user's git config."""
        server_env = dict(os.environ if env is None else env)
        server_env["GIT_CONFIG_GLOBAL"] = os.devnull
        return cls(EphemeralServer(workdir, server_env, timeout), workdir)

    @property
    def url(self) -> str:
        return self.server.info.url

    @property
    def data_dir(self) -> Path:
        return self.server.info.data_dir

    @property
    def api_key(self) -> str:
        return self.server.info.api_key

    def git_url(self, app: str) -> str:
        """The app's git URL, with the API key as the password git sends."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://cedarbox:{self.api_key}@{parts.netloc}/{app}.git"

    def web_url(self, app: str) -> str:
        return f"http://{app}.localhost:{urlsplit(self.url).port}/"

    @property
    def platform(self) -> Platform:
        """The server's platform state, opened on first use (as the CLI opens it)."""
        if self._platform is None:
            from gitserver.platform import Platform
            from gitserver.settings import Settings

            self._platform = Platform.open(Settings(data_dir=self.data_dir, public_url=self.url))
        return self._platform

    def close(self) -> None:
        """Stop the server; it stops every dyno and removes its data directory."""
        if self._platform is not None:
            self._platform.close()
            self._platform = None
        self.server.stop()

    # Deploys ------------------------------------------------------------------------------

    def deploy(
        self,
        path_or_repo: str | os.PathLike[str],
        app: str | None = None,
        stack: str | None = None,
        config: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> DeployResult:
        """Push a directory (committed into a temporary repository) or a git checkout (its
        HEAD, as `main`) to `app` (a new app when None), with `config` set first."""
        name = self._prepare_app(app, stack, config)
        git_dir, sha = self._source(Path(path_or_repo), name)
        self._sources += 1
        output_path = self.workdir / f"push-{self._sources}-{name}.log"
        started_at = time.time()
        with output_path.open("wb") as out:
            proc = subprocess.Popen(
                [
                    "git",
                    f"--git-dir={git_dir}",
                    "-c",
                    "credential.helper=",
                    "push",
                    "--no-verify",
                    self.git_url(name),
                    f"+{sha}:refs/heads/main",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.git_env,
            )
        result = DeployResult(self, name, _Push(proc, output_path, sha, started_at))
        return result.wait() if wait else result

    def _prepare_app(
        self, app: str | None, stack: str | None, config: Mapping[str, str] | None
    ) -> str:
        from gitserver.errors import AppNotFound

        platform = self.platform
        if app is None:
            name = platform.create_app(None, stack).name
        else:
            try:
                existing = platform.get_app(app)
            except AppNotFound:
                name = platform.create_app(app, stack).name
            else:
                name = existing.name
                if stack is not None and existing.stack != stack:
                    platform.set_stack(name, stack)
        if config:
            platform.set_config(name, dict(config))
        return name

    def _source(self, path: Path, app: str) -> tuple[Path, str]:
        """The git directory to push from and the commit to push."""
        path = path.expanduser().resolve()
        if not path.is_dir():
            raise HarnessError(
                f"Cannot deploy {path}: not a directory.",
                hint="Pass the app's directory (or a git checkout of it).",
            )
        top = self._git("rev-parse", "--show-toplevel", cwd=path, check=False)
        if top.returncode == 0 and Path(top.stdout.strip()).resolve() == path:
            head = self._git("rev-parse", "--verify", "-q", "HEAD^{commit}", cwd=path, check=False)
            if head.returncode != 0:
                raise HarnessError(
                    f"Cannot deploy {path}: the checkout has no commits.",
                    hint="Commit the app first (a checkout's HEAD is what is pushed).",
                )
            checkout = self._git("rev-parse", "--absolute-git-dir", cwd=path).stdout.strip()
            return Path(checkout), head.stdout.strip()
        # A plain directory: committed as it is (its .gitignore applies) into a repository of
        # our own, so the directory itself is not touched.
        git_dir = self.workdir / "sources" / f"{self._sources + 1}-{app}.git"
        work = ["--git-dir", str(git_dir), "--work-tree", str(path)]
        self._git("init", "-q", "--bare", str(git_dir), cwd=self.workdir)
        self._git(*work, "-c", "core.bare=false", "add", "-A", cwd=path)
        self._git(*work, "commit", "-q", "--allow-empty", "-m", f"Deploy {path.name}", cwd=path)
        return git_dir, self._git("--git-dir", str(git_dir), "rev-parse", "HEAD").stdout.strip()

    def _git(
        self, *args: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd or self.workdir,
            env=self.git_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise HarnessError(
                f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}",
                hint="The directory must be readable and git must be on PATH.",
            )
        return result

    def _build_of(self, app: str, sha: str, since: float) -> Build | None:
        """The build this push started: the newest of this commit since the push began."""
        for build in self.platform.builds(app):
            if build.source_version == sha and build.started_at >= since - 1:
                return build
        return None

    # The deployed app ---------------------------------------------------------------------

    def request(
        self,
        app: str,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> Response:
        """`method path` to the app through the router (Host: `<app>.localhost:<port>`)."""
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request(
                method,
                path if path.startswith("/") else f"/{path}",
                body=body,
                headers={"Host": f"{app}.localhost:{port}", **dict(headers or {})},
            )
            resp = conn.getresponse()
            return Response(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()

    def logs(self, app: str) -> str:
        try:
            return self.platform.log_path(app).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def rollback(self, app: str, version: int | None = None) -> int:
        release = self.platform.rollback(app, version)
        self.wait_for_web(app, release.version)
        return release.version

    def wait_for_web(self, app: str, version: int, timeout: float | None = None) -> bool:
        """Until a web dyno of release `version` is up (False if none is by the timeout; an
        app scaled to web=0 or with no web type returns False at once)."""
        from gitserver.records import DynoState

        _, quantities = self.platform.formation(app)
        if not quantities.get("web"):
            return False
        limit = timeout if timeout is not None else self.platform.settings.boot_timeout + 10
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for dyno in self.platform.dynos(app):
                if (
                    dyno.type == "web"
                    and dyno.release_version == version
                    and dyno.state == DynoState.UP
                ):
                    return True
            time.sleep(0.1)
        return False


def git_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """git without the user's configuration: a HOME of its own, no global or system config."""
    env = {
        k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("GIT_")
    }
    env.update(
        {
            "HOME": str(home),
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "cedarbox test",
            "GIT_AUTHOR_EMAIL": "test@cedarbox.invalid",
            "GIT_COMMITTER_NAME": "cedarbox test",
            "GIT_COMMITTER_EMAIL": "test@cedarbox.invalid",
        }
    )
    return env
