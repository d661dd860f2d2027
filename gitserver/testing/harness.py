"""The `cedarbox` fixture's object: an ephemeral server and deploys to it.

`Cedarbox.start` runs `cedarbox serve --ephemeral` as a child process and reads its JSON line;
`Cedarbox.deploy` pushes a directory or a git checkout with the real git over HTTP, as a user
would, and returns a `DeployResult` built from what the user sees (the `remote:` lines) and
what the platform recorded (the build report, the release). git runs with a temporary HOME
and no global or system configuration, so nothing of the user's git setup is read or written.
The platform's state (the build records, the releases) is opened on first use.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gitserver.testing.results import DeployResult, PushProcess, Response
from gitserver.testing.server import START_TIMEOUT, EphemeralServer, HarnessError

if TYPE_CHECKING:
    from gitserver.platform import Platform
    from gitserver.records import Build


class Cedarbox:
    """An ephemeral cedarbox server and deploys to it (the `cedarbox` pytest fixture)."""

    def __init__(self, server: EphemeralServer, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self._platform: Platform | None = None
        self._pushes = 0
        self.deploys: list[DeployResult] = []  # in order: a failed test's report shows its own
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

            # The job's CEDARBOX_* settings, as the server read them (a default stack, say).
            settings = Settings.from_env(data_dir=self.data_dir, public_url=self.url)
            self._platform = Platform.open(settings)
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
        self._pushes += 1
        git_dir, sha = self._source(Path(path_or_repo), f"{self._pushes}-{name}")
        output_path = self.workdir / f"push-{self._pushes}-{name}.log"
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
        result = DeployResult(self, name, PushProcess(proc, output_path, sha, started_at))
        self.deploys.append(result)
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

    def _source(self, path: Path, label: str) -> tuple[Path, str]:
        """The git directory to push from and the commit to push (`label` names a temporary
        repository, if one is made)."""
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
        git_dir = self.workdir / "sources" / f"{label}.git"
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

    def build_of(self, app: str, sha: str, since: float) -> Build | None:
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
