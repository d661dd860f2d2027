"""Settings, layered in one place: command-line flags > CEDARBOX_* environment > defaults.

The server passes its effective settings to git and the pre-receive hook through the same
CEDARBOX_* variables, so a hook run by the server and a hook run by a push to the bare
repository by path read their settings the same way. Secrets (SECRET_FIELDS: the API key) are
never passed on: no child needs them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from gitserver.errors import UsageError

ENV_PREFIX = "CEDARBOX_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_STACK = "heroku-24"
STACKS = ("heroku-24", "cedar-14")
# Settings no child process gets (Settings.to_env), and their variables, which the server
# removes from its own environment once read (gitserver/serve.py).
SECRET_FIELDS = ("api_key",)
SECRET_VARIABLES = tuple(ENV_PREFIX + name.upper() for name in SECRET_FIELDS)


def default_data_dir() -> Path:
    """The embedded default: the platform's per-user data directory."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("cedarbox", appauthor=False))


def default_tool_wheels() -> Path:
    return Path(__file__).resolve().parent.parent / ".wheels" / "tools"


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a cedarbox server and its builds."""

    data_dir: Path = field(default_factory=default_data_dir)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str = ""
    auto_create: bool = True
    default_stack: str = DEFAULT_STACK
    # The URL users push to, as the server prints it (set by `serve` once it is bound).
    public_url: str = ""
    build_timeout: float = 15 * 60
    # Builds run this much nicer than the server (0-19, clamped), so that when the CPU is what
    # runs short, git requests and the running apps come first.
    build_niceness: int = 10
    slug_max_bytes: int = 500 * 1024 * 1024
    # The largest request body a push (or fetch) may send over HTTP.
    push_max_bytes: int = 1024 * 1024 * 1024
    # Slugs of the newest N releases are kept (never fewer than the current and previous).
    slug_retention: int = 10
    # The newest N builds of an app are kept, with their reports and transcripts (and the
    # last successful one); older ones are forgotten after each build.
    build_retention: int = 50
    # Old stacks only: use the nearest major the host has (python-3.4.2 on a 3.6+ host).
    nearest_major: bool = False
    # Wheels of the stacks' pinned pip and setuptools (`make install` fetches them).
    tool_wheels: Path = field(default_factory=default_tool_wheels)
    # Running apps (gitserver/runner): a web dyno must accept on $PORT within boot_timeout.
    boot_timeout: float = 60
    # SIGTERM, then SIGKILL after this many seconds (Heroku waits 30).
    stop_grace: float = 10
    # A crashed dyno restarts at once, then after crash_backoff seconds, doubling each
    # consecutive crash up to crash_backoff_max (Heroku: up to 20 minutes).
    crash_backoff: float = 10
    crash_backoff_max: float = 20 * 60
    # How often the supervisor compares desired state with running processes.
    reconcile_interval: float = 0.5
    # The release phase's time limit (Heroku: one hour).
    release_timeout: float = 60 * 60
    # An app's log file is trimmed to half when it grows past this.
    log_max_bytes: int = 10 * 1024 * 1024
    # The router answers H12 when a dyno has sent no response after this many seconds.
    router_timeout: float = 30
    # heroku-postgresql: an external server's admin URL (a role with CREATEROLE and CREATEDB);
    # without it, a cluster cedarbox manages in DATA_DIR/postgres when initdb/pg_ctl exist.
    postgres_admin_url: str = ""
    # "off" disables the managed cluster (add-ons then fall back to SQLite); "auto" uses it.
    postgres: str = "auto"
    # The buildpacks a build detects with, in order, as `module:Class` names.
    buildpacks: str = "gitserver.buildpacks.python.buildpack:PythonBuildpack"
    # The front end (gitserver/web/limits.py): a request's line and headers must arrive
    # within header_timeout seconds (then each read of its body may wait that long); at most
    # max_connections are open at once, more are answered 503 and closed.
    header_timeout: float = 30
    max_connections: int = 256
    # Failed authentications (a wrong key) per client address within auth_failure_window
    # seconds; past it, git and API requests from that address get a 429 until one expires.
    auth_failure_limit: int = 20
    auth_failure_window: float = 60
    # What a build's commands print is streamed and stored up to this many bytes; the rest is
    # dropped (one line says so) and the build goes on.
    build_output_max_bytes: int = 10 * 1024 * 1024
    # A build cache larger than this is not saved (the next build starts without it).
    cache_max_bytes: int = 1024 * 1024 * 1024
    # A connection must send its first byte, and a TLS client finish its handshake, within this.
    tls_handshake_timeout: float = 10
    # App code (build steps, release phase, dynos, one-offs) runs in a bubblewrap sandbox
    # (gitserver/sandbox.py); "off" runs it unconfined, which every build then says.
    sandbox: str = "auto"
    # More host paths app code may read (colon-separated), besides /usr, /etc, the
    # interpreters, the tool wheels and the wheelhouses the server's PIP_* settings name.
    sandbox_readonly: str = ""
    # Processes (and threads) one sandboxed build step or dyno may have at once.
    build_max_processes: int = 512
    dyno_max_processes: int = 256
    # Memory (MB) one sandboxed build step may use; past it the kernel ends the step and the
    # build fails saying so. A dyno's quota (Heroku's standard-1X: 512 MB): over it the app's
    # log gets R14 lines, and at twice it the dyno is killed (R15). Both need cgroups
    # (gitserver/cgroups.py); without them memory is not limited.
    build_max_memory_mb: int = 2048
    dyno_memory_quota_mb: int = 512
    # "off": no control groups even where the host has them (processes are then limited per
    # app uid by prlimit, memory and CPU not at all); "auto" uses them where it can.
    cgroups: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then CEDARBOX_* variables, then the overrides (flags) that are not None."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("data_dir", "tool_wheels"):
            if name in values:
                values[name] = Path(str(values[name])).expanduser().absolute()
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.default_stack not in STACKS:
            raise UsageError(
                f"Unknown stack {settings.default_stack!r}.",
                hint=f"Choose one of: {', '.join(STACKS)}.",
            )
        return settings

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The CEDARBOX_* variables that reproduce these settings in a child process.

        Secrets stay out (SECRET_FIELDS): children (git, the hook, builds) never need them.
        """
        env: dict[str, str] = {}
        for f in fields(self):
            if f.name in SECRET_FIELDS:
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool):
                value = "1" if value else "0"
            env[ENV_PREFIX + f.name.upper()] = str(value)
        return env


def _convert(name: str, type_name: object, raw: str) -> object:
    kind = str(type_name)
    try:
        if kind == "bool":
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise UsageError(
            f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}.",
            hint=f"Set {ENV_PREFIX}{name.upper()} to a number or unset it.",
        ) from None
    return raw
