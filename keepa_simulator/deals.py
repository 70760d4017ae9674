"""/deal: the queryJSON, its validation, filtering and sorting as Keepa does (docs/keepa.md §4)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from keepa_simulator.catalog import ROOT_NAMES
from keepa_simulator.dealview import DealView
from keepa_simulator.series import DEAL_PRICE_TYPES, RATING, SALES

MISSING = "The queryJSON is missing or invalid."
INVALID = "The queryJSON is of invalid format."
PAGE_SIZE = 150
RESULT_CAP = 10_000
# What "deal age, newest first" (sortType 1) sorts by: Keepa documents creationDate as "the
# time this deal was found"; whether its pages follow creationDate or lastUpdate has never
# been observed (docs/keepa.md §4.5), so the simulator serves either.
DEAL_ORDERS = ("creation", "last-update")
DOMAINS = frozenset((1, 2, 3, 4, 5, 6, 8, 9, 10, 11))
INT_MAX = 2**31 - 1
RANGES = ("currentRange", "deltaRange", "deltaPercentRange", "deltaLastRange", "salesRankRange")
FLAGS = (
    "isLowest",
    "isLowest90",
    "isHighest",
    "isLowestOffer",
    "isOutOfStock",
    "isBackInStock",
    "hasReviews",
    "filterErotic",
    "isPrimeExclusive",
    "mustHaveAmazonOffer",
    "mustNotHaveAmazonOffer",
    "isRisers",
)


class QueryError(Exception):
    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(frozen=True)
class DealQuery:
    cache_key: str
    page: int
    domain: int
    price_type: int
    date_range: int
    sort_type: int
    ranges: dict[str, tuple[int, int]]
    flags: frozenset[str]
    min_rating: int
    warehouse_conditions: frozenset[int]
    include: frozenset[int]
    exclude: frozenset[int]
    title_words: tuple[str, ...]


def parse(raw: str | bytes | None) -> DealQuery:
    """Validate a queryJSON as Keepa does; raise QueryError with Keepa's message and details."""
    if raw is None or not raw.strip():
        raise QueryError(MISSING, "")
    try:
        obj = json.loads(raw)
    except ValueError:
        raise QueryError(MISSING, "") from None
    if not isinstance(obj, dict):
        raise QueryError(MISSING, "")

    domain = _int(obj, "domainId", None)
    if domain not in DOMAINS:
        raise QueryError(INVALID, "domainId")
    price_types = obj.get("priceTypes")
    # A bare number is accepted: the `keepa` PyPI client sends `"priceTypes": 0`.
    if not isinstance(price_types, list):
        price_types = [price_types]
    if len(price_types) != 1:
        raise QueryError(INVALID, "priceTypes")
    price_type = _as_int(price_types[0], "priceTypes")
    if price_type not in DEAL_PRICE_TYPES:
        raise QueryError(INVALID, "priceTypes")
    date_range = _int(obj, "dateRange", 0)
    if date_range not in (0, 1, 2, 3):
        raise QueryError(INVALID, "dateRange")
    page = _int(obj, "page", 0)
    if page < 0:
        raise QueryError(INVALID, "page")
    sort_type = _int(obj, "sortType", 0)
    if abs(sort_type) > 4:
        raise QueryError(INVALID, "sortType")

    # Leniency: with the switch absent, a range or filter that is present applies.
    ranges: dict[str, tuple[int, int]] = {}
    if _bool(obj, "isRangeEnabled", True):
        for name in RANGES:
            span = _range(obj, name)
            if span is not None:
                ranges[name] = span
    flags: set[str] = set()
    min_rating = -1
    warehouse: frozenset[int] = frozenset()
    if _bool(obj, "isFilterEnabled", True):
        flags = {name for name in FLAGS if _bool(obj, name, False)}
        min_rating = _int(obj, "minRating", -1)
        warehouse = frozenset(_int_list(obj, "warehouseConditions"))
    title = obj.get("titleSearch") or ""
    if not isinstance(title, str):
        raise QueryError(INVALID, "titleSearch")
    key_fields = {k: v for k, v in obj.items() if k != "page"}
    return DealQuery(
        cache_key=json.dumps(key_fields, sort_keys=True, separators=(",", ":")),
        page=page,
        domain=domain,
        price_type=price_type,
        date_range=date_range,
        sort_type=sort_type,
        ranges=ranges,
        flags=frozenset(flags),
        min_rating=min_rating,
        warehouse_conditions=warehouse,
        include=frozenset(_int_list(obj, "includeCategories")),
        exclude=frozenset(_int_list(obj, "excludeCategories")),
        title_words=tuple(title.lower().split()),
    )


