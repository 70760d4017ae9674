"""Keepa's /deal selection (its queryJSON): the fields it takes, checked the way Keepa checks them.

Facts come from the Keepa reference, §4.2 (Keepa's deal docs, `DealRequest` in its Java client,
observed 400 answers) and §3.4 (domain ids).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from keepa_client import wire

# Locales /deal serves (docs/keepa.md §3.4: 7 was China, discontinued; 12, Brazil, has no deals).
DEAL_DOMAINS = frozenset({1, 2, 3, 4, 5, 6, 8, 9, 10, 11})
DEAL_PRICE_TYPES = frozenset(wire.DEAL_PRICE_TYPES)
DATE_RANGES = (wire.DAY, wire.WEEK, wire.MONTH, wire.NINETY_DAYS)
# 1 deal age, 2 absolute delta, 3 sales rank, 4 percentage delta; negative inverts the order.
SORT_TYPES = frozenset({0, 1, 2, 3, 4})

BOOL_FIELDS = frozenset({
    "isFilterEnabled", "isRangeEnabled", "isLowest", "isLowest90", "isLowestOffer", "isHighest",
    "isOutOfStock", "isBackInStock", "hasReviews", "filterErotic", "singleVariation", "isRisers",
    "isPrimeExclusive", "mustHaveAmazonOffer", "mustNotHaveAmazonOffer",
})  # fmt: skip
RANGE_FIELDS = frozenset(
    {"currentRange", "deltaRange", "deltaPercentRange", "deltaLastRange", "salesRankRange"}
)
INT_LIST_FIELDS = frozenset({"includeCategories", "excludeCategories", "warehouseConditions"})
STRING_LIST_FIELDS = frozenset({
    "material", "type", "manufacturer", "brand", "productGroup", "model", "color", "size",
    "unitType", "scent", "itemForm", "pattern", "style", "itemTypeKeyword",
    "targetAudienceKeyword", "edition", "format", "author", "binding", "languages",
    "brandStoreName", "brandStoreUrlName", "websiteDisplayGroup", "websiteDisplayGroupName",
    "salesRankDisplayGroup",
})  # fmt: skip
OTHER_FIELDS = frozenset(
    {"page", "domainId", "priceTypes", "dateRange", "minRating", "titleSearch", "sortType"}
)
DEAL_QUERY_FIELDS = BOOL_FIELDS | RANGE_FIELDS | INT_LIST_FIELDS | STRING_LIST_FIELDS | OTHER_FIELDS

# Keepa accepts these numbers sent as JSON strings ("domainId": "1", docs/keepa.md §4.2).
_NUMERIC_FIELDS = ("domainId", "dateRange", "sortType", "minRating")
# ASCII digits only, and no longer than a Java int: int() would also take "²" or "٣" (and
# fail on one), or spend its digit limit on a 5,000-digit string.
_NUMERIC_STRING = re.compile(r"\s*-?[0-9]{1,10}\s*")
# minRating is a rating times ten (0..50); -1 switches the filter off.
MIN_RATING_RANGE = (-1, 50)


class InvalidDealQuery(ValueError):
    """A /deal selection Keepa would refuse. `field` names the key ("" for the whole query)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        where = f"/deal selection field {field!r}" if field else "the /deal selection"
        super().__init__(f"{where} {problem}")


def validate_deal_query(query: Any) -> dict[str, Any]:
    """Return a normalised copy of a /deal selection; raise InvalidDealQuery naming the field."""
    if not isinstance(query, Mapping):
        raise InvalidDealQuery("", "must be a JSON object (Keepa's /deal selection)")
    for key, value in query.items():
        if key not in DEAL_QUERY_FIELDS:
            raise InvalidDealQuery(key, "is not a Keepa /deal query field")
        if value is None:
            continue
        if key in BOOL_FIELDS and not isinstance(value, bool):
            raise InvalidDealQuery(key, f"must be true or false, got {json_type(value)}")
        if key in RANGE_FIELDS and not (
            isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value)
        ):
            raise InvalidDealQuery(key, "must be a list of two whole numbers [min, max]")
        if key in INT_LIST_FIELDS and not (
            isinstance(value, list) and all(_is_int(v) for v in value)
        ):
            raise InvalidDealQuery(key, "must be a list of whole numbers")
        if key in STRING_LIST_FIELDS and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise InvalidDealQuery(key, "must be a list of strings")
    query = dict(query)
    for key in _NUMERIC_FIELDS:
        if key in query and isinstance(query[key], str) and _NUMERIC_STRING.fullmatch(query[key]):
            query[key] = int(query[key])
    domain = query.get("domainId")
    if domain is None:
        raise InvalidDealQuery("domainId", "is required (1 = amazon.com)")
    if not _is_int(domain) or domain not in DEAL_DOMAINS:
        raise InvalidDealQuery("domainId", f"must be one of {sorted(DEAL_DOMAINS)}, got {domain!r}")
    price_types = query.get("priceTypes")
    if (
        not isinstance(price_types, list)
        or len(price_types) != 1
        or not _is_int(price_types[0])
        or price_types[0] not in DEAL_PRICE_TYPES
    ):
        raise InvalidDealQuery(
            "priceTypes",
            f"must be a list of exactly one of {sorted(DEAL_PRICE_TYPES)} "
            f"({wire.USED} = used), got {price_types!r}",
        )
    date_range = query.get("dateRange", wire.DAY)
    if not _is_int(date_range) or date_range not in DATE_RANGES:
        raise InvalidDealQuery(
            "dateRange",
            f"must be {wire.DAY} (day), {wire.WEEK} (week), {wire.MONTH} (month) or "
            f"{wire.NINETY_DAYS} (90 days), got {date_range!r}",
        )
    sort_type = query.get("sortType")
    if sort_type is not None and (not _is_int(sort_type) or abs(sort_type) not in SORT_TYPES):
        raise InvalidDealQuery(
            "sortType",
            f"must be between -{max(SORT_TYPES)} and {max(SORT_TYPES)}, got {sort_type!r}",
        )
    min_rating = query.get("minRating")
    low, high = MIN_RATING_RANGE
    if min_rating is not None and (not _is_int(min_rating) or not low <= min_rating <= high):
        raise InvalidDealQuery(
            "minRating", f"must be a whole number from {low} to {high}, got {json_type(min_rating)}"
        )
    title = query.get("titleSearch")
    if title is not None and not isinstance(title, str):
        raise InvalidDealQuery("titleSearch", "must be a string")
    return query


