"""`cedarbox env`: the `export` lines that point the heroku CLI (and git) at this server.

    eval "$(cedarbox env)"

The CLI talks to HEROKU_HOST only if the host contains `localhost` or `127.0.0.1` (anything
else: a warning, then heroku.com). It adds `https://HOST:PORT/APP.git` remotes, which the
server's port answers over TLS: git is told to trust the data directory's CA for that URL
(`http.<https-url>.sslCAInfo`) and Node (the CLI) through NODE_EXTRA_CA_CERTS. git ignores a
per-URL CA when GIT_SSL_CAINFO is set; then (or with no CA) git pushes those remotes over http
instead (`url.<http>.pushInsteadOf`). All of it through GIT_CONFIG_* variables of this shell,
never the user's ~/.gitconfig.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from gitserver.cli.registry import Topic, arg
from gitserver.datadir import DataDir
from gitserver.errors import UsageError
from gitserver.platform import Platform
from gitserver.settings import Settings
from gitserver.tls import LocalCA

topic = Topic()

# The token the CLI sends when the server has no API key (any token is accepted then).
ANY_TOKEN = "cedarbox"
LOCAL_HOSTS = ("localhost", "127.0.0.1")
# A git credential helper that answers with the HEROKU_API_KEY of the shell git runs in.
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get && printf "username=heroku\\npassword=%s\\n" "$HEROKU_API_KEY"; }; f'
)


def env_lines(
    url: str, api_key: str, environ: Mapping[str, str], ca: Path | None = None
) -> list[str]:
    """The `export` lines for a server at `url` (http://HOST:PORT) whose CA is `ca`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r} is not a server URL.", hint="Use http://127.0.0.1:PORT.")
    if not any(host in parts.netloc for host in LOCAL_HOSTS):
        raise UsageError(
            f"The heroku CLI ignores HEROKU_HOST={url} (and silently uses heroku.com): it "
            "accepts only hosts containing `localhost` or `127.0.0.1`.",
            hint="Point it at http://127.0.0.1:PORT (an SSH tunnel reaches a remote server).",
        )
    base = f"{parts.scheme}://{parts.netloc}"
    https = f"https://{parts.netloc}"
    lines: list[str] = []
    values = {
        "HEROKU_HOST": base,
        "HEROKU_API_KEY": api_key or ANY_TOKEN,
        "HEROKU_PARTICLEBOARD_URL": base,
        "DISABLE_TELEMETRY": "true",
        "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
        "HEROKU_DISABLE_AUTOUPDATE": "1",
    }
    if ca is not None:
        values["NODE_EXTRA_CA_CERTS"] = str(ca)
    if ca is not None and not environ.get("GIT_SSL_CAINFO"):
        # The CLI's https remotes over TLS, trusting the CA for this server's URL only.
        git_config = [(f"http.{https}/.sslCAInfo", str(ca))]
        push_base = https
    else:
        if ca is not None:
            lines.append(
                "# GIT_SSL_CAINFO is set, so git would ignore a CA for this URL alone: the "
                "CLI's https remotes push over http instead."
            )
        # git config url.http://H:P/.pushInsteadOf https://H:P/, for this shell only.
        git_config = [(f"url.http://{parts.netloc}/.pushInsteadOf", f"{https}/")]
        push_base = f"http://{parts.netloc}"
    if api_key:
        # Sends the key to the URL pushes go to (user `heroku`, as the CLI's own helper does).
        git_config.append((f"credential.{push_base}.helper", _CREDENTIAL_HELPER))
    try:
        count = int(environ.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        count = 0
    for i, (key, value) in enumerate(git_config, start=count):
        values[f"GIT_CONFIG_KEY_{i}"] = key
        values[f"GIT_CONFIG_VALUE_{i}"] = value
    values["GIT_CONFIG_COUNT"] = str(count + len(git_config))
    return lines + [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


@topic.command(
    "env",
    help='export lines for the heroku CLI: eval "$(cedarbox env)"',
    args=(
        arg("--url", default=None, help="the server (default: the one running, else HOST:PORT)"),
        arg(
            "--api-key-file",
            default=None,
            metavar="PATH",
            help="the server's API key, from this file (or CEDARBOX_API_KEY)",
        ),
    ),
)
def _env(args: argparse.Namespace, settings: Settings) -> int:
    url = args.url
    if url is None:
        running = Platform.open(settings).server()
        url = running.url if running else f"http://{settings.host}:{settings.port}"
    ca = LocalCA.open(DataDir(settings.data_dir).tls).cert_path
    for line in env_lines(url, settings.api_key, os.environ, ca):
        print(line)
    return 0