def _as_int(value: object, field: str) -> int:
    # Keepa accepts numbers sent as strings ("domainId":"1", "dateRange":"3"; OBS fixtures 2, 3).
    if isinstance(value, bool):
        raise QueryError(INVALID, field)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise QueryError(INVALID, field)


def _int(obj: dict, field: str, default: int | None) -> int:
    value = obj.get(field)
    if value is None:
        if default is None:
            raise QueryError(INVALID, field)
        return default
    return _as_int(value, field)


def _bool(obj: dict, field: str, default: bool) -> bool:
    value = obj.get(field)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return value in (1, "1")
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise QueryError(INVALID, field)


def _range(obj: dict, field: str) -> tuple[int, int] | None:
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise QueryError(INVALID, field)
    low, high = (_as_int(v, field) for v in value)
    if field == "salesRankRange" and high == -1:
        high = INT_MAX  # -1 as the upper bound means "no maximum" (DOC)
    return low, high


def _int_list(obj: dict, field: str) -> list[int]:
    value = obj.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise QueryError(INVALID, field)
    return [_as_int(v, field) for v in value]


@dataclass
class DealResult:
    deals: list[DealView]  # sorted, capped at RESULT_CAP
    categories: list[tuple[int, str, int]]  # (root id, name, count) of all matches


def run(query: DealQuery, views: Iterable[DealView], order: str = "creation") -> DealResult:
    """Every listed deal matching ``query``, in Keepa's order; ``order`` is what sortType 1
    ("deal age") sorts by, one of DEAL_ORDERS."""
    t = query.price_type
    r = query.date_range
    ranges = query.ranges
    current_range = ranges.get("currentRange")
    delta_range = ranges.get("deltaRange")
    percent_range = ranges.get("deltaPercentRange")
    last_range = ranges.get("deltaLastRange")
    rank_range = ranges.get("salesRankRange")
    flags = query.flags
    out_of_stock = "isOutOfStock" in flags
    risers = "isRisers" in flags
    min_rating = query.min_rating
    include, exclude = query.include, query.exclude
    words = query.title_words
    warehouse = query.warehouse_conditions
    roots: Counter[int] = Counter()
    matches: list[DealView] = []
    if query.domain != 1:
        return DealResult([], [])  # the simulated market is amazon.com only
    low, high = current_range or (-(2**63), 2**63)
    rank_low, rank_high = rank_range or (0, 2**63)
    for v in views:
        # Cheapest tests first: this loop runs over every listed product.
        values = v.current
        current = values[t]
        if not low <= current <= high:
            continue
        if rank_range and not rank_low <= values[SALES] <= rank_high:
            continue  # a product without a rank (-1) never matches a rank range
        if min_rating > 0 and values[RATING] < min_rating:
            continue
        if out_of_stock:
            # Out-of-stock deals have no current price: listed when the type went out of stock
            # within the last 24 h.
            if not v.out_of_stock_since_a_day(t):
                continue
            delta = percent = 0
        else:
            if current < 0:
                continue
            _, deltas, percents = v.type_arrays(t)
            delta = deltas[r]
            # A deal is a change: the price (or rank) dropped against its average, or rose
            # with isRisers.
            if (delta >= 0) if risers else (delta <= 0):
                continue
            percent = percents[r]
        if delta_range and not delta_range[0] <= delta <= delta_range[1]:
            continue
        if percent_range and not percent_range[0] <= percent <= percent_range[1]:
            continue
        if last_range and not last_range[0] <= v.delta_last[t] <= last_range[1]:
            continue
        if flags and not _flags_hold(v, t, flags):
            continue
        # warehouseConditions only narrows Warehouse deals: the real default query sends
        # [2,3,4,5] with priceTypes [2] and still gets deals without a warehouse offer.
        if t == 9 and warehouse and v.warehouse_condition not in warehouse:
            continue
        if words and not all(word in v.title_lower for word in words):
            continue
        # The category lists count every match, category filters aside (DOC; OBS fixture 2).
        roots[v.root] += 1
        if include and v.root not in include and not any(c in include for c in v.categories):
            continue
        if exclude and (v.root in exclude or any(c in exclude for c in v.categories)):
            continue
        matches.append(v)
    _sort(matches, query, order)
    categories = sorted(
        ((root, ROOT_NAMES.get(root, "?"), n) for root, n in roots.items()),
        key=lambda item: (-item[2], item[0]),
    )
    return DealResult(matches[:RESULT_CAP], categories)


