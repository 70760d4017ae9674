"""What a copy costs delivered, estimated from a /deal object before any offers look-up.

Keepa's USED price (`current[2]`) is the lowest used *item* price, shipping excluded (Deal.java:
"Shipping and Handling costs are not included"); the landed used prices, shipping included,
are the per-condition types 19-22 and the used buy box, 32 (docs/keepa.md §3.3). The cheapest
copy a reseller can buy therefore costs at least `current[2]`, and often more. Until an offers
look-up names the seller, the app buys at this estimate (deals/economics.py), never at the bare
item price: a profit must not be overstated while nobody has checked the copy.

The rule, per price type of the query:
- a landed price type (7, 18, 19-22, 27, 32 ...) is its own estimate;
- otherwise the landed prices of the conditions the query accepts that are at least the item
  price `current[pt]` (a lower one was taken at another moment) are candidates, and the lowest
  is the estimate ("landed"). A lowest candidate far above the item price (more than
  MAX_SHIPPING_GAP) is still taken: it is a seller's heavy shipping or a price from another
  moment, and either way the higher figure cannot overstate a profit;
- when there is none, the item price plus TYPICAL_SHIPPING ("item+shipping").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from keepa_client import wire

# What a US buyer pays to have one media item (book, disc) shipped by a third-party seller:
# Amazon's fixed shipping charge for media, $3.99, which the real samples show as the shipping
# of used book offers (fixture 055299068X: price 2100, shipping 399) and the median gap between
# the lowest landed used price and `current[2]` in the real /deal pages (docs/keepa.md §12).
TYPICAL_SHIPPING = 399
# A landed price more than this above the item price is not taken as evidence that a copy is
# still there (`copy_still_there`): it may have been taken at another moment than the item
# price, since the lowest landed price is at most the cheapest item's price plus its shipping,
# and standard and expedited US media shipping ($3.99, $6.99) stay far below it. In the real
# pages of the shipped query the lowest landed used price is $0-$10 above `current[2]` in 137
# and 135 of 150 deals and more than $25 above in 5 and 5 (FIX 2, 3; docs/keepa.md §12).
MAX_SHIPPING_GAP = 2500

SOURCE_LANDED = "landed"
SOURCE_ITEM_PLUS_SHIPPING = "item+shipping"

# The landed price type of each offer condition.
LANDED_TYPE_BY_CONDITION: dict[int, int] = {
    wire.CONDITION_NEW: wire.NEW_FBM_SHIPPING,
    wire.CONDITION_USED_LIKE_NEW: wire.USED_NEW_SHIPPING,
    wire.CONDITION_USED_VERY_GOOD: wire.USED_VERY_GOOD_SHIPPING,
    wire.CONDITION_USED_GOOD: wire.USED_GOOD_SHIPPING,
    wire.CONDITION_USED_ACCEPTABLE: wire.USED_ACCEPTABLE_SHIPPING,
    wire.CONDITION_REFURBISHED: wire.REFURBISHED_SHIPPING,
    wire.CONDITION_COLLECTIBLE_LIKE_NEW: wire.COLLECTIBLE_NEW_SHIPPING,
    wire.CONDITION_COLLECTIBLE_VERY_GOOD: wire.COLLECTIBLE_VERY_GOOD_SHIPPING,
    wire.CONDITION_COLLECTIBLE_GOOD: wire.COLLECTIBLE_GOOD_SHIPPING,
    wire.CONDITION_COLLECTIBLE_ACCEPTABLE: wire.COLLECTIBLE_ACCEPTABLE_SHIPPING,
}
# Item-price types whose landed evidence also includes a buy box with shipping: the used buy
# box (32) is some used copy's landed price, so it bounds the cheapest used copy from above.
_EXTRA_LANDED = {
    wire.USED: (wire.BUY_BOX_USED_SHIPPING,),
    wire.NEW: (wire.BUY_BOX_SHIPPING,),
}


class Estimate(NamedTuple):
    cents: int | None
    source: str  # SOURCE_LANDED, SOURCE_ITEM_PLUS_SHIPPING, or "" when there is no price


def landed_types(price_type: int) -> list[int]:
    """The landed price types that bound the cost of a copy the price type describes."""
    conditions = wire.CONDITIONS_FOR_PRICE_TYPE.get(price_type) or ()
    types = sorted({LANDED_TYPE_BY_CONDITION[c] for c in conditions})
    return [*types, *_EXTRA_LANDED.get(price_type, ())]


def _consistent(landed: int | None, item: int) -> bool:
    return landed is not None and item <= landed <= item + MAX_SHIPPING_GAP


def estimate(current: Sequence[Any] | None, price_type: int) -> Estimate:
    """The landed cost of the cheapest copy the query's price type describes."""
    item = wire.value_at(current, price_type)
    if item is None or price_type == wire.SALES_RANK:
        return Estimate(None, "")
    if price_type in wire.SHIPPING_PRICE_TYPES:
        return Estimate(item, SOURCE_LANDED)
    sent = [wire.value_at(current, t) for t in landed_types(price_type)]
    candidates = [c for c in sent if c is not None and c >= item]
    if candidates:
        return Estimate(min(candidates), SOURCE_LANDED)
    return Estimate(item + TYPICAL_SHIPPING, SOURCE_ITEM_PLUS_SHIPPING)


def estimate_from_snapshot(snapshot: Mapping[str, Any] | None, price_type: int) -> Estimate:
    """The estimate from a stored /deal object (Deal.deal_snapshot), at no token cost."""
    return estimate((snapshot or {}).get("current"), price_type)


def copy_still_there(
    current: Sequence[Any] | None, price_type: int, total: int, condition: int | None
) -> bool | None:
    """Whether the deal's landed prices say a copy of `condition` still costs at most `total`.

    True: the condition's landed price is at most the offer's total (that copy, or one as
    cheap, is still there). False: it is higher, or that condition has no offer left while the
    deal carries landed prices for others. None: the deal carries no landed evidence.
    """
    item = wire.value_at(current, price_type)
    landed_type = LANDED_TYPE_BY_CONDITION.get(condition) if condition is not None else None
    if item is None or landed_type is None or price_type in wire.SHIPPING_PRICE_TYPES:
        return None
    sent = [wire.value_at(current, t) for t in landed_types(price_type)]
    if not any(_consistent(v, item) for v in sent):
        return None
    landed = wire.value_at(current, landed_type)
    if landed is None:
        return False
    return landed <= total
