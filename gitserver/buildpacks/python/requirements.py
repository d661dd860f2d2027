"""What a requirements file lists: project names, for the 2015 stale-package and listed checks."""

from __future__ import annotations

import re


def requirement_names(text: str) -> list[str]:
    """The project names a requirements file lists (normalised; options and URLs handled)."""
    names = []
    for line in _logical_lines(text):
        egg = re.search(r"#egg=([A-Za-z0-9._-]+)", line)
        if line.startswith(("-e ", "--editable ", "-e\t", "--editable=")) or "://" in line:
            if egg:
                names.append(normalize(egg.group(1)))
            continue
        if line.startswith("-"):
            continue  # -r, -c, --index-url, … : not a requirement
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if match:
            names.append(normalize(match.group(1)))
    return names


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _logical_lines(text: str) -> list[str]:
    """Requirement-file lines: continuations joined, comments and blanks dropped."""
    joined = re.sub(r"\\\r?\n", "", text)
    lines = []
    for raw in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            lines.append(line)
    return lines
