"""A typed, token-aware client for the Keepa API. Knows nothing of Django."""

from keepa_client.redact import redact

__all__ = ["redact"]
