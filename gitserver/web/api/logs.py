"""`POST /apps/{app}/log-sessions` and the one-time `logplex_url` it returns.

The URL streams the app's log: the last `lines` lines, then (with `tail`) new ones until the
client goes away. Asked with `Accept: text/event-stream` (the heroku CLI) each line is a
Server-Sent Event; otherwise plain lines (curl, heroku3).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

from gitserver.applog import LogFilter, follow, last_lines
from gitserver.views import iso_time
from gitserver.web.api.context import LOG_SESSION_TTL, ApiContext, LogSession
from gitserver.web.api.dispatch import Route
from gitserver.web.api.params import FieldType, fields
from gitserver.web.api.protocol import (
    ApiRequest,
    JsonResponse,
    StreamResponse,
    invalid_params,
    not_found,
)

DEFAULT_LINES = 100
MAX_LINES = 1500  # Heroku's limit
# While tailing with nothing to send, how often the client is checked to still be there.
IDLE_CHECK = 1.0
_SESSION: dict[str, FieldType] = {
    "dyno": (str, None),
    "lines": (int, None),
    "source": (str, None),
    "tail": (bool, None),
    "type": (str, None),
}


def create_session(ctx: ApiContext, request: ApiRequest) -> JsonResponse:
    app = ctx.app(request.params["app"])
    body = fields(request.body, _SESSION)
    lines = body.get("lines")
    lines = DEFAULT_LINES if lines is None else lines
    if not isinstance(lines, int) or not 0 <= lines <= MAX_LINES:
        raise invalid_params(f"lines must be between 0 and {MAX_LINES}.")
    source = str(body.get("source") or "")
    if source not in ("", "app", "heroku"):
        raise invalid_params("source must be `app` or `heroku`.")
    session = LogSession(
        app=app.name,
        lines=lines,
        tail=bool(body.get("tail")),
        dyno=str(body.get("dyno") or body.get("type") or ""),
        source=source,
        expires=time.monotonic() + LOG_SESSION_TTL,
    )
    token = ctx.tokens.new_log_session(session)
    now = iso_time(time.time())
    return JsonResponse(
        201,
        {
            "id": token[:16],
            "logplex_url": f"{ctx.base_url}/streams/logs/{token}",
            "created_at": now,
            "updated_at": now,
        },
    )


def stream(ctx: ApiContext, request: ApiRequest) -> StreamResponse:
    session = ctx.tokens.take_log_session(request.params["token"])
    if session is None:
        raise not_found("log_session", "This log session has expired or was already used.")
    path = ctx.platform.log_path(session.app)
    sse = "text/event-stream" in request.header("Accept")
    content_type = "text/event-stream" if sse else "text/plain; charset=utf-8"
    return StreamResponse(content_type, _encoded(_lines(path, session), sse))


def _encoded(lines: Iterator[str | None], sse: bool) -> Iterator[bytes]:
    """Each line as an event (a comment when idle, which also finds a gone client) or as a
    plain line (an empty chunk when idle: the edge checks the client then)."""
    try:
        for line in lines:
            if sse:
                yield b": keepalive\n\n" if line is None else f"data: {line}\n\n".encode()
            else:
                yield b"" if line is None else f"{line}\n".encode()
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()


def _lines(path: Path, session: LogSession) -> Iterator[str | None]:
    """The session's lines; with `tail`, None whenever the log was quiet for IDLE_CHECK."""
    log_filter = LogFilter(dyno=session.dyno, source=session.source)
    # Where tailing starts is fixed before the last lines are read: nothing falls between.
    stop = threading.Event()
    new_lines = follow(path, log_filter, stop=stop) if session.tail else iter(())
    yield from last_lines(path, session.lines, log_filter) if session.lines else []
    if not session.tail:
        return
    queue: Queue[str] = Queue()

    def pump() -> None:
        for line in new_lines:
            queue.put(line)

    threading.Thread(target=pump, name=f"log-tail-{session.app}", daemon=True).start()
    try:
        while True:
            try:
                yield queue.get(timeout=IDLE_CHECK)
            except Empty:
                yield None
    finally:
        stop.set()


ROUTES = (
    Route("POST", "/apps/{app}/log-sessions", create_session),
    Route("GET", "/streams/logs/{token}", stream, public=True),
)