def _flags_hold(v: DealView, t: int, flags: frozenset[str]) -> bool:
    if "filterErotic" in flags and v.adult:
        return False
    if "hasReviews" in flags and not v.has_reviews:
        return False
    if "mustHaveAmazonOffer" in flags and v.current[0] < 0:
        return False
    if "mustNotHaveAmazonOffer" in flags and v.current[0] >= 0:
        return False
    if "isPrimeExclusive" in flags and v.current[33] < 0:
        return False
    if "isBackInStock" in flags and not v.back_in_stock[t]:
        return False
    if "isLowestOffer" in flags:
        # The price is the lowest of all new offers, Amazon's included.
        others = [v.current[i] for i in (0, 1) if v.current[i] >= 0]
        if others and v.current[t] > min(others):
            return False
    if {"isLowest", "isLowest90", "isHighest"} & flags:
        lowest, lowest90, highest = v.flags(t)
        if "isLowest" in flags and not lowest:
            return False
        if "isLowest90" in flags and not lowest90:
            return False
        if "isHighest" in flags and not highest:
            return False
    return True


def _sort(deals: list[DealView], query: DealQuery, order: str) -> None:
    t, r = query.price_type, query.date_range
    kind = abs(query.sort_type)
    descending = query.sort_type > 0
    if kind in (0, 1):
        # Deal age, newest first; not invertible (DOC). "Newest" by creationDate as documented
        # ("the time this deal was found"), or by lastUpdate [assumption]: docs/keepa.md §4.5.
        if order == "last-update":
            deals.sort(key=lambda v: (-v.last_update, v.asin))
        else:
            deals.sort(key=lambda v: (-v.creation_date, v.asin))
    elif kind == 2:
        sign = -1 if descending else 1
        deals.sort(key=lambda v: (sign * v.type_arrays(t)[1][r], v.asin))
    elif kind == 3:
        # Sales rank, best (lowest) first; products without a rank go last either way.
        sign = 1 if descending else -1
        deals.sort(key=lambda v: (v.current[SALES] < 0, sign * v.current[SALES], v.asin))
    else:
        sign = -1 if descending else 1
        deals.sort(key=lambda v: (sign * v.type_arrays(t)[2][r], v.asin))


def categories_json(categories: list[tuple[int, str, int]]) -> dict[str, list]:
    return {
        "categoryCount": [n for _, _, n in categories],
        "categoryIds": [root for root, _, _ in categories],
        "categoryNames": [name for _, name, _ in categories],
    }
