"""Keepa's /deal selection (its queryJSON): the fields it takes, checked the way Keepa checks them.

Facts come from the Keepa reference, §4.2 (Keepa's deal docs, `DealRequest` in its Java client,
observed 400 answers) and §3.4 (domain ids).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
