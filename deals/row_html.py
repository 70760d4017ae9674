"""A table row's HTML, kept per process so that many tabs showing the same rows render each once.

Rendering `deals/_row.html` is most of a dashboard request's CPU time (50 rows of some thirty
cells: at 50,000 deals, 70 % of a page's profile), and every open tab shows the same first
pages and gets the same changed rows from its live poll. A row's HTML is a function of what
`key()` collects: the deal's stored fields (every write, sweep or recompute after Costs are
saved changes one of them), the reader's marks on it, its badges, its sparkline, the columns
and the target it is drawn with, and what the clock changes in it (the relative times it
prints, a pending offers retry). A row is rendered again as soon as any of them changes;
the page's CSRF token, the one per-request part, is put in after the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Hashable, Sequence
from datetime import datetime
from typing import Any

from django.template.loader import get_template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from deals import formatting
from deals.columns import Column
from deals.models import Deal

TEMPLATE = "deals/_row.html"
# About four pages of 50 rows for each of a few hundred views: some MB a process.
MAX_ROWS = 2_000
# Rendered in place of the request's token, then replaced by it.
_TOKEN_STAND_IN = "row-html-csrf-token-stand-in"
_TOKEN_INPUT = f'<input type="hidden" name="csrfmiddlewaretoken" value="{_TOKEN_STAND_IN}">'
# The snapshots and the category path are never read by the row (the page query defers them).
_NOT_SHOWN = frozenset({"deal_snapshot", "product_snapshot", "categories"})
_DEAL_FIELDS = tuple(f.attname for f in Deal._meta.concrete_fields if f.name not in _NOT_SHOWN)
_TRIAGE_FIELDS = ("hidden", "hidden_below_cents", "hidden_until", "note", "watched")
_MISSING = object()


class HtmlCache:
    """A bounded least-recently-used map of keys to HTML, shared by a process's threads."""

    def __init__(self, size: int = MAX_ROWS) -> None:
        self.size = size
        self._rows: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            html = self._rows.get(key)
            if html is not None:
                self._rows.move_to_end(key)
            return html

    def put(self, key: Hashable, html: str) -> None:
        with self._lock:
            self._rows[key] = html
            self._rows.move_to_end(key)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)


CACHE = HtmlCache()


def _deal_state(deal: Deal) -> tuple[Any, ...]:
    values = deal.__dict__
    return tuple(values.get(name, _MISSING) for name in _DEAL_FIELDS)


def _clock_texts(
    deal: Deal, columns: Sequence[Column], shown: Collection[str], now: datetime
) -> tuple[Any, ...]:
    """What the clock alone changes in the row: each relative time shown and a pending retry."""
    texts = [
        formatting.relative(getattr(deal, c.field, None), now)
        for c in columns
        if c.kind == "datetime" and c.name in shown
    ]
    return (*texts, deal.offers_retry_at is not None)


def key(
    row: Any,
    columns: Sequence[Column],
    shown: Collection[str],
    target: float | None,
    *,
    oob: bool,
    now: datetime,
) -> tuple[Any, ...]:
    """Everything the row's HTML depends on."""
    marks = row.triage
    triage = None if marks is None else tuple(getattr(marks, f) for f in _TRIAGE_FIELDS)
    heads = tuple((c.name, c.label, c.kind) for c in columns)
    return (
        row.deal.pk,
        _deal_state(row.deal),
        row.is_new,
        row.flash,
        row.hidden,
        triage,
        row.sparkline,
        heads,
        frozenset(shown),
        target,
        oob,
        _clock_texts(row.deal, columns, shown, now),
    )


def render_row(context: dict[str, Any], row: Any, *, oob: bool) -> SafeString:
    """The row's HTML as `deals/_row.html` draws it, from the cache when nothing it shows
    has changed. `context` holds the columns, the reader's choice, the target and the token."""
    columns, shown, target = context["columns"], context["shown"], context["target"]
    row_key = key(row, columns, shown, target, oob=oob, now=timezone.now())
    html = CACHE.get(row_key)
    if html is None:
        html = get_template(TEMPLATE).render(
            {
                "row": row,
                "columns": columns,
                "shown": shown,
                "target": target,
                "oob": oob,
                "csrf_token": _TOKEN_STAND_IN,
            }
        )
        CACHE.put(row_key, html)
    return mark_safe(html.replace(_TOKEN_INPUT, _token_input(context.get("csrf_token"))))


def _token_input(token: Any) -> str:
    """What `{% csrf_token %}` writes for the request's token."""
    if not token or token == "NOTPROVIDED":
        return ""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
