"""Sample apps the end-to-end tests push."""

from __future__ import annotations

MINIMAL = {
    "requirements.txt": "",
    ".python-version": "3.12\n",
    "Procfile": "web: python -m http.server $PORT\n",
    "app.py": "print('hello')\n",
}

# For pushes built with the no-op buildpack (tests/support/noop_buildpack.py): no Procfile, so a
# release starts no dyno and the push ends once the release is recorded.
NOOP = {"app.py": "print('hello')\n"}

NOT_PYTHON = {"README.md": "# not a Python app\n", "index.html": "<h1>hi</h1>\n"}


def slow_prebuild(seconds: float) -> dict[str, str]:
    """A minimal app whose bin/pre_compile prints, sleeps, and prints again."""
    script = f"#!/bin/sh\necho 'pre_compile: starting'\nsleep {seconds}\necho 'pre_compile: done'\n"
    return {**MINIMAL, "bin/pre_compile": script}
