"""The pre-receive hook: apply the ref rules, then gate the push on a build of the deploy branch.

git runs this (through hooks/pre-receive) inside receive-pack, with the pushed objects in
quarantine. Everything printed reaches the pusher live as `remote:` lines. Exit 0 lets git
update the refs; exit 1 rejects the whole push and git drops the quarantined objects.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

from gitserver.errors import BuildFailed, CedarboxError
from gitserver.output import Output
from gitserver.receive.refs import parse_ref_updates, plan_push
from gitserver.settings import Settings

NON_DEPLOY_MESSAGE = "Pushed to non-deploy branch, skipping build."


def run(git_dir: Path, stdin: str, env: dict[str, str], out: Output) -> int:
    """Handle one push; returns the hook's exit code."""
    try:
        plan = plan_push(parse_ref_updates(stdin), shallow=bool(env.get("GIT_SHALLOW_FILE")))
        if plan.skipped_branches:
            out.line(NON_DEPLOY_MESSAGE)
        if plan.build is None:
            return 0
        # Imported here: pushes that build nothing (branches, tags) skip ~45 ms of imports.
        from gitserver.deploy.deploy import Deploy
        from gitserver.platform import Platform

        config = read_cedarbox_config(git_dir)
        app_name = config["cedarbox.app"]
        data_dir = Path(config["cedarbox.datadir"])
        platform = Platform.open(_settings(env, data_dir))
        try:
            Deploy.on(platform, out).push(
                app_name,
                plan.build.new,
                branch=plan.build.branch,
                git_dir=git_dir,
                push_options=_push_options(env),
            )
        finally:
            platform.close()
        return 0
    except BuildFailed as exc:
        # The build already explained itself; only the stable code remains.
        out.bang(
            f"Error code: {exc.code} ({exc.detail})" if exc.detail else f"Error code: {exc.code}"
        )
        return 1
    except CedarboxError as exc:
        out.line()
        out.bang("\n".join(exc.lines()))
        out.line()
        out.bang("Push failed")
        out.bang(f"Error code: {exc.code}")
        return 1
    except Exception:  # noqa: BLE001 - the edge: any bug must still reject the push cleanly
        out.bang("Push failed: cedarbox hit an internal error (this is a bug in cedarbox).")
        out.bang("Error code: INTERNAL_ERROR")
        for line in traceback.format_exc().splitlines():
            out.bang(line)
        return 1


def read_cedarbox_config(git_dir: Path) -> dict[str, str]:
    """The `cedarbox.*` keys of the repository's own config file (cedarbox wrote them there).

    Read with git, which parses its own format (quotes, escapes, comments, continued lines),
    so any data dir path comes back exactly: `-z` ends each entry with a NUL, which no value
    can hold, and puts a newline between key and value; keys come back lowercased. One
    `git config` costs ~3 ms, where dulwich's parser cost the first line ~30 ms of imports.
    (hooks/pre-receive can't pass these on from its own `git config`: sh drops NULs.)
    """
    listing = subprocess.run(
        ["git", "config", "--file", str(git_dir / "config"), "-z", "--get-regexp", r"^cedarbox\."],
        capture_output=True,
        check=True,
    )
    entries = (entry.partition(b"\n") for entry in listing.stdout.split(b"\0") if entry)
    return {key.decode(): os.fsdecode(value) for key, _, value in entries}


def _settings(env: dict[str, str], data_dir: Path) -> Settings:
    """The server's settings; a push by path learns the app URL from a running server."""
    settings = Settings.from_env(env, data_dir=data_dir)
    if not settings.public_url:
        from gitserver.datadir import DataDir
        from gitserver.serverinfo import running_server

        server = running_server(DataDir(data_dir).server_record)
        if server is not None:
            settings = settings.with_(public_url=server.url)
    return settings


def _push_options(env: dict[str, str]) -> list[str]:
    count = int(env.get("GIT_PUSH_OPTION_COUNT") or 0)
    return [env.get(f"GIT_PUSH_OPTION_{i}", "") for i in range(count)]


def main() -> int:
    git_dir = Path(os.environ.get("GIT_DIR", ".")).resolve()
    out = Output(sys.stdout.buffer, keep_transcript=False)
    return run(git_dir, sys.stdin.read(), dict(os.environ), out)


if __name__ == "__main__":
    sys.exit(main())
