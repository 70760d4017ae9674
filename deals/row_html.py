"""A table row's HTML, kept per process so that many tabs showing the same rows render each once.

Rendering `deals/_row.html` is most of a dashboard request's CPU time (50 rows of some thirty
cells: at 50,000 deals, 70 % of a page's profile), and every open tab shows the same first
pages and gets the same changed rows from its live poll. A row's HTML is a function of what
`key()` collects: the deal's stored fields (every write, sweep or recompute after Costs are
saved changes one of them), the reader's marks on it, its badges, its sparkline, and the
columns and the target it is drawn with. A row is rendered again as soon as any of them
changes. The per-request parts are written in after the cache: the page's CSRF token, the
relative times ("3 min ago"), which the clock alone changes every minute (keyed by them, every
row of every page was rendered again each minute, and a tab's page was seldom drawn twice),
the row's "new" and "changed" marks, which depend on when each tab last polled (keyed by
them, every tab's poll drew its own copy of a page the writer had reordered), and the times a
sweep stamps on every row it reads, changed or not (`SEEN_FIELDS`: keyed by them, a sweep
redrew every row it passed although only a tenth or less of them had changed).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Hashable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.template.loader import get_template
from django.utils import timezone
from django.utils.html import escape, format_html
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
# Stamped by a sweep on every row it reads (deals/upsert.py `SWEEP_FIELDS`) and shown only in
# their own cells: a kept row has these cells written again when they moved.
SEEN_FIELDS = ("last_seen_utc", "verified_at")
_DEAL_FIELDS = tuple(
    f.attname
    for f in Deal._meta.concrete_fields
    if f.name not in _NOT_SHOWN and f.attname not in SEEN_FIELDS
)
_TRIAGE_FIELDS = ("hidden", "hidden_below_cents", "hidden_until", "note", "watched")
_MISSING = object()
V = TypeVar("V")
# Where a row's marks go: the row's class list, and the title cell's "new" badge.
_ROW_CLASS = re.compile(r'^(<tr id="[^"]*" class=")')
_TITLE_CELL = '<td class="title" data-col="title">'
_NEW_BADGE = '<span class="badge" title="Entered since you opened this page">new</span> '
# A relative time as `formatting.when_html` writes it: the opening tag keeps the exact time.
_RELATIVE_TIME = re.compile(r'(<time class="rel" datetime="([^"]+)"[^>]*>)[^<]*</time>')
# A shown cell of a column (a hidden one has no data-label), as `_value_cell` writes it.
_SEEN_CELLS = {
    name: re.compile(rf'<td class="[^"]*" data-col="{name}" data-label="[^"]*"[^>]*>.*?</td>', re.S)
    for name in SEEN_FIELDS
}


class LruCache(Generic[V]):
    """A bounded least-recently-used map of keys to what was drawn or read, shared by a
    process's threads."""

    def __init__(self, size: int = MAX_ROWS) -> None:
        self.size = size
        self._rows: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._rows.get(key)
            if value is not None:
                self._rows.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._rows[key] = value
            self._rows.move_to_end(key)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)


# A row's HTML, and the values of its `SEEN_FIELDS` it was drawn with.
CACHE: LruCache[tuple[str, tuple[Any, ...]]] = LruCache()


def _deal_state(deal: Deal) -> tuple[Any, ...]:
    values = deal.__dict__
    return tuple(values.get(name, _MISSING) for name in _DEAL_FIELDS)


def _fill_times(html: str, now: datetime) -> str:
    """Each relative time of a kept row written for `now` ("3 min ago"): the clock changes
    them every minute while nothing else in the row changes."""
    return _RELATIVE_TIME.sub(
        lambda m: f"{m[1]}{escape(formatting.relative(datetime.fromisoformat(m[2]), now))}</time>",
        html,
    )


def key(
    row: Any,
    columns: Sequence[Column],
    shown: Collection[str],
    target: float | None,
    *,
    oob: bool,
) -> tuple[Any, ...]:
    """Everything the row's HTML depends on but the clock (its relative times are written
    for each request: `_fill_times`), its marks (`_mark`) and the times a sweep stamps on it
    (`_fill_seen`)."""
    marks = row.triage
    triage = None if marks is None else tuple(getattr(marks, f) for f in _TRIAGE_FIELDS)
    heads = tuple((c.name, c.label, c.kind) for c in columns)
    return (
        row.deal.pk,
        _deal_state(row.deal),
        row.hidden,
        triage,
        row.sparkline,
        heads,
        frozenset(shown),
        target,
        oob,
    )


