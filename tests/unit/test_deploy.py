"""The hook's way to its first `remote:` line is light."""

from __future__ import annotations

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
