"""The hook's way to its first `remote:` line is light."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

# What the hook must not import before its first line: each costs the pusher 20-35 ms of silence.
HEAVY = (
    "dulwich",
    "gitserver.pipeline.build",
    "gitserver.deploy.build",
    "gitserver.deploy.release",
    "gitserver.deploy.verify",
    "http.client",
)


def test_the_way_to_the_first_line_imports_no_heavy_module() -> None:
    # A fresh interpreter: this one has imported everything already.
    code = (
        "import sys, gitserver.receive.hook, gitserver.deploy.deploy, gitserver.platform\n"
        "print('\\n'.join(sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert [m for m in loaded if m.startswith(HEAVY)] == []


def test_the_heavy_modules_named_above_exist() -> None:
    # A renamed module would make the test above pass whatever the hook imports.
    ours = [name for name in HEAVY if name.startswith("gitserver.")]
    assert [name for name in ours if importlib.util.find_spec(name) is None] == []
