"""The reader's own decisions on deals: hide (maybe until the buy price drops below a sum, or
for some days), a note, and the buy list; and the saved searches' query strings.

Triage is kept by ASIN in its own table (deals.models.Triage), never on the Deal row: prune
deletes rows, and a deal that comes back must find its note and its place on the buy list.
Whether a hidden deal is hidden *now* is decided when it is read, from the clock and the
deal's current buy price, so nothing has to run for a deal to show again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import Exact, GreaterThanOrEqual, IsNull
from django.http import HttpResponse
from django.utils import timezone

from deals import economics
from deals.models import Deal, EnrichPriority, SellerLine, Triage

# `?triage=` values: "" (default) leaves hidden deals out; the others pick the reader's marks.
HIDDEN = "hidden"
WATCHED = "watched"
NOTED = "noted"
ALL = "all"
CHOICES = [
    ("", "all but hidden"),
    (HIDDEN, "hidden only"),
    (WATCHED, "on the buy list"),
    (NOTED, "with a note"),
    (ALL, "all, hidden too"),
]
# Parameters a saved search never keeps: the page, and the live poll's own.
VOLATILE_PARAMS = frozenset({"page", "opened", "cursor", "shown"})
MAX_NOTE = 5000
MAX_HIDE_DAYS = 3650


# -- reading: which deals are hidden now --------------------------------------------------

# No price known: a price condition cannot be met, so the deal stays hidden.
_NO_PRICE = Value(-1)


def _buy_total() -> Greatest:
    """deals/economics.py `buy_total` of a Deal row, in SQL (-1 when unknown): the highest of
    the offer's total, Now, and the landed estimate while the seller is not checked
    (`Deal.checked`)."""
    estimate = Coalesce(F("est_landed"), _NO_PRICE)
    not_checked = (
        When(IsNull(F("now_total"), True), then=estimate),
        When(IsNull(F("enriched_at"), True), then=estimate),
        When(GreaterThanOrEqual(F("enrich_priority"), EnrichPriority.PRICE_CHANGED), then=estimate),
        When(Exact(F("seller_line"), SellerLine.STORED), then=estimate),
    )
    return Greatest(
        Coalesce(F("now_total"), _NO_PRICE),
        Coalesce(F("now_price"), _NO_PRICE),
        Case(*not_checked, default=_NO_PRICE),
    )


# Stands for an unknown buy price in the comparison: no sum is above it, the deal stays hidden.
_UNKNOWN_PRICE = Value(2**31 - 1)


def _buy_price() -> Case:
    buy = _buy_total()
    return Case(When(Exact(buy, _NO_PRICE), then=_UNKNOWN_PRICE), default=buy)


# Up to this many active hide marks, the filters name the hidden deals in a list decided
# first (two small queries); beyond it, by a subquery the database decides with each query.
MAX_LISTED_HIDDEN = 2_000
# What `is_hidden` reads of a deal (deals/economics.py `buy_total`).
_BUY_FIELDS = ("asin", "now_total", "now_price", "est_landed", "enriched_at", "enrich_priority")


def _active_marks(now: datetime) -> QuerySet[Triage]:
    return Triage.objects.filter(hidden=True).filter(
        Q(hidden_until__isnull=True) | Q(hidden_until__gt=now)
    )


def _hidden_marks_sql(now: datetime) -> QuerySet[Triage]:
    """`_active_marks` whose deal's buy price is not below the sum they asked for, decided in
    SQL (unknown counts as not below)."""
    still_dear = Deal.objects.filter(asin=OuterRef("asin")).filter(
        GreaterThanOrEqual(_buy_price(), OuterRef("hidden_below_cents"))
    )
    return _active_marks(now).filter(Q(hidden_below_cents__isnull=True) | Q(Exists(still_dear)))


# Inside `read_once`: the hidden deals as first read by this request (or None outside it).
_READ_ONCE: ContextVar[list[Q] | None] = ContextVar("hidden_read_once", default=None)


def read_once(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For a view that reads and never writes marks: `hidden_now()` is read once for all
    its queries (a live poll read it three times: its page, its count and its cache key)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
        token = _READ_ONCE.set([])
        try:
            return view(*args, **kwargs)
        finally:
            _READ_ONCE.reset(token)

    return wrapper


def hidden_now(now: datetime | None = None) -> Q:
    """A Deal filter: the reader hid it, the days have not run out, and its buy price is not
    below the sum they asked for (a deal shows while it is, and hides again if it rises)."""
    kept_here = _READ_ONCE.get() if now is None else None
    if kept_here:
        return kept_here[0]
    hidden = _hidden_now(now or timezone.now())
    if kept_here is not None:
        kept_here.append(hidden)
    return hidden


def _hidden_now(now: datetime) -> Q:
    fields = ("asin", "hidden", "hidden_below_cents", "hidden_until")
    marks = list(_active_marks(now).order_by().only(*fields)[: MAX_LISTED_HIDDEN + 1])
    if len(marks) > MAX_LISTED_HIDDEN:
        return Q(asin__in=_hidden_marks_sql(now).values("asin"))
    # Decided from the marks' side (only priced marks read their deal), so the deals need
    # only their ASIN, which the dashboard's status index holds. Deciding on every deal
    # (a subquery reading its row for the price) made the default page's count of 50,000
    # deals take 40 ms on SQLite instead of 5, with no mark at all.
    priced = [m.asin for m in marks if m.hidden_below_cents is not None]
    deals = Deal.objects.filter(asin__in=priced).only(*_BUY_FIELDS, "seller_line")
    by_asin = {d.asin: d for d in deals} if priced else {}
    return Q(
        asin__in=[
            m.asin
            for m in marks
            if m.hidden_below_cents is None
            or (d := by_asin.get(m.asin)) is None
            or is_hidden(m, d, now)
        ]
    )


def watched() -> Exists:
    return Exists(Triage.objects.filter(asin=OuterRef("asin"), watched=True))


def noted() -> Exists:
    return Exists(Triage.objects.filter(asin=OuterRef("asin")).exclude(note=""))


def filter_for(choice: str, now: datetime | None = None) -> Q:
    """The Deal filter for a `?triage=` value."""
    if choice == ALL:
        return Q()
    if choice == HIDDEN:
        return hidden_now(now)
    if choice == WATCHED:
        return Q(watched())
    if choice == NOTED:
        return Q(noted())
    return ~hidden_now(now)


def is_hidden(triage: Triage | None, deal: Any, now: datetime | None = None) -> bool:
    """`hidden_now` for one loaded deal (or a `values()` row read as attributes)."""
    if triage is None or not triage.hidden:
        return False
    now = now or timezone.now()
    if triage.hidden_until is not None and triage.hidden_until <= now:
        return False
    if triage.hidden_below_cents is not None:
        buy = economics.buy_total(deal)
        if buy is not None and buy < triage.hidden_below_cents:
            return False
    return True


def for_asins(asins: Iterable[str]) -> dict[str, Triage]:
    """The triage of these ASINs, one query."""
    return {t.asin: t for t in Triage.objects.filter(asin__in=list(asins))}


def version() -> tuple[Any, ...]:
    """Changes whenever a triage is written or deleted: part of the cached counts' key."""
    marks = Triage.objects.aggregate(latest=Max("updated_at"), rows=Count("pk"))
    return (marks["latest"], marks["rows"])