def json_type(value: Any) -> str:
    """Describe a JSON value for an error message: `string '5'`, `true/false`, `a list`."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# The days of history each dateRange averages over, as a /product `stats=` value: Keepa's
# "day" range covers 48 hours (docs/keepa.md §4.3).
DATE_RANGE_STATS_DAYS = {wire.DAY: 2, wire.WEEK: 7, wire.MONTH: 31, wire.NINETY_DAYS: 90}
# salesRankRange's maximum -1 means "no maximum" (Keepa's deal docs).
_NO_RANK_MAXIMUM = -1
# An upper bound of Java's Integer.MAX_VALUE is "no maximum" (the shipped query's percentage).
_JAVA_INT_MAX = 2**31 - 1


def product_mismatch(
    query: Mapping[str, Any],
    *,
    current: int | None,
    average: int | None,
    sales_rank: int | None,
    rating: int | None,
    categories: Sequence[int],
) -> str:
    """Why a product no longer matches a /deal selection's ranges, in a reseller's words ("" if
    it matches).

    `current` and `average` are the selection's price type's current value and its average over
    the selection's dateRange (a /product look-up with `stats`, see DATE_RANGE_STATS_DAYS);
    None where Keepa has none. Checked as /deal checks them (docs/keepa.md §4.2): the price
    range, the sales rank range, the minimum rating, that the price dropped below its average
    (a deal is a drop; a rise with isRisers), the drop's amount and percentage, and the
    categories. The boolean filters (isLowest, isOutOfStock, ...) and titleSearch are not
    checked: a product look-up does not carry what they test.
    """
    price_type = int(query["priceTypes"][0])
    name = wire.PRICE_TYPE_NAMES.get(price_type, "price").lower()
    ranged = query.get("isRangeEnabled", True) is not False
    filtered = query.get("isFilterEnabled", True) is not False
    if current is None:
        return f"no {name} offer: sold out"
    if ranged and (span := query.get("currentRange")):
        low, high = span
        if current < low:
            return f"price {_money(current)} below the query's {_money(low)} minimum"
        if current > high:
            return f"price {_money(current)} above the query's {_money(high)} maximum"
    if ranged and (span := query.get("salesRankRange")):
        low, high = span
        if sales_rank is None:
            return "no sales rank"
        if sales_rank < low or (high != _NO_RANK_MAXIMUM and sales_rank > high):
            upper = "no maximum" if high == _NO_RANK_MAXIMUM else f"{high:,}"
            return f"sales rank {sales_rank:,} outside {low:,}-{upper}"
    min_rating = query.get("minRating")
    if (
        filtered
        and min_rating is not None
        and min_rating > 0
        and (rating is None or rating < min_rating)
    ):
        shown = "no rating" if rating is None else f"rating {rating / 10:.1f}"
        return f"{shown} below the query's {min_rating / 10:.1f} minimum"
    if average is None:
        return f"no {name} average to compare with"
    delta = average - current
    risers = filtered and query.get("isRisers") is True
    if (delta >= 0) if risers else (delta <= 0):
        direction = "above" if risers else "below"
        return f"price {_money(current)} no longer {direction} its average {_money(average)}"
    if ranged and (span := query.get("deltaRange")):
        low, high = span
        if not low <= delta <= high:
            return (
                f"drop of {_money(delta)} outside the query's "
                f"{_money(low)}-{_money(high)} drop range"
            )
    if ranged and (span := query.get("deltaPercentRange")):
        low, high = span
        # Keepa's deltaPercent: rounded half up, at most 99 (a drop to nothing).
        percent = min(99, math.floor(100 * delta / average + 0.5)) if average > 0 else 0
        if percent < low and high >= _JAVA_INT_MAX:
            return f"{percent} % below average, under the query's {low} % minimum"
        if not low <= percent <= high:
            return f"{percent} % below average, outside the query's {low}-{high} % range"
    include = set(query.get("includeCategories") or ())
    exclude = set(query.get("excludeCategories") or ())
    if include and not include & set(categories):
        return "no longer in the query's categories"
    if exclude & set(categories):
        return "now in an excluded category"
    return ""


def _money(cents: int) -> str:
    """$301 for 30100, $31.50 for 3150 (amounts in the smallest currency unit)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}" if not part else f"{sign}${whole:,}.{part:02d}"
