"""The price a reseller would list a copy at (`list_at`), and the rule that chose it.

A seller sending books to Amazon's warehouses competes with the other Fulfilled-by-Amazon
copies in the same condition group: the cheapest of those is the price a new listing must
meet. With no FBA competition the product's own 90-day average of the query's price type is
what it has been selling around. Either is capped against the year: never more than
`CAP_PERCENT` of the 365-day average, so one lone overpriced FBA copy or a short spike never
makes a loser look like a winner. Without a looked-up product only the deal's own average
is known, and that is said too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from keepa_client.wire import (
    COLLECTIBLE_CONDITIONS,
    CONDITION_NEW,
    CONDITION_REFURBISHED,
    CONDITIONS_FOR_PRICE_TYPE,
    USED_CONDITIONS,
)

CAP_PERCENT = 125

LOWEST_FBA = "lowest FBA offer"
AVERAGE_90 = "90-day average (no FBA offer)"
DEAL_AVERAGE = "deal's average (offers not looked up)"
CAPPED = "capped at 125% of the 365-day average"


@dataclass(frozen=True)
class ListAt:
    cents: int
    rule: str


def _stat(snapshot: dict[str, Any], name: str, price_type: int) -> int | None:
    values = (snapshot.get("stats") or {}).get(name) or []
    value = values[price_type] if len(values) > price_type else None
    return value if isinstance(value, int) and value > 0 else None


def lowest_fba(
    snapshot: dict[str, Any], price_type: int, buying: tuple[str, int] | None = None
) -> int | None:
    """The cheapest live FBA offer (price + shipping) in the query's condition group, the
    copy being bought left out (`buying`: its seller and total): once it is bought, the next
    FBA copy is the price a new listing must meet. Listed against itself, every deal whose
    cheapest copy is an FBA one showed as a loss."""
    conditions = CONDITIONS_FOR_PRICE_TYPE.get(price_type)
    offers = sorted(
        (o["price"] + max(o.get("shipping") or 0, 0), o.get("sellerId"))
        for o in snapshot.get("offers") or ()
        if o.get("isFBA")
        and isinstance(o.get("price"), int)
        and o["price"] > 0
        and (conditions is None or o.get("condition") in conditions)
    )
    for total, seller in offers:
        if buying is not None and (seller, total) == buying:
            buying = None  # that one copy only: another at the same price competes
            continue
        return total
    return None


def list_at(deal: Any) -> ListAt | None:
    """What to list at and why, from the stored row; None when nothing is known."""
    snapshot = deal.product_snapshot or {}
    price_type = deal.price_type
    seller, total = getattr(deal, "now_seller_id", None), getattr(deal, "now_total", None)
    buying = (seller, total) if seller and total is not None else None
    fba = lowest_fba(snapshot, price_type, buying) if snapshot else None
    if fba is not None:
        chosen = ListAt(fba, LOWEST_FBA)
    elif (average := _stat(snapshot, "avg90", price_type)) is not None:
        chosen = ListAt(average, AVERAGE_90)
    elif deal.avg_price:
        chosen = ListAt(deal.avg_price, DEAL_AVERAGE)
    else:
        return None
    year = _stat(snapshot, "avg365", price_type)
    if year is not None and chosen.cents * 100 > year * CAP_PERCENT:
        return ListAt(year * CAP_PERCENT // 100, CAPPED)
    return chosen


def offer_listing_condition(price_type: int | None) -> str:
    """The `condition=` of Amazon's offer listing for a Keepa price type ("" for any)."""
    conditions = CONDITIONS_FOR_PRICE_TYPE.get(price_type) if price_type is not None else None
    if not conditions:
        return ""
    if conditions <= USED_CONDITIONS:
        return "used"
    if conditions <= COLLECTIBLE_CONDITIONS:
        return "collectible"
    if conditions == {CONDITION_NEW}:
        return "new"
    if conditions == {CONDITION_REFURBISHED}:
        return "refurbished"
    return ""


def buy_url(asin: str, price_type: int | None) -> str:
    """Amazon's offer listing for the ASIN, filtered to the deal's condition group.

    `/gp/offer-listing/<ASIN>` is Amazon's long-standing address of a product's offers; it
    now opens the product page with its "All offers" panel, and `condition=used` (or `new`,
    `collectible`, `refurbished`) keeps that panel to the copies the deal is about; where
    the price type spans several groups no filter is set.
    """
    condition = offer_listing_condition(price_type)
    query = f"?condition={condition}" if condition else ""
    return f"https://www.amazon.com/gp/offer-listing/{quote(asin, safe='')}/{query}"
