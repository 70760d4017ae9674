"""Keepa's wire encodings: Keepa minutes, sentinel values, image codes and price-type indices.

Facts, with their sources (Keepa's Java client and real responses), are in docs/keepa.md §3.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

# Keepa minutes count from 2011-01-01 00:00 UTC; this is that instant in Unix minutes.
KEEPA_EPOCH_MINUTES = 21564000
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Price types: indices into Product.csv, Deal.current, stats.current and the inner
# arrays of Deal.avg / delta / deltaPercent (docs/keepa.md §3.3).
AMAZON = 0
NEW = 1
USED = 2
SALES_RANK = 3
LIST_PRICE = 4
COLLECTIBLE = 5
REFURBISHED = 6
NEW_FBM_SHIPPING = 7
LIGHTNING_DEAL = 8
WAREHOUSE = 9
NEW_FBA = 10
COUNT_NEW = 11
COUNT_USED = 12
COUNT_REFURBISHED = 13
COUNT_COLLECTIBLE = 14
EXTRA_INFO_UPDATES = 15
RATING = 16
COUNT_REVIEWS = 17
BUY_BOX_SHIPPING = 18
USED_NEW_SHIPPING = 19
USED_VERY_GOOD_SHIPPING = 20
USED_GOOD_SHIPPING = 21
USED_ACCEPTABLE_SHIPPING = 22
COLLECTIBLE_NEW_SHIPPING = 23
COLLECTIBLE_VERY_GOOD_SHIPPING = 24
COLLECTIBLE_GOOD_SHIPPING = 25
COLLECTIBLE_ACCEPTABLE_SHIPPING = 26
REFURBISHED_SHIPPING = 27
EBAY_NEW_SHIPPING = 28
EBAY_USED_SHIPPING = 29
TRADE_IN = 30
RENT = 31
BUY_BOX_USED_SHIPPING = 32
PRIME_EXCL = 33
COUNT_NEW_FBA = 34
COUNT_NEW_FBM = 35

PRICE_TYPE_NAMES: dict[int, str] = {
    AMAZON: "Amazon",
    NEW: "New",
    USED: "Used",
    SALES_RANK: "Sales rank",
    LIST_PRICE: "List price",
    COLLECTIBLE: "Collectible",
    REFURBISHED: "Refurbished",
    NEW_FBM_SHIPPING: "New, 3rd party FBM",
    LIGHTNING_DEAL: "Lightning deal",
    WAREHOUSE: "Amazon Warehouse",
    NEW_FBA: "New, 3rd party FBA",
    COUNT_NEW: "New offer count",
    COUNT_USED: "Used offer count",
    COUNT_REFURBISHED: "Refurbished offer count",
    COUNT_COLLECTIBLE: "Collectible offer count",
    EXTRA_INFO_UPDATES: "Offers fetched",
    RATING: "Rating",
    COUNT_REVIEWS: "Review count",
    BUY_BOX_SHIPPING: "Buy Box",
    USED_NEW_SHIPPING: "Used - Like New",
    USED_VERY_GOOD_SHIPPING: "Used - Very Good",
    USED_GOOD_SHIPPING: "Used - Good",
    USED_ACCEPTABLE_SHIPPING: "Used - Acceptable",
    COLLECTIBLE_NEW_SHIPPING: "Collectible - Like New",
    COLLECTIBLE_VERY_GOOD_SHIPPING: "Collectible - Very Good",
    COLLECTIBLE_GOOD_SHIPPING: "Collectible - Good",
    COLLECTIBLE_ACCEPTABLE_SHIPPING: "Collectible - Acceptable",
    REFURBISHED_SHIPPING: "Refurbished (incl. shipping)",
    EBAY_NEW_SHIPPING: "eBay New",
    EBAY_USED_SHIPPING: "eBay Used",
    TRADE_IN: "Trade-In",
    RENT: "Rental",
    BUY_BOX_USED_SHIPPING: "Buy Box Used",
    PRIME_EXCL: "Prime exclusive",
    COUNT_NEW_FBA: "New FBA offer count",
    COUNT_NEW_FBM: "New FBM offer count",
}

# Histories of these types are stored as (time, price, shipping) triplets, and their
# stats.current values include shipping (fixture 055299068X: csv[21] ends 2100, 399;
# stats.current[21] is 2499).
SHIPPING_PRICE_TYPES = frozenset(
    {
        NEW_FBM_SHIPPING,
        BUY_BOX_SHIPPING,
        *range(USED_NEW_SHIPPING, EBAY_USED_SHIPPING + 1),
        BUY_BOX_USED_SHIPPING,
    }
)

# Price types Keepa accepts in a /deal selection's `priceTypes` (Keepa's deal docs).
DEAL_PRICE_TYPES = (0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 18, 19, 20, 21, 22, 32, 33)

# First index of Deal.avg / delta / deltaPercent, and /deal's `dateRange`.
DAY = 0  # Keepa computes the "day" average over the last 48 hours.
WEEK = 1
MONTH = 2
NINETY_DAYS = 3

# Offer conditions (Offer.condition, docs/keepa.md §5.5).
UNKNOWN_CONDITION = 0
CONDITION_NEW = 1
CONDITION_USED_LIKE_NEW = 2
CONDITION_USED_VERY_GOOD = 3
CONDITION_USED_GOOD = 4
CONDITION_USED_ACCEPTABLE = 5
CONDITION_REFURBISHED = 6
CONDITION_COLLECTIBLE_LIKE_NEW = 7
CONDITION_COLLECTIBLE_VERY_GOOD = 8
CONDITION_COLLECTIBLE_GOOD = 9
CONDITION_COLLECTIBLE_ACCEPTABLE = 10

CONDITION_NAMES: dict[int, str] = {
    UNKNOWN_CONDITION: "Unknown",
    CONDITION_NEW: "New",
    CONDITION_USED_LIKE_NEW: "Used - Like New",
    CONDITION_USED_VERY_GOOD: "Used - Very Good",
    CONDITION_USED_GOOD: "Used - Good",
    CONDITION_USED_ACCEPTABLE: "Used - Acceptable",
    CONDITION_REFURBISHED: "Refurbished",
    CONDITION_COLLECTIBLE_LIKE_NEW: "Collectible - Like New",
    CONDITION_COLLECTIBLE_VERY_GOOD: "Collectible - Very Good",
    CONDITION_COLLECTIBLE_GOOD: "Collectible - Good",
    CONDITION_COLLECTIBLE_ACCEPTABLE: "Collectible - Acceptable",
}

USED_CONDITIONS = frozenset(range(CONDITION_USED_LIKE_NEW, CONDITION_USED_ACCEPTABLE + 1))
COLLECTIBLE_CONDITIONS = frozenset(
    range(CONDITION_COLLECTIBLE_LIKE_NEW, CONDITION_COLLECTIBLE_ACCEPTABLE + 1)
)
_NEW_ONLY = frozenset({CONDITION_NEW})

# The offer conditions whose offers can make a /deal price type (docs/keepa.md §3.3 and §5.5);
# None: any offer (sales rank is not a price).
CONDITIONS_FOR_PRICE_TYPE: dict[int, frozenset[int] | None] = {
    AMAZON: _NEW_ONLY,
    NEW: _NEW_ONLY,
    NEW_FBM_SHIPPING: _NEW_ONLY,
    NEW_FBA: _NEW_ONLY,
    BUY_BOX_SHIPPING: _NEW_ONLY,
    LIGHTNING_DEAL: _NEW_ONLY,
    PRIME_EXCL: _NEW_ONLY,
    USED: USED_CONDITIONS,
    BUY_BOX_USED_SHIPPING: USED_CONDITIONS,
    WAREHOUSE: USED_CONDITIONS,
    USED_NEW_SHIPPING: frozenset({CONDITION_USED_LIKE_NEW}),
    USED_VERY_GOOD_SHIPPING: frozenset({CONDITION_USED_VERY_GOOD}),
    USED_GOOD_SHIPPING: frozenset({CONDITION_USED_GOOD}),
    USED_ACCEPTABLE_SHIPPING: frozenset({CONDITION_USED_ACCEPTABLE}),
    COLLECTIBLE: COLLECTIBLE_CONDITIONS,
    REFURBISHED: frozenset({CONDITION_REFURBISHED}),
    SALES_RANK: None,
}

IMAGE_BASE_URL = "https://m.media-amazon.com/images/I/"


def keepa_minute_to_datetime(m: int | None) -> datetime | None:
    """Convert a Keepa minute to an aware UTC datetime; Keepa's 0 and -1 mean "never"."""
    if m is None or m <= 0:
        return None
    return _UNIX_EPOCH + timedelta(minutes=int(m) + KEEPA_EPOCH_MINUTES)


