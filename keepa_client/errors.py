"""Exceptions raised by KeepaClient.

None of them ever holds the API key: messages are passed through `redact` here, and the
client builds them from redacted text and raises them outside `except` blocks, so no
requests exception (whose text contains the full URL) hangs off `__context__`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keepa_client.redact import redact

if TYPE_CHECKING:
    from keepa_client.models import TokenStatus


class KeepaError(Exception):
    """Base class. `status` is the HTTP status (None if no response); `tokens` the last envelope."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        tokens: TokenStatus | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.endpoint = endpoint
        self.status = status
        self.tokens = tokens


class _KeepaErrorObject(KeepaError):
    """An error that carries Keepa's `error` object: `{type, message, details}`."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        keepa_message: str | None = None,
        details: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(message, **kwargs)
        self.error_type = error_type
        self.message = keepa_message
        self.details = details


class BadRequest(_KeepaErrorObject):
    """HTTP 400: Keepa rejected a parameter; `details` names it (e.g. "dateRange")."""


class InvalidKey(_KeepaErrorObject):
    """HTTP 401, or a 400 whose message says the access key is invalid."""


class PaymentRequired(KeepaError):
    """HTTP 402: the key is valid but has no active subscription."""


class TokensExhausted(KeepaError):
    """HTTP 429 and the refill Keepa announces is further away than the wait budget allows.

    `wait_s` is how long Keepa said to wait, counted from when the 429 arrived.
    """

    def __init__(self, message: str, *, wait_s: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.wait_s = wait_s


class ServerError(KeepaError):
    """HTTP 5xx on every attempt."""


class KeepaTimeout(KeepaError):
    """The request timed out on every attempt."""


class KeepaConnectionError(KeepaError):
    """The connection failed on every attempt."""


class MalformedResponse(KeepaError):
    """The body is not valid JSON, or not the shape the endpoint returns."""


class ApiError(_KeepaErrorObject):
    """HTTP 200 carrying an `error` object (e.g. /product with offers=10)."""
