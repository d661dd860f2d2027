"""Request framing: the checks that keep cedarbox and any proxy in front of it agreeing on
where one request ends and the next begins (RFC 9112 §6.3, §5.2), and request ids (pure).

A request whose body length two parsers could read differently is refused with a 400 and the
connection is closed: Content-Length together with Transfer-Encoding, a Transfer-Encoding
other than exactly `chunked`, Content-Lengths that differ or are not plain digits, and header
lines folded onto the next line (obs-fold) or without a colon.
"""

from __future__ import annotations

import re
from email.errors import MessageDefect
from email.message import Message

from gitserver.errors import UsageError

# Heroku's router keeps a client's X-Request-Id when it is 20-200 characters of these, and
# otherwise makes a new one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9+/=-]{20,200}")
_DIGITS = re.compile(r"[0-9]+")


class BadFraming(UsageError):
    """A request whose length or header lines are ambiguous: 400, and the connection closes."""

    code = "BAD_REQUEST_FRAMING"


def check_framing(headers: Message) -> None:
    """Raise BadFraming if the request's framing is ambiguous; return if it is not."""
    for defect in headers.defects:
        raise _bad(_defect_text(defect))
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise _bad(f"The header {name!r} is folded onto a second line (obs-fold).")
    lengths = headers.get_all("Content-Length") or []
    encodings = headers.get_all("Transfer-Encoding") or []
    if lengths and encodings:
        raise _bad("The request has both Content-Length and Transfer-Encoding.")
    if encodings:
        codings = [c.strip().lower() for value in encodings for c in value.split(",")]
        if codings != ["chunked"]:
            raise _bad(
                f"Unsupported Transfer-Encoding {', '.join(encodings)!r}: only 'chunked' "
                "is accepted."
            )
    values = {v.strip() for value in lengths for v in value.split(",")}
    if len(values) > 1:
        raise _bad(f"The request has differing Content-Lengths: {', '.join(sorted(values))}.")
    for value in values:
        if not _DIGITS.fullmatch(value):
            raise _bad(f"Invalid Content-Length {value[:32]!r}: it must be a number of bytes.")


def valid_request_id(value: str | None) -> str | None:
    """The client's X-Request-Id if it matches Heroku's pattern, else None (make a new one)."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value
    return None


def _defect_text(defect: MessageDefect) -> str:
    name = type(defect).__name__
    if name == "FirstHeaderLineIsContinuationDefect":
        return "The first header line starts with whitespace (obs-fold)."
    return "A header line is malformed (every header line needs 'Name: value')."


def _bad(message: str) -> BadFraming:
    return BadFraming(
        message,
        hint="Send one Content-Length or 'Transfer-Encoding: chunked', one header per line.",
    )
