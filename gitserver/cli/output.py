"""How commands print: JSON, tables (rich on a terminal, tab-separated when piped), notes."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str) -> None:
    """A rich table on a terminal; tab-separated plain text when piped."""
    if not rows:
        print(empty)
        return
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers)
        for row in rows:
            table.add_row(*(str(c) for c in row))
        Console().print(table)
    else:
        for row in rows:
            print("\t".join(str(c) for c in row))


def note(text: str) -> None:
    """Remarks go to stderr, so that piped listings stay data."""
    print(f" !    {text}", file=sys.stderr)


def print_fields(fields: Mapping[str, object], width: int) -> None:
    """`Key:   value` lines under a `=== name` heading: keys titled, padded to `width`."""
    for key, value in fields.items():
        print(f"{key.replace('_', ' ').title() + ':':<{width}} {value}")