# -- writing ------------------------------------------------------------------------------


def _update(asin: str, **fields: Any) -> Triage:
    triage, _created = Triage.objects.get_or_create(asin=asin)
    for name, value in fields.items():
        setattr(triage, name, value)
    triage.updated_at = timezone.now()
    triage.save()
    return triage


def hide(asin: str, *, below_cents: int | None = None, days: int | None = None) -> Triage:
    """Hide a deal: for good, until its buy price is below `below_cents`, or for `days`."""
    now = timezone.now()
    until = now + timedelta(days=days) if days else None
    return _update(
        asin, hidden=True, hidden_below_cents=below_cents, hidden_until=until, hidden_at=now
    )


def unhide(asin: str) -> Triage:
    return _update(asin, hidden=False, hidden_below_cents=None, hidden_until=None, hidden_at=None)


def watch(asin: str, on: bool = True) -> Triage:
    return _update(asin, watched=on, watched_at=timezone.now() if on else None)


def set_note(asin: str, text: str) -> Triage:
    return _update(asin, note=text.strip()[:MAX_NOTE])


# -- saved searches -----------------------------------------------------------------------


def normalise_query(text: str) -> str:
    """A dashboard query string as a saved search keeps it: a pasted address or "?…" gives
    its query; the page, the live poll's parameters and empty values are dropped."""
    text = text.strip()
    if "?" in text or text.startswith(("http://", "https://", "/")):
        text = urlsplit(text).query
    pairs = [
        (key, value.strip())
        for key, value in parse_qsl(text, keep_blank_values=True)
        if key not in VOLATILE_PARAMS and value.strip() != ""
    ]
    return urlencode(pairs)