def datetime_to_keepa_minute(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("datetime_to_keepa_minute needs an aware datetime")
    return (dt - _UNIX_EPOCH) // timedelta(minutes=1) - KEEPA_EPOCH_MINUTES


def keepa_ms_to_datetime(ms: int) -> datetime:
    """Convert an envelope `timestamp` (Unix milliseconds) to an aware UTC datetime."""
    return _UNIX_EPOCH + timedelta(milliseconds=int(ms))


def price_or_none(v: int | None) -> int | None:
    """Return the value, or None for Keepa's -1 (no offer) and -2 (no data)."""
    if v is None or v in (-1, -2):
        return None
    return int(v)


def decode_image(codes: Sequence[int] | str | None) -> str | None:
    """Decode a Deal's `image` (ASCII codes) into a file name such as "41vzhAICFdL.jpg"."""
    if not codes:
        return None
    if isinstance(codes, str):
        return codes
    return "".join(chr(c) for c in codes)


def image_url(name: str | None) -> str | None:
    return f"{IMAGE_BASE_URL}{name}" if name else None


def value_at(values: Sequence[int | None] | None, index: int) -> int | None:
    """Read one price-type cell; arrays grew from 34 to 36 entries, so short arrays mean None."""
    if values is None or not 0 <= index < len(values):
        return None
    return price_or_none(values[index])


def latest_history_value(
    csv_entry: Sequence[int] | None, with_shipping: bool = False
) -> int | None:
    """Return the current value of a history: `[t, v, ...]`, or `[t, p, s, ...]` summed."""
    if not csv_entry:
        return None
    if with_shipping:
        if len(csv_entry) < 3 or len(csv_entry) % 3:
            return None
        price, shipping = csv_entry[-2], csv_entry[-1]
        if price_or_none(price) is None:
            return None
        # Shipping -1 is "unspecified" and -2 "unknown"; the price still stands.
        return int(price) + max(int(shipping), 0)
    if len(csv_entry) < 2 or len(csv_entry) % 2:
        return None
    return price_or_none(csv_entry[-1])