def render_row(context: dict[str, Any], row: Any, *, oob: bool) -> SafeString:
    """The row's HTML as `deals/_row.html` draws it, from the cache when nothing it shows
    has changed. `context` holds the columns, the reader's choice, the target and the token."""
    columns, shown, target = context["columns"], context["shown"], context["target"]
    row_key = key(row, columns, shown, target, oob=oob)
    seen = tuple(getattr(row.deal, name) for name in SEEN_FIELDS)
    kept = CACHE.get(row_key)
    if kept is None:
        html = get_template(TEMPLATE).render(
            {
                "row": dataclasses.replace(row, is_new=False, flash=False),
                "columns": columns,
                "shown": shown,
                "target": target,
                "oob": oob,
                "csrf_token": _TOKEN_STAND_IN,
            }
        )
        CACHE.put(row_key, (html, seen))
    elif kept[1] != seen:
        html = _fill_seen(kept[0], row, columns, shown, target)
        CACHE.put(row_key, (html, seen))
    else:
        html = kept[0]
    html = _mark(_fill_times(html, timezone.now()), is_new=row.is_new, flash=row.flash)
    return mark_safe(html.replace(_TOKEN_INPUT, _token_input(context.get("csrf_token"))))


def _fill_seen(
    html: str, row: Any, columns: Sequence[Column], shown: Collection[str], target: float | None
) -> str:
    """A kept row with the cells of its `SEEN_FIELDS` written for the deal's values now."""
    for column in columns:
        if column.name in _SEEN_CELLS and column.name in shown:
            found = _SEEN_CELLS[column.name].search(html)
            if found:
                cell = _value_cell(row.deal, column, row.verdict, target)
                html = html[: found.start()] + cell + html[found.end() :]
    return html


# The cells `deals/_row.html` draws itself (links, forms, the cheapest offer); every other
# cell is one value and its target cue, or a hidden cell filled when its column is shown.
DRAWN_BY_TEMPLATE = frozenset({"title", "asin", "now_price", "buy_url", "gated"})


@functools.lru_cache(maxsize=256)
def _hidden_cell(kind: str, name: str) -> str:
    return format_html('<td class="{}" data-col="{}" data-unfilled hidden></td>', kind, name)


def _value_cell(deal: Deal, column: Column, verdict: Any, target: float | None) -> str:
    title = format_html(' title="{}"', deal.list_at_rule) if column.name == "list_at" else ""
    return format_html(
        '<td class="{}" data-col="{}" data-label="{}"{}>{}{}</td>',
        column.kind,
        column.name,
        column.label,
        title,
        formatting.column_cell(deal, column),
        formatting.target_cue(column, verdict, target),
    )


def cell_runs(
    deal: Deal,
    verdict: Any,
    columns: Sequence[Column],
    shown: Collection[str],
    target: float | None,
) -> list[tuple[str, SafeString]]:
    """A row's cells in column order, as ("", html) for a run of cells drawn here and
    (name, "") for a cell the template draws (`DRAWN_BY_TEMPLATE`). A row's thirty-odd
    cells, each an `if` chain in the template, were most of the time a row took to draw."""
    runs: list[tuple[str, SafeString]] = []
    drawn: list[str] = []
    for column in columns:
        if column.name not in shown:
            drawn.append(_hidden_cell(column.kind, column.name))
        elif column.name in DRAWN_BY_TEMPLATE:
            if drawn:
                runs.append(("", mark_safe("\n  ".join(drawn))))
                drawn = []
            runs.append((column.name, mark_safe("")))
        else:
            drawn.append(_value_cell(deal, column, verdict, target))
    if drawn:
        runs.append(("", mark_safe("\n  ".join(drawn))))
    return runs


def _mark(html: str, *, is_new: bool, flash: bool) -> str:
    """A row drawn unmarked, marked "new" (entered since the tab opened the page: a class and
    a badge before the title) and "flash" (changed since the tab's last poll) as the row's
    template would have marked it."""
    if not (is_new or flash):
        return html
    marks = " ".join(name for name, on in (("is-new", is_new), ("flash", flash)) if on)
    # The class list drawn unmarked is empty or starts with a space (" misses").
    html = _ROW_CLASS.sub(lambda m: m[1] + marks, html, count=1)
    if is_new:
        html = html.replace(_TITLE_CELL, _TITLE_CELL + _NEW_BADGE, 1)
    return html


def _token_input(token: Any) -> str:
    """What `{% csrf_token %}` writes for the request's token."""
    if not token or token == "NOTPROVIDED":
        return ""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
