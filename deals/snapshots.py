"""Compact copies of Keepa objects, kept on each Deal so later columns cost no tokens."""

from __future__ import annotations

from typing import Any

# Product keys worth keeping: what the columns (and likely future columns) are computed from.
_PRODUCT_KEYS = (
    "asin", "title", "rootCategory", "categories", "categoryTree", "imagesCSV", "fbaFees",
    "referralFeePercentage", "referralFee", "packageWeight", "packageHeight", "packageLength",
    "packageWidth", "itemWeight", "binding", "format", "author", "publicationDate", "lastUpdate",
    "lastPriceChange", "salesRankReference", "monthlySold", "productType",
)  # fmt: skip
_STATS_KEYS = (
    "current", "avg", "avg30", "avg90", "avg180", "avg365", "salesRankDrops30", "salesRankDrops90",
    "totalOfferCount", "offerCountFBA", "offerCountFBM", "lastOffersUpdate",
    "buyBoxPrice", "buyBoxShipping", "buyBoxIsFBA", "buyBoxUsedPrice", "buyBoxUsedShipping",
)  # fmt: skip
_OFFER_KEYS = (
    "offerId", "sellerId", "condition", "isFBA", "isPrime", "isAmazon", "isShippable",
    "isWarehouseDeal", "lastSeen",
)  # fmt: skip


def product_snapshot(raw: dict[str, Any]) -> dict[str, Any]:
    """Keep the product's descriptive fields, its stats and its live offers (latest prices)."""
    snap = {key: raw[key] for key in _PRODUCT_KEYS if raw.get(key) is not None}
    stats = raw.get("stats") or {}
    if stats:
        snap["stats"] = {key: stats[key] for key in _STATS_KEYS if stats.get(key) is not None}
    live = set(raw.get("liveOffersOrder") or ())
    offers = []
    for index, offer in enumerate(raw.get("offers") or ()):
        if live and index not in live:
            continue
        item = {key: offer[key] for key in _OFFER_KEYS if offer.get(key) is not None}
        csv = offer.get("offerCSV") or []
        if len(csv) >= 3:
            item["price"], item["shipping"] = csv[-2], csv[-1]
        offers.append(item)
    snap["offers"] = offers[:30]
    return snap
