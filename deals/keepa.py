"""The app's Keepa seam: the one place a client is built (the key never leaves it), the token
budget every job spends within, and the redaction of errors before they are stored."""

from __future__ import annotations

from dataclasses import dataclass

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


class BudgetExhausted(Exception):
    """The next call would spend tokens below the configured reserve."""


@dataclass
class Budget:
    """Tokens a run may still spend, from the balance Keepa reported last."""

    client: KeepaClient
    reserve: int
    spent: int = 0

    @property
    def left(self) -> int:
        return self.client.tokens.tokens_left if self.client.tokens else 0

    def spare(self, headroom: int = 0) -> int:
        return self.left - self.reserve - headroom

    def check(self, cost: int) -> None:
        if self.spare() < cost:
            raise BudgetExhausted(
                f"token budget reached: {self.left} tokens left, reserve {self.reserve}, "
                f"next call needs {cost}"
            )

    def record(self) -> None:
        if self.client.tokens:
            self.spent += self.client.tokens.tokens_consumed
