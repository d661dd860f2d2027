"""A pure Procfile parser: `name: command` lines, with errors that say which line and why."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitserver.build.errors import BuildError

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
MAX_PROCESS_TYPES = 100


@dataclass(frozen=True)
class ProcfileProblem:
    line_number: int
    line: str
    reason: str


def parse_procfile(text: str) -> dict[str, str]:
    """Process types in file order. Blank lines and `#` comments are skipped.

    Raises BuildError(INVALID_PROCFILE) naming the first malformed line.
    """
    types: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            problem = ProcfileProblem(number, raw, "expected `<process type>: <command>`")
            raise _invalid(problem)
        name, command = match[1], match[2].strip()
        if name in types:
            raise _invalid(ProcfileProblem(number, raw, f"process type {name!r} is declared twice"))
        types[name] = command
        if len(types) > MAX_PROCESS_TYPES:
            raise _invalid(
                ProcfileProblem(number, raw, f"more than {MAX_PROCESS_TYPES} process types")
            )
    return types


def _invalid(problem: ProcfileProblem) -> BuildError:
    shown = problem.line if len(problem.line) <= 120 else problem.line[:117] + "..."
    return BuildError(
        "INVALID_PROCFILE",
        "Invalid Procfile.",
        [
            f"Line {problem.line_number} of the Procfile could not be parsed: {problem.reason}.",
            f"  {shown}",
            "Each line must name a process type (letters, digits, '_' or '-'), a colon, and the "
            "command to run, for example:",
            "  web: gunicorn app:app",
        ],
    )
