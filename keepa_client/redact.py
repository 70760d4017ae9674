"""Remove Keepa API keys from text before it reaches a log, an exception or a database row.

A key reaches text in more shapes than its own: requests lower-cases a URL's scheme (a
redirect whose `Location` begins with the key comes back lower-cased in `InvalidSchema`),
URLs carry it percent-encoded (`%53ECRET`, `%2553` when encoded twice) or with `+` for a
space, and a server may echo it in any case. So a given secret is matched case-insensitively,
each character either literal or percent-encoded (once or more often).
"""

from __future__ import annotations

import re
from functools import lru_cache

MASK = "***"

# requests and urllib3 put the full URL, query string included, into their error messages;
# a URL nested in another URL's query has its `?`, `&` and `=` percent-encoded.
_KEY_PARAM = re.compile(r"(?i)((?:[?&;]|%3F|%26|%3B)key(?:=|%3D))(?:(?!%26|%3B)[^&;\s'\"<>)])*")

# Absolute URLs, and the path urllib3 quotes after "url:" ("Max retries exceeded with url:
# /deal?key=..."): both carry the query string, and so the key.
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+|(?<=url: )[^\s'\"<>]+")


def redact(text: str, *secrets: str) -> str:
    """Return `text` with every `key=` query value and every given secret masked."""
    text = _KEY_PARAM.sub(rf"\1{MASK}", text)
    for secret in secrets:
        if secret:
            text = _secret_pattern(secret).sub(MASK, text)
    return text


def contains_secret(text: str, secret: str) -> bool:
    """Whether `text` holds `secret` in any case or URL encoding."""
    return bool(secret) and _secret_pattern(secret).search(text) is not None


def strip_urls(text: str) -> str:
    """Replace every URL in `text` (an HTTP library's message) by `<url>`."""
    return _URL.sub("<url>", text)


@lru_cache(maxsize=8)
def _secret_pattern(secret: str) -> re.Pattern[str]:
    return re.compile("".join(_char_pattern(c) for c in secret), re.IGNORECASE)


def _char_pattern(char: str) -> str:
    forms = {re.escape(char)}
    for variant in {char, char.lower(), char.upper()}:
        # Percent-encoded once (%53) or more often (%2553, %252553).
        forms.add("".join(f"%(?:25)*{b:02X}" for b in variant.encode()))
    if char == " ":
        forms.add(r"\+")
    return "(?:" + "|".join(sorted(forms)) + ")"
