"""Checks every record Keepa sends before anything downstream sees it.

One hostile or broken record must cost itself, never its page: a /deal or /product record whose
ASIN is not an ASIN, or that cannot be read at all, is dropped and reported as a `Rejected`; the
strings of the records kept are cleaned so that any database and any page can hold them.

What "clean" means, and why:

- An ASIN is 10 uppercase ASCII letters and digits: "B0" and 8 more for most products, an ISBN-10
  (digits, a final "X" possible) for books (docs/keepa.md §5.3; all 456 ASINs of the real
  responses in tests/fixtures/keepa/). Anything else would break a URL (a "/"), a page (markup),
  or a column (`varchar(16)` on PostgreSQL rejects a 17-character value and rolls back the page).
- NUL can be stored neither in a PostgreSQL text column nor in a jsonb string, so it is removed
  from every string of a record, the kept raw JSON included. Other control characters are
  replaced by a space in the strings that are shown (titles, names, comments).
- Shown strings are capped to what the columns hold (`deals/models.py`), and the title to a
  length no real title approaches.
- An image that is not a plain file name ("41vzhAICFdL.jpg", "51yBZ3ocI+L.jpg") is dropped: it
  becomes part of a URL on the dashboard.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

ASIN_LENGTH = 10
_ASIN = re.compile(r"[0-9A-Z]{10}")
# Amazon image file names: letters, digits, "+", "-", "_", "%" and dots, ending in an image type.
_IMAGE = re.compile(r"[A-Za-z0-9+_%.-]{1,200}\.(?:jpg|jpeg|png|gif|webp)", re.IGNORECASE)
# Seller ids are "A" and 12-13 more letters and digits (fixtures); the column holds 32.
_SELLER_ID = re.compile(r"[A-Za-z0-9]{1,32}")

# Longest strings kept; the column sizes are in deals/models.py.
MAX_TITLE = 2000
MAX_NAME = 200  # Seller.name, Deal.now_seller_name
MAX_COMMENT = 500
# How much of a rejected value a report quotes, and how many rejected records it names.
_QUOTED = 24
_NAMED = 3


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that was dropped: what it claimed to be, and why it was not kept."""

    asin: str  # printable and short, for reports; not necessarily what Keepa sent
    reason: str

    def __str__(self) -> str:
        return f"ASIN {self.asin!r} {self.reason}"


def describe_rejected(rejected: list[Rejected], what: str) -> str:
    """ "2 malformed deals skipped: ASIN 'ab/c' not an ASIN; ..." naming the first few."""
    named = "; ".join(str(r) for r in rejected[:_NAMED])
    more = f"; {len(rejected) - _NAMED} more" if len(rejected) > _NAMED else ""
    plural = "s" if len(rejected) != 1 else ""
    return f"{len(rejected)} malformed {what}{plural} skipped: {named}{more}"


def is_asin(value: Any) -> bool:
    return isinstance(value, str) and _ASIN.fullmatch(value) is not None


def asin_problem(value: Any) -> str | None:
    """Why `value` is not an ASIN, or None if it is one."""
    if not isinstance(value, str):
        return "missing" if value is None else f"not text ({type(value).__name__})"
    if is_asin(value):
        return None
    if len(value) != ASIN_LENGTH:
        return f"not an ASIN ({len(value)} characters)"
    return "not an ASIN"


def quoted(value: Any) -> str:
    """`value` made printable and short, to name it in a report without carrying it whole."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= _QUOTED else text[: _QUOTED - 1] + "…"


def clean_text(value: Any, max_length: int) -> str | None:
    """A shown string: NUL removed, other control characters as spaces, capped; None stays None."""
    if value is None:
        return None
    text = str(value)
    if not text.isprintable():
        text = "".join(
            " " if unicodedata.category(c) == "Cc" else c for c in text.replace("\0", "")
        )
    return text.strip()[:max_length]


def clean_image(name: str | None) -> str | None:
    return name if name is not None and _IMAGE.fullmatch(name) else None


def clean_seller_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _SELLER_ID.fullmatch(value) else None


def without_nul(value: Any) -> Any:
    """`value` (parsed JSON) with NUL removed from every string and key. A record without NUL
    (all but a hostile few) is returned as it is, after one walk that copies nothing."""
    return _strip_nul(value) if _has_nul(value) else value


def _has_nul(value: Any) -> bool:
    if type(value) is str:
        return "\0" in value
    if type(value) is dict:
        return any("\0" in k for k in value if type(k) is str) or _has_nul(list(value.values()))
    if type(value) is list:
        for v in value:
            # Inline for the common cells (numbers), which need no call.
            if (type(v) is str and "\0" in v) or (type(v) in (list, dict) and _has_nul(v)):
                return True
    return False


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\0", "")
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    return value
