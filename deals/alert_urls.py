"""Apprise destination URLs: checked, masked for display, and scrubbed out of any text.

A destination URL carries its secret inside it (a Discord webhook token, a Telegram bot token,
an SMTP password), so it is stored as given and never shown back: pages, the admin, the command
and the alert history show `discord://…/****`, and every error or log line that could quote a
URL (Apprise's own messages, an exception from the network) goes through `scrub` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise

MASK = "****"
# Parts of a URL shorter than this are not worth masking on their own (a port, "x", "v1").
_MIN_SECRET_LEN = 4
_ANY_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+")


def is_valid(url: str) -> bool:
    """Whether Apprise knows this URL's scheme and can read its fields."""
    return bool(url) and apprise.Apprise().add(url)


def mask(url: str) -> str:
    """The only form in which a destination is shown: its scheme, nothing of its secrets."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
    return f"{scheme}://…/{MASK}"


def secret_parts(url: str) -> list[str]:
    """Every piece of `url` that may be (part of) a secret: user, password, host, path
    segments, query values; longest first, so a part inside another is masked with it."""
    parts = {url}
    try:
        split = urlsplit(url)
        netloc = split.netloc
    except ValueError:
        return [url]
    userinfo, _, hostport = netloc.rpartition("@")
    parts.update(userinfo.split(":"))
    parts.add(hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport)
    parts.update(split.path.split("/"))
    for _name, value in parse_qsl(split.query, keep_blank_values=True):
        parts.add(value)
    found = {p for p in parts if len(p) >= _MIN_SECRET_LEN}
    found |= {unquote(p) for p in found if len(unquote(p)) >= _MIN_SECRET_LEN}
    return sorted(found, key=len, reverse=True)


def scrub(text: str, urls: Iterable[str] = ()) -> str:
    """`text` with every URL masked, and every secret part of `urls` masked wherever it is."""
    text = _ANY_URL.sub(lambda m: mask(m.group(0)), text)
    for url in urls:
        for part in secret_parts(url):
            text = text.replace(part, MASK)
    return text
