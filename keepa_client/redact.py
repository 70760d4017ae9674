"""Remove Keepa API keys from text before it reaches a log, an exception or a database row."""

from __future__ import annotations

import re

# requests and urllib3 put the full URL, query string included, into their error messages.
_KEY_PARAM = re.compile(r"(?i)([?&;]key=)[^&\s'\"<>)]*")


def redact(text: str, *secrets: str) -> str:
    """Return `text` with every `key=` query value and every given secret masked."""
    text = _KEY_PARAM.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
