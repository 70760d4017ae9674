"""The one place the app builds a Keepa client (the key never leaves this seam)."""

from __future__ import annotations

import requests
from django.conf import settings

from keepa_client.client import KeepaClient
from keepa_client.redact import redact, strip_urls


def make_client(domain: int = 1) -> KeepaClient:
    return KeepaClient(
        settings.KEEPA_API_KEY,
        base_url=settings.KEEPA_API_URL,
        domain=domain,
        timeout=settings.KEEPA_TIMEOUT_S,
        max_token_wait_s=settings.KEEPA_MAX_TOKEN_WAIT_S,
    )


def redact_error(exc: BaseException) -> str:
    """A one-line description of an error, safe to store and show."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, requests.RequestException):
        # One that did not come through KeepaClient: its text is built from the request URL.
        text = strip_urls(text)
    # Redact before truncating: a cut key would no longer match.
    return redact(text, settings.KEEPA_API_KEY)[:1000]
