"""The seller line without a fresh look-up: what stored offers and the deal's prices still say.

Two rules, both free of tokens:

- **A rise falls back on stored offers.** When the price rises because the cheapest copy went,
  the offers kept from the last look-up (Deal.product_snapshot, up to 30 live offers) usually
  hold the next-cheapest copy. The cheapest stored copy of an accepted condition that is still
  plausible — it costs at least Keepa's lowest landed price now (a cheaper one is gone) and
  not more than MAX_SHIPPING_GAP above it (else the cheapest copy is one nobody stored) —
  becomes the candidate seller line, marked "not re-checked", and the row stays queued.
- **An unchanged answer is not asked for again.** The offers look-up's answer is the cheapest
  live copy; the /deal object of every sweep carries Keepa's item price and lowest landed
  price of each accepted condition. If none of them moved since the look-up (the
  `fingerprint` is equal), a re-check would name the same price again, so it waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deals import landed
from keepa_client import wire


def fingerprint(current: Sequence[Any] | None, price_type: int) -> str:
    """The deal's offer prices that decide the cheapest copy: the item price of the query's
    price type and the lowest landed price of each accepted condition ("" without any)."""
    if not current:
        return ""
    types = [price_type, *landed.landed_types(price_type)]
    values = [wire.value_at(current, t) for t in types]
    if all(v is None for v in values):
        return ""
    return "|".join(f"{t}:{'' if v is None else v}" for t, v in zip(types, values, strict=True))


def snapshot_fingerprint(snapshot: Mapping[str, Any] | None, price_type: int) -> str:
    """`fingerprint` of a stored /deal object (Deal.deal_snapshot)."""
    return fingerprint((snapshot or {}).get("current"), price_type)


def stored_candidate(
    product: Mapping[str, Any] | None,
    price_type: int,
    *,
    floor: int | None,
    gone_seller: str = "",
) -> dict[str, Any] | None:
    """The next-cheapest plausible copy among the stored offers, as seller-line columns.

    `floor` is the lowest a copy can cost now (Keepa's lowest landed price, else Now): a
    stored copy below it has gone or been repriced. `gone_seller`'s stored copy is the one
    that went, so it is not a candidate.
    """
    if floor is None:
        return None
    conditions = wire.CONDITIONS_FOR_PRICE_TYPE.get(price_type)
    best: tuple[tuple[int, int, bool], dict[str, Any]] | None = None
    for offer in (product or {}).get("offers") or ():
        price, shipping = offer.get("price"), offer.get("shipping")
        condition = offer.get("condition")
        if not isinstance(price, int) or price < 0 or not isinstance(shipping, int):
            continue
        if conditions is not None and condition not in conditions:
            continue
        seller = str(offer.get("sellerId") or "")
        if gone_seller and seller == gone_seller:
            continue
        total = price + max(shipping, 0)
        if not floor <= total <= floor + landed.MAX_SHIPPING_GAP:
            continue
        key = (total, price, not offer.get("isFBA"))
        if best is None or key < best[0]:
            best = (
                key,
                {
                    "now_total": total,
                    "now_seller_id": seller,
                    "now_condition": condition,
                    "now_is_fba": bool(offer.get("isFBA")),
                },
            )
    return best[1] if best else None
