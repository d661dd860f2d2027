"""A pure Procfile parser: `name: command` lines, with errors that say which lines and why."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitserver.output import printable
from gitserver.pipeline.errors import BuildError

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
MAX_PROCESS_TYPES = 100
# A Procfile with thousands of bad lines gets a readable error: the first few, then a count.
MAX_SHOWN_PROBLEMS = 5
_EXAMPLE = [
    "Each line must name a process type (letters, digits, '_' or '-'), a colon,",
    "and the command to run, for example:",
    "  web: gunicorn app:app",
]


@dataclass(frozen=True)
class ProcfileProblem:
    line_number: int
    line: str
    reason: str


def parse_procfile(text: str) -> dict[str, str]:
    """Process types in file order. Blank lines and `#` comments are skipped.

    Raises BuildError(INVALID_PROCFILE) naming the first malformed lines (and how many there
    are), or when the file declares more than MAX_PROCESS_TYPES types.
    """
    types: dict[str, str] = {}
    problems: list[ProcfileProblem] = []
    bad_lines = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            problem = ProcfileProblem(number, raw, "expected `<process type>: <command>`")
        elif match[1] in types:
            problem = ProcfileProblem(number, raw, f"process type {match[1]!r} is declared twice")
        else:
            types[match[1]] = match[2].strip()
            continue
        bad_lines += 1
        if len(problems) < MAX_SHOWN_PROBLEMS:
            problems.append(problem)
    if problems:
        raise _invalid(problems, bad_lines)
    if len(types) > MAX_PROCESS_TYPES:
        raise _too_many(len(types))
    return types


def _shown(line: str) -> str:
    return f"  {printable(line, 120)}"


def _invalid(problems: list[ProcfileProblem], count: int) -> BuildError:
    if count == 1:
        (problem,) = problems
        body = [
            f"Line {problem.line_number} of the Procfile could not be parsed: {problem.reason}.",
            _shown(problem.line),
        ]
    else:
        which = ":" if count == len(problems) else f"; the first {len(problems)}:"
        body = [f"{count} lines of the Procfile could not be parsed{which}"]
        for problem in problems:
            body += [f"Line {problem.line_number}: {problem.reason}.", _shown(problem.line)]
        if count > len(problems):
            body.append(f"... and {count - len(problems)} more.")
    return BuildError("INVALID_PROCFILE", "Invalid Procfile.", [*body, "", *_EXAMPLE])


def _too_many(count: int) -> BuildError:
    return BuildError(
        "INVALID_PROCFILE",
        "Invalid Procfile.",
        [
            f"The Procfile declares {count} process types, but cedarbox accepts at most"
            f" {MAX_PROCESS_TYPES}.",
            "A process type is a kind of dyno your app runs (web, worker, ...), so apps",
            "need only a handful. Keep the types your app runs, and start one-off commands",
            "with `cedarbox run COMMAND` instead of declaring them.",
        ],
    )
