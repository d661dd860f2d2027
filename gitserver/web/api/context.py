"""What a Platform API handler works with: the platform, the server's URL, one-time tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from gitserver.platform import Platform
from gitserver.records import App, current_user
from gitserver.views import app_id
from gitserver.web.api.protocol import not_found
from gitserver.web.auth import ADMIN, Grant

# A log session's URL is good for one use within this many seconds (Heroku: 5 minutes).
LOG_SESSION_TTL = 300.0


@dataclass(frozen=True)
class LogSession:
    app: str
    lines: int
    tail: bool
    dyno: str
    source: str
    expires: float


@dataclass
class Tokens:
    """The server's secrets for URLs that carry their own authorization.

    Build output URLs are signed (they may be read again, as Heroku's are); a log session's
    URL holds a one-time token kept here. One per server process.
    """

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _sessions: dict[str, LogSession] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sign(self, *parts: str) -> str:
        message = "\0".join(parts).encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    def verify(self, signature: str, *parts: str) -> bool:
        return hmac.compare_digest(signature.encode(), self.sign(*parts).encode())

    def new_log_session(self, session: LogSession) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            for key in [k for k, s in self._sessions.items() if s.expires < now]:
                del self._sessions[key]
            self._sessions[token] = session
        return token

    def take_log_session(self, token: str) -> LogSession | None:
        """The session of a token, once; None if unknown, used or expired."""
        with self._lock:
            session = self._sessions.pop(token, None)
        if session is None or session.expires < time.monotonic():
            return None
        return session


@dataclass
class ApiContext:
    platform: Platform
    tokens: Tokens
    base_url: str  # http://127.0.0.1:PORT, where the streams' URLs point
    grant: Grant = ADMIN  # what the request's key allows (edge.py enforces it by route)

    @property
    def user(self) -> str:
        """The account: the user running the server, as releases record it."""
        return current_user()

    def apps(self) -> list[App]:
        """The apps this request's key may see: all, or a deploy key's one app."""
        return [app for app in self.platform.list_apps() if self.grant.allows(app.name)]

    def app(self, ident: str) -> App:
        """An app by name or by id."""
        store = self.platform.store
        found = store.find_app(ident)
        if found is not None:
            return found
        for app in store.list_apps():
            if app_id(app) == ident:
                return app
        raise not_found("app")
