"""Logging filters for the site's handlers (named so as not to shadow the standard `logging`)."""

from __future__ import annotations

import logging

from django.conf import settings

from keepa_client.redact import redact

_formatter = logging.Formatter()


class RedactKeepaKey(logging.Filter):
    """Mask the Keepa key in every record and traceback, whatever library formatted it."""

    def filter(self, record: logging.LogRecord) -> bool:
        secret = getattr(settings, "KEEPA_API_KEY", "")
        message = record.getMessage()
        cleaned = redact(message, secret)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the redacted copy is what prints.
            record.exc_text = redact(_formatter.formatException(record.exc_info), secret)
        return True
