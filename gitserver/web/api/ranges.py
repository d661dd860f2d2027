"""The `Range` header of list requests, in the loose forms Heroku's clients send (pure).

`version ..; max=15, order=desc` (heroku releases), `id ..; order=desc,max=10;` (heroku3),
`name ..`, `]v3..v9`: a sort field, optional first and last values, `max` and `order`.
Lists are ascending by the field unless `order=desc`; without a header, by the resource's
default field, ascending.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gitserver.web.api.protocol import ApiError

T = TypeVar("T")

DEFAULT_MAX = 1000
_HEAD = re.compile(r"^\s*(?P<field>[a-z_]+)\s*(?P<bounds>[^;]*)(;(?P<options>.*))?$")


@dataclass(frozen=True)
class ListRange:
    field: str
    first: str = ""
    last: str = ""
    max: int = DEFAULT_MAX
    descending: bool = False


def parse_range(header: str, default_field: str) -> ListRange:
    """The range a header asks for; an empty header is the default field, ascending."""
    if not header.strip():
        return ListRange(default_field)
    match = _HEAD.match(header)
    if not match:
        raise _bad(header, "it does not start with a field name")
    first, dots, last = match["bounds"].strip().lstrip("[]").partition("..")
    if match["bounds"].strip() and not dots:
        raise _bad(header, "the bounds need `..`")
    limit, descending = DEFAULT_MAX, False
    for option in re.split(r"[,;]", match["options"] or ""):
        name, eq, value = (p.strip() for p in option.partition("="))
        if not name:
            continue
        if name == "max" and eq and value.isdigit() and int(value) > 0:
            limit = min(int(value), DEFAULT_MAX)
        elif name == "order" and value in ("asc", "desc"):
            descending = value == "desc"
        else:
            raise _bad(header, f"unknown option {option.strip()!r}")
    return ListRange(match["field"], first.strip(), last.strip().rstrip("[]"), limit, descending)


def apply_range(
    items: Sequence[T], wanted: ListRange, keys: dict[str, Callable[[T], object]]
) -> list[T]:
    """`items` sorted by the range's field, within its bounds, at most `max` of them."""
    key = keys.get(wanted.field)
    if key is None:
        raise ApiError(
            400,
            "bad_request",
            f"Range by {wanted.field!r} is not supported; use one of: {', '.join(keys)}.",
        )
    ordered = sorted(items, key=lambda item: _comparable(key(item)), reverse=wanted.descending)
    lo, hi = wanted.first, wanted.last
    if wanted.descending:
        lo, hi = hi, lo
    kept = [
        item
        for item in ordered
        if (not lo or _comparable(key(item)) >= _comparable(_typed(lo, key(item))))
        and (not hi or _comparable(key(item)) <= _comparable(_typed(hi, key(item))))
    ]
    return kept[: wanted.max]


def _typed(bound: str, like: object) -> object:
    if isinstance(like, int):
        try:
            return int(bound.lstrip("v"))
        except ValueError:
            return like
    return bound


def _comparable(value: object) -> tuple[int, int, str]:
    if isinstance(value, int):
        return (0, value, "")
    return (1, 0, str(value))


def _bad(header: str, why: str) -> ApiError:
    return ApiError(400, "bad_request", f"Invalid Range header {header!r}: {why}.")
