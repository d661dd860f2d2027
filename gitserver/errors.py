"""Typed errors: every failure a user can cause carries a stable code, a summary and a fix.

Library code raises these; the edges (CLI, HTTP front end, pre-receive hook) turn them into
messages, HTTP statuses and exit codes. Nothing below the edges prints or exits.
"""

from __future__ import annotations


class CedarboxError(Exception):
    """Base class: `code` is stable (CI greps for it), `hint` says how to fix the problem."""

    code: str = "ERROR"
    http_status: int = 500

    def __init__(self, message: str, *, hint: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def lines(self) -> list[str]:
        """The message and its fix as lines, for the CLI and the hook."""
        return [self.message] + ([self.hint] if self.hint else [])


class UsageError(CedarboxError):
    code = "USAGE"
    http_status = 400


class RequestTooLarge(UsageError):
    """A request body (or its declared length) over the front end's limit for that endpoint."""

    code = "REQUEST_TOO_LARGE"
    http_status = 413


class InvalidAppName(CedarboxError):
    code = "INVALID_APP_NAME"
    http_status = 400


class AppNotFound(CedarboxError):
    code = "NO_SUCH_APP"
    http_status = 404


class ReleaseNotFound(CedarboxError):
    code = "NO_SUCH_RELEASE"
    http_status = 404


class AppExists(CedarboxError):
    code = "APP_EXISTS"
    http_status = 409


class InvalidStack(CedarboxError):
    code = "INVALID_STACK"
    http_status = 400


class AuthRequired(CedarboxError):
    code = "AUTH_REQUIRED"
    http_status = 401


class Forbidden(CedarboxError):
    """A valid credential that does not allow this (a deploy key used beyond its one app)."""

    code = "FORBIDDEN"
    http_status = 403


class TooManyAuthFailures(CedarboxError):
    """This client address failed to authenticate too often: wait `retry_after` seconds."""

    code = "TOO_MANY_AUTH_FAILURES"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class DeployKeyNotFound(CedarboxError):
    code = "NO_SUCH_KEY"
    http_status = 404


class PushRefused(CedarboxError):
    """A push the platform will not accept (ref rules, locks, failed builds)."""

    code = "PUSH_REFUSED"
    http_status = 403


class AppLocked(PushRefused):
    code = "APP_LOCKED"


class BuildFailed(PushRefused):
    """The build ran and failed; its own output already explained why.

    `detail` is the build's own failure code (e.g. PIP_INSTALL_FAILED) from its report.
    """

    code = "BUILD_FAILED"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class ReleaseFailed(PushRefused):
    """The release phase (`release:` in the Procfile) failed: the release was not created."""

    code = "RELEASE_FAILED"


class InvalidFormation(UsageError):
    """A `ps:*` request naming a process type or dyno the release does not have."""

    code = "INVALID_FORMATION"


class ServerRunning(UsageError):
    """Another `cedarbox serve` already supervises the apps of this data directory."""

    code = "SERVER_RUNNING"
    http_status = 409


class AddonFailed(PushRefused):
    """An add-on could not be provisioned, changed or removed (its server said why)."""

    code = "ADDON_FAILED"
    http_status = 502


class AddonNotFound(CedarboxError):
    code = "NO_SUCH_ADDON"
    http_status = 404


class CertificateError(CedarboxError):
    """The local CA or a certificate it issued cannot be made or read (gitserver/tls.py)."""

    code = "TLS_CERTIFICATE"
