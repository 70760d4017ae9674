"""The reader's own decisions on deals: hide (maybe until the buy price drops below a sum, or
for some days), a note, and the buy list; and the saved searches' query strings.

Triage is kept by ASIN in its own table (deals.models.Triage), never on the Deal row: prune
deletes rows, and a deal that comes back must find its note and its place on the buy list.
Whether a hidden deal is hidden *now* is decided when it is read, from the clock and the
deal's current buy price, so nothing has to run for a deal to show again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.db.models import Case, Count, Exists, Max, OuterRef, Q, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import Exact, GreaterThanOrEqual, IsNull
from django.utils import timezone

from deals import economics
from deals.models import EnrichPriority, SellerLine, Triage

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


def _outer_buy_total() -> Greatest:
    """deals/economics.py `buy_total` of the outer Deal row, in SQL (-1 when unknown): the
    highest of the offer's total, Now, and the landed estimate while the seller is not
    checked (`Deal.checked`)."""
    not_checked = (
        When(IsNull(OuterRef("now_total"), True), then=Coalesce(OuterRef("est_landed"), _NO_PRICE)),
        When(
            IsNull(OuterRef("enriched_at"), True), then=Coalesce(OuterRef("est_landed"), _NO_PRICE)
        ),
        When(
            GreaterThanOrEqual(OuterRef("enrich_priority"), EnrichPriority.PRICE_CHANGED),
            then=Coalesce(OuterRef("est_landed"), _NO_PRICE),
        ),
        When(
            Exact(OuterRef("seller_line"), SellerLine.STORED),
            then=Coalesce(OuterRef("est_landed"), _NO_PRICE),
        ),
    )
    return Greatest(
        Coalesce(OuterRef("now_total"), _NO_PRICE),
        Coalesce(OuterRef("now_price"), _NO_PRICE),
        Case(*not_checked, default=_NO_PRICE),
    )


# Stands for an unknown buy price in the comparison: no sum is above it, the deal stays hidden.
_UNKNOWN_PRICE = Value(2**31 - 1)


def _outer_buy_price() -> Case:
    buy = _outer_buy_total()
    return Case(When(Exact(buy, _NO_PRICE), then=_UNKNOWN_PRICE), default=buy)


def hidden_now(now: datetime | None = None) -> Q:
    """A Deal filter: the reader hid it, the days have not run out, and its buy price is not
    below the sum they asked for (a deal shows while it is, and hides again if it rises)."""
    now = now or timezone.now()
    active = Triage.objects.filter(hidden=True).filter(
        Q(hidden_until__isnull=True) | Q(hidden_until__gt=now)
    )
    priced = active.filter(hidden_below_cents__isnull=False)
    # The ASIN lists are read once per query (SQLite builds a lookup table of them); only
    # the deals in the priced list go through the per-deal price comparison. A correlated
    # subquery on every deal made page 900 of 50,000 deals (500 marks) take 96 ms; this, 48
    # (12 ms with no triage filter).
    return Q(asin__in=active.filter(hidden_below_cents__isnull=True).values("asin")) | (
        Q(asin__in=priced.values("asin"))
        & Q(
            Exists(priced.filter(asin=OuterRef("asin"), hidden_below_cents__lte=_outer_buy_price()))
        )
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
