"""Decision data: what a reseller reads besides the price, from Keepa answers already paid for.

Every function here reads a stored snapshot (the /deal object every sweep keeps, or the
/product answer of the latest offers look-up) and nothing else, so the upserter fills these
columns on every write and the backfill fills them for old rows at no token cost
(docs/keepa.md §5.7 says which Keepa field each comes from).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from keepa_client.wire import COUNT_USED, SALES_RANK

# The deal object's averages are indexed [dateRange][price type]: 2 is the month, 3 the
# 90 days (docs/keepa.md §4.2).
DEAL_MONTH, DEAL_90_DAYS = 2, 3
# The window of Keepa's deal averages for each `dateRange` of the query, as a column label.
AVERAGE_LABELS = {0: "1-day avg", 1: "7-day avg", 2: "30-day avg", 3: "90-day avg"}

UP, DOWN, FLAT = "↑", "↓", "→"
# The used offer count moved when it is this share (or at least one offer) off its 30-day
# average.
TREND_SHARE = 0.10


def _value(array: Any, index: int) -> int | None:
    """A Keepa array cell, None for a short array and for -1 / -2 (no offer, no data)."""
    if not isinstance(array, Sequence) or len(array) <= index:
        return None
    value = array[index]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    return value


def _cell(rows: Any, window: int, index: int) -> int | None:
    if not isinstance(rows, Sequence) or len(rows) <= window:
        return None
    return _value(rows[window], index)


def _count(value: Any) -> int | None:
    """A scalar count (salesRankDrops30 …), None for -1 (no data)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    return value


def _stats(product: Mapping[str, Any] | None) -> Mapping[str, Any]:
    stats = (product or {}).get("stats")
    return stats if isinstance(stats, Mapping) else {}


def average_label(date_range: int) -> str:
    """The "Average" column's heading: which window Keepa's deal average covers."""
    return AVERAGE_LABELS.get(date_range, "Average")


def binding(product: Mapping[str, Any] | None) -> str:
    """The product's binding as Amazon lists it: "Paperback", "Hardcover", "Audio CD"…"""
    value = (product or {}).get("binding")
    return value.strip()[:80] if isinstance(value, str) else ""


def genre(product: Mapping[str, Any] | None) -> str:
    """The most specific category of the product: the last name of Keepa's category tree
    (Books > Subjects > Literature & Fiction > Contemporary gives "Contemporary")."""
    tree = (product or {}).get("categoryTree")
    if not isinstance(tree, Sequence):
        return ""
    for node in reversed(tree):
        name = node.get("name") if isinstance(node, Mapping) else None
        if isinstance(name, str) and name.strip():
            return name.strip()[:200]
    return ""


def sales_rank_avg90(deal: Mapping[str, Any]) -> int | None:
    """The 90-day average sales rank: the deal object's own, refreshed by every sweep."""
    return _cell(deal.get("avg"), DEAL_90_DAYS, SALES_RANK)


def sales_rank_avg365(product: Mapping[str, Any] | None) -> int | None:
    """The 365-day average sales rank, from the product's stats (the deal has no year)."""
    return _value(_stats(product).get("avg365"), SALES_RANK)


def avg_365(product: Mapping[str, Any] | None, price_type: int) -> int | None:
    """The 365-day average of the query's price type, from the product's stats."""
    return _value(_stats(product).get("avg365"), price_type)


def rank_drops(deal: Mapping[str, Any], days: int) -> int | None:
    """How often the sales rank dropped in the last `days` (30 or 90): Keepa counts a drop as
    a sale. The deal object carries the counts, so every sweep refreshes them."""
    return _count(deal.get(f"salesRankDrops{days}"))


def estimated_sales_per_month(drops_30: int | None, drops_90: int | None) -> int | None:
    """Sales a month, estimated from the rank drops (each drop taken as one sale).

    The mean of the last 30 days' drops and a third of the last 90 days' (so one lucky month
    counts half), rounded half up; one of them alone when the other is unknown.
    Worked example: 6 drops in 30 days, 12 in 90 days: (6 + 12 / 3) / 2 = 5 a month.
    """
    rates = [r for r in (drops_30, None if drops_90 is None else drops_90 / 3) if r is not None]
    if not rates:
        return None
    return int(sum(rates) / len(rates) + 0.5)


def used_offer_count(deal: Mapping[str, Any]) -> int | None:
    """How many used offers are listed now (the deal object's count, every sweep)."""
    return _value(deal.get("current"), COUNT_USED)


def used_offer_month_avg(deal: Mapping[str, Any]) -> int | None:
    """The used offer count's average over the last month (the deal object's)."""
    return _cell(deal.get("avg"), DEAL_MONTH, COUNT_USED)


def offer_trend(now: int | None, month_avg: int | None) -> str:
    """↑ more used offers than the 30-day average, ↓ fewer, → about the same.

    "More" means at least one offer and at least 10 % of the average above it.
    Worked examples: average 3, now 4: ↑ (one more); average 20, now 21: → (under 2);
    average 20, now 17: ↓.
    """
    if now is None or month_avg is None:
        return ""
    step = max(1.0, month_avg * TREND_SHARE)
    if now - month_avg >= step:
        return UP
    if month_avg - now >= step:
        return DOWN
    return FLAT
