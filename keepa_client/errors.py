"""Exceptions raised by KeepaClient.

None of them ever holds the API key: every attribute that carries server or URL text is
passed through `redact` here, at construction, with the key the client hands over as
`secret` (so a key Keepa echoes back in any case or encoding is masked too, not only in
`str()`). The client raises them outside `except` blocks, so no requests exception (whose
text contains the full URL) hangs off `__context__`.
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
        secret: str = "",
    ) -> None:
        super().__init__(redact(message, secret))
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
        secret: str = "",
        **kwargs,
    ) -> None:
        super().__init__(message, secret=secret, **kwargs)
        # Keepa's error object is server text: a rejected request may echo the key back.
        self.error_type = _redacted(error_type, secret)
        self.message = _redacted(keepa_message, secret)
        self.details = _redacted(details, secret)


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


def _redacted(value: object, secret: str) -> str | None:
    # Keepa documents these fields as strings; anything else is shown as text, masked too.
    return None if value is None else redact(str(value), secret)
