"""A `pip install -r requirements.txt` that would change nothing: replayed, not run again.

On a code-only push pip finds every requirement satisfied and changes nothing, yet starting
it (in the sandbox) was ~0.5 s of a warm redeploy's ~1 s build. When a run changed nothing
(the environment's tree digest the same before and after: gitserver.pipeline.treedigest), its
output lines are kept in the build cache under a key of everything that decides such a
run's outcome and output (the cache entry RECORD, derived from `.heroku/python` as
the cache's digests are):

- requirements.txt itself: only plain requirements (names, extras, version specifiers,
  markers); a file with options (`-r`, `-e`, `--hash`, `-c`, ...), paths, URLs or `$VARS`
  is never replayed, since it reaches beyond what the key covers;
- pip's arguments and version, the stack, and pip's environment (`PIP_*`, the allowed config
  vars), where no setting asks pip to upgrade or reinstall;
- the environment `.heroku/python` as it is before the run (its tree digest: every file's
  name, size, mtime, mode, owner; the interpreter it links to).

The next build whose key is the same prints the kept lines and skips pip: its outcome
would be the same no-op. Any difference runs pip as before.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitserver.pipeline import treedigest

RECORD = "pip-noop.json"  # an entry of the build cache: {"key": ..., "lines": [...]}
INDENTED = "indent"  # a line printed under the step, as pip's stdout is
PLAIN = "line"  # a line printed as is (the 2015 stack's pip stderr)
_PLAIN_REQUIREMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-\[\], <>=!~*;'\"]*")
_NOT_A_NOOP = ("upgrade", "force-reinstall", "ignore-installed", "no-deps", "target", "prefix")

Line = tuple[str, str]  # (INDENTED or PLAIN, text)


def plain_requirements(text: str) -> bool:
    """Whether every line of a requirements file is a plain requirement (or blank, a comment)."""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-") or not _PLAIN_REQUIREMENT.fullmatch(line):
            return False
    return True


@dataclass(frozen=True)
class PipRun:
    """What one `pip install` run is given, besides the environment it installs into."""

    stack: str
    requirements: str
    args: tuple[str, ...]
    pip_version: str
    pip_env: Mapping[str, str]

    def replayable(self) -> bool:
        """Whether a run with these inputs may ever be replayed (see the module's doc)."""
        settings = self._settings()
        asked = " ".join([*self.args, *settings, *settings.values()]).lower().replace("_", "-")
        return (
            plain_requirements(self.requirements)
            and "-U" not in self.args  # pip's short --upgrade
            and not any(word in asked for word in _NOT_A_NOOP)
        )

    def key(self, env_dir: Path) -> str | None:
        """The key of this run on `env_dir` as it is now; None if it is unreadable."""
        try:
            environment = treedigest.tree_digest(env_dir)
        except OSError:
            return None
        inputs = [
            self.stack,
            self.requirements,
            list(self.args),
            self.pip_version,
            self._settings(),
            environment,
        ]
        return hashlib.sha256(json.dumps(inputs).encode("utf-8", "surrogateescape")).hexdigest()

    def _settings(self) -> dict[str, str]:
        return {k: v for k, v in sorted(self.pip_env.items()) if k.startswith("PIP_")}


def kept_lines(kept: str | None, key: str) -> list[Line] | None:
    """The lines of the kept no-op run (a `record`) if it has this key; None otherwise."""
    try:
        loaded = json.loads(kept) if kept is not None else None
    except ValueError:
        return None
    if not isinstance(loaded, dict) or loaded.get("key") != key:
        return None
    lines = loaded.get("lines")
    if not isinstance(lines, list):
        return None
    found: list[Line] = []
    for entry in lines:
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0] in (INDENTED, PLAIN)):
            return None
        found.append((entry[0], str(entry[1])))
    return found


def record(key: str, lines: Sequence[Line]) -> str:
    """The text of RECORD keeping a no-op run's lines under its key."""
    return json.dumps({"key": key, "lines": [list(line) for line in lines]})
