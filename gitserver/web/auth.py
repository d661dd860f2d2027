"""Who may use the platform (git and the API): the admin key, per-app deploy keys, app code.

Every git and API request to the platform host comes through `Authorizer.check`, which answers
with a `Grant` or raises: `AuthRequired` (401: no key, or a wrong one), `TooManyAuthFailures`
(429: this address failed too often; asked *before* the credential is looked at, so guessing
is throttled). What a grant allows is the caller's to enforce: git by the repository's app, the
Platform API by route (gitserver/web/api/edge.py). App traffic routed by Host is public and
never comes here.

- The admin key (`Settings.api_key`) allows everything.
- A deploy key (`cedarbox keys:create -a APP`) allows its app only; it is looked up in the store
  on every request, so a destroyed key is refused at once.
- With no admin key (the laptop default), a local client may send any token, or none, except
  app code: a client whose socket belongs to an app's sandbox uid (gitserver/web/peers.py) needs
  a deploy key, so a build or dyno cannot drive the platform keyless.
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from gitserver.errors import AuthRequired, TooManyAuthFailures
from gitserver.platform import Platform
from gitserver.sandbox import UID_BASE, UID_SPAN
from gitserver.web.limits import FailureLimiter
from gitserver.web.peers import Address, socket_owner


@dataclass(frozen=True)
class Grant:
    """What a request may reach: every app (`app` None), or one app's git and API."""

    app: str | None
    key_id: str | None = None

    def allows(self, app: str) -> bool:
        return self.app is None or self.app == app


ADMIN = Grant(app=None)


def presented_credential(authorization: str) -> str | None:
    """The token of `Bearer TOKEN`, or the password of `Basic base64(user:password)` (git's
    way; any user name); None when the header carries neither."""
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            _, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return ""  # presented, and wrong
        return password
    return None


def is_app_uid(uid: int) -> bool:
    return UID_BASE <= uid < UID_BASE + UID_SPAN


@dataclass(frozen=True)
class Peer:
    """The client of one request: its address, and (asked only when needed) whether app code
    owns it and which budget of failures it spends (its address, and locally its uid)."""

    address: str
    is_app_code: Callable[[], bool]
    budget: Callable[[], str] | None = None

    def failure_budget(self) -> str:
        return self.address if self.budget is None else self.budget()


class SocketPeer:
    """A connection's client, as the kernel knows it; the owner is looked up once.

    Only root gives apps uids of their own (elsewhere app code runs as the server's user and
    cannot be told apart, so nothing is looked up). As root, a client that is no socket of
    this host counts as app code: it cannot be vouched for. Local clients spend a budget of
    their own uid, so app code guessing keys on 127.0.0.1 cannot lock out the server's user.
    """

    def __init__(self, client: Address, server: Address, *, uids: bool | None = None) -> None:
        self.client = client
        self.server = server
        self.uids = os.geteuid() == 0 if uids is None else uids
        self._owner: tuple[int | None] | None = None

    def owner(self) -> int | None:
        if self._owner is None:
            self._owner = (socket_owner(self.client, self.server) if self.uids else None,)
        return self._owner[0]

    def is_app_code(self) -> bool:
        if not self.uids:
            return False
        owner = self.owner()
        return owner is None or is_app_uid(owner)

    def budget(self) -> str:
        owner = self.owner()
        return self.client[0] if owner is None else f"{self.client[0]} (uid {owner})"

    def peer(self) -> Peer:
        return Peer(self.client[0], self.is_app_code, self.budget)


class Authorizer:
    """The server's one authorizer: its admin key and its failure limiter (per address)."""

    def __init__(self, api_key: str, limiter: FailureLimiter) -> None:
        self.api_key = api_key
        self.limiter = limiter

    def check(self, authorization: str, peer: Peer, platform: Platform) -> Grant:
        credential = presented_credential(authorization)
        if credential is None:
            if not self.api_key and not peer.is_app_code():
                return ADMIN
            raise self._required(peer)  # git asks again with credentials: not a failure
        budget = peer.failure_budget()
        wait = self.limiter.retry_after(budget)
        if wait is not None:
            raise TooManyAuthFailures(
                f"Too many failed authentications from {budget}: retry in {wait} seconds.",
                retry_after=wait,
                hint="Check the key (the server's API key, or a deploy key from "
                "`cedarbox keys:create -a APP`); clients sharing an address share this budget.",
            )
        if self.api_key and hmac.compare_digest(credential.encode(), self.api_key.encode()):
            return ADMIN
        key = platform.deploy_key_for(credential)
        if key is not None:
            return Grant(app=key.app, key_id=key.id)
        if not self.api_key and not peer.is_app_code():
            return ADMIN  # no admin key: local users may send any token
        self.limiter.failed(budget)
        raise AuthRequired(
            "Invalid credentials provided.",
            hint="Use the server's API key or a deploy key of the app (cedarbox keys:create -a "
            "APP) as the password (any user name) or as a Bearer token.",
        )

    def _required(self, peer: Peer) -> AuthRequired:
        if not self.api_key:
            return AuthRequired(
                "Authentication required: app code (a build or dyno) may not use this server's "
                "git or API without a key.",
                hint="Give the app a deploy key (cedarbox keys:create -a APP, then set it as a "
                "config var) and send it as the password or as a Bearer token.",
            )
        return AuthRequired(
            "Authentication required.",
            hint="Use the server's API key or a deploy key of the app (cedarbox keys:create -a "
            "APP) as the password (any user name) or as a Bearer token.",
        )
