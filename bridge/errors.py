"""The one error hierarchy of alertbridge; the web layer maps it to HTTP in one place."""

from __future__ import annotations

from collections.abc import Mapping


class BridgeError(Exception):
    """Base of every error alertbridge raises on purpose."""


class ConfigError(BridgeError):
    """A configuration problem, located by file and by path inside the document."""

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None) -> None:
        self.message = message
        self.file = file
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.path) if part)
        return f"{where}: {self.message}" if where else self.message


class ConfigErrors(BridgeError):
    """Several configuration problems found in one pass, so the user can fix them all at once."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class PayloadError(BridgeError):
    """The request body is malformed or not of the source's shape (HTTP 400)."""


class AuthError(BridgeError):
    """Credentials or signature missing or wrong (HTTP 401).

    `challenge`: the WWW-Authenticate value naming the scheme the sender should use (None for a
    body signature, which has no HTTP authentication scheme)."""

    def __init__(self, message: str, *, challenge: str | None = None) -> None:
        super().__init__(message)
        self.challenge = challenge


class UnsupportedMediaType(BridgeError):
    """The request's content type is not one the source accepts (HTTP 415)."""


class StoreUnavailable(BridgeError):
    """The store could not persist accepted work (HTTP 503, so the sender retries)."""


class DeliveryError(BridgeError):
    """Sending a notification failed."""

    def __init__(
        self, message: str, *, status: int | None = None, request_id: str | None = None
    ) -> None:
        self.status = status
        self.request_id = request_id
        super().__init__(message)


class TransientDeliveryError(DeliveryError):
    """Worth retrying: timeouts, connection errors, 429, 5xx."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id)
        self.retry_after = retry_after
        # True when the request may have reached the API (a timeout after sending).
        self.outcome_unknown = outcome_unknown


class PermanentDeliveryError(DeliveryError):
    """Never worth retrying as is: 400, 401, 403, 404, 409, 422."""


class ApiError(BridgeError):
    """A refused request: its status and the message for the JSON error body.

    Handlers raise this rather than aiohttp's `HTTPException(reason=...)`: a reason phrase goes
    on the status line, where user text (a newline in an id) would make aiohttp fail with a 500.
    """

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
