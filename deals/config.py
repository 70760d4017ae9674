"""Load and validate settings.json: the user's deal query, schedules, grace periods, budget."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

# Price types Keepa accepts in a /deal query (REFERENCE §4.2).
DEAL_PRICE_TYPES = {0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 18, 19, 20, 21, 22, 32, 33}
DEAL_DOMAINS = {1, 2, 3, 4, 5, 6, 8, 9, 10, 11}

_BOOL_KEYS = {
    "isFilterEnabled", "isRangeEnabled", "isLowest", "isLowest90", "isLowestOffer", "isHighest",
    "isOutOfStock", "isBackInStock", "hasReviews", "filterErotic", "singleVariation", "isRisers",
    "isPrimeExclusive", "mustHaveAmazonOffer", "mustNotHaveAmazonOffer",
}  # fmt: skip
_RANGE_KEYS = {
    "currentRange",
    "deltaRange",
    "deltaPercentRange",
    "deltaLastRange",
    "salesRankRange",
}
_INT_LIST_KEYS = {"includeCategories", "excludeCategories", "warehouseConditions"}
_STRING_LIST_KEYS = {
    "material", "type", "manufacturer", "brand", "productGroup", "model", "color", "size",
    "unitType", "scent", "itemForm", "pattern", "style", "itemTypeKeyword",
    "targetAudienceKeyword", "edition", "format", "author", "binding", "languages",
    "brandStoreName", "brandStoreUrlName", "websiteDisplayGroup", "websiteDisplayGroupName",
    "salesRankDisplayGroup",
}  # fmt: skip
_OTHER_KEYS = {
    "page",
    "domainId",
    "priceTypes",
    "dateRange",
    "minRating",
    "titleSearch",
    "sortType",
}
DEAL_QUERY_KEYS = _BOOL_KEYS | _RANGE_KEYS | _INT_LIST_KEYS | _STRING_LIST_KEYS | _OTHER_KEYS


class ConfigError(ValueError):
    """settings.json is missing or wrong; the message names the field and the problem."""


@dataclass(frozen=True)
class SellerCosts:
    """What the reseller pays on top of the item: used by the economics columns."""

    prep_fee_cents: int = 50
    inbound_shipping_cents: int = 40
    closing_fee_cents: int = 180  # Amazon's variable closing fee on media (books, music, video)
    sales_tax_percent: float = 0.0
    tax_exempt: bool = False
    target_markup_percent: float = 50.0


@dataclass(frozen=True)
class DealsConfig:
    deal_query: dict[str, Any]
    update_every_minutes: int = 5
    full_sweep_every_minutes: int = 360
    prune_every_hours: int = 6
    stale_after_hours: int = 48
    token_reserve: int = 10
    reenrich_after_hours: int = 24
    event_retention_days: int = 30
    seller_costs: SellerCosts = field(default_factory=SellerCosts)
    path: Path = field(default=Path("settings.json"), compare=False)

    @property
    def price_type(self) -> int:
        return int(self.deal_query["priceTypes"][0])

    @property
    def date_range(self) -> int:
        return int(self.deal_query.get("dateRange", 0))

    @property
    def domain_id(self) -> int:
        return int(self.deal_query["domainId"])


# name: (minimum, maximum) — the bounds are what the jobs can honour, with units in the names.
_INT_FIELDS = {
    "update_every_minutes": (1, 1440),
    "full_sweep_every_minutes": (15, 10080),
    "prune_every_hours": (1, 168),
    # Keepa lists only products it updated in the last ~12 h, so a shorter grace would
    # delete deals that are merely quiet.
    "stale_after_hours": (12, 720),
    "token_reserve": (0, 100_000),
    "reenrich_after_hours": (1, 720),
    "event_retention_days": (1, 365),
}


def load_config(path: Path | str | None = None) -> DealsConfig:
    """Read and validate settings.json; raise ConfigError naming the field on any problem."""
    path = Path(path) if path is not None else Path(django_settings.DEALS_SETTINGS_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path.name}: file not found ({path})") from None
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot be read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path.name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    return parse_config(data, path=path)


def parse_config(data: Any, *, path: Path = Path("settings.json")) -> DealsConfig:
    name = path.name
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: the top level must be a JSON object")
    known = set(_INT_FIELDS) | {"deal_query", "seller_costs"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{name}: unknown field {key!r} (known: {', '.join(sorted(known))})")
    if "deal_query" not in data:
        raise ConfigError(f"{name}: field 'deal_query' is required")
    values: dict[str, Any] = {"deal_query": _validate_deal_query(data["deal_query"], name)}
    if "seller_costs" in data:
        values["seller_costs"] = parse_seller_costs(data["seller_costs"], name)
    for key, (low, high) in _INT_FIELDS.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(
                f"{name}: field {key!r} must be a whole number, got {_json_type(value)}"
            )
        if not low <= value <= high:
            raise ConfigError(
                f"{name}: field {key!r} must be between {low} and {high}, got {value}"
            )
        values[key] = value
    config = DealsConfig(**values, path=path)
    if config.full_sweep_every_minutes < config.update_every_minutes:
        raise ConfigError(
            f"{name}: field 'full_sweep_every_minutes' ({config.full_sweep_every_minutes}) "
            f"must not be shorter than 'update_every_minutes' ({config.update_every_minutes})"
        )
    return config


# name: (type, minimum, maximum)
_COST_FIELDS: dict[str, tuple[type, float, float]] = {
    "prep_fee_cents": (int, 0, 10_000),
    "inbound_shipping_cents": (int, 0, 10_000),
    "closing_fee_cents": (int, 0, 10_000),
    "sales_tax_percent": (float, 0, 30),
    "tax_exempt": (bool, 0, 1),
    "target_markup_percent": (float, 0, 1000),
}


def parse_seller_costs(data: Any, name: str = "settings.json") -> SellerCosts:
    where = f"{name}: field 'seller_costs"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}' must be a JSON object")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _COST_FIELDS:
            raise ConfigError(
                f"{where}.{key}' is unknown (known: {', '.join(sorted(_COST_FIELDS))})"
            )
        kind, low, high = _COST_FIELDS[key]
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{key}' must be true or false, got {_json_type(value)}")
        elif kind is int:
            if not _is_int(value):
                raise ConfigError(
                    f"{where}.{key}' must be a whole number of cents, got {_json_type(value)}"
                )
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}.{key}' must be a number, got {_json_type(value)}")
        if kind is not bool and not low <= value <= high:
            raise ConfigError(f"{where}.{key}' must be between {low} and {high}, got {value}")
        values[key] = float(value) if kind is float else value
    return SellerCosts(**values)


def _validate_deal_query(query: Any, name: str) -> dict[str, Any]:
    where = f"{name}: field 'deal_query"
    if not isinstance(query, dict):
        raise ConfigError(f"{where}' must be a JSON object (Keepa's /deal selection)")
    for key, value in query.items():
        if key not in DEAL_QUERY_KEYS:
            raise ConfigError(f"{where}.{key}' is not a Keepa /deal query field")
        if value is None:
            continue
        if key in _BOOL_KEYS and not isinstance(value, bool):
            raise ConfigError(f"{where}.{key}' must be true or false, got {_json_type(value)}")
        if key in _RANGE_KEYS and not (
            isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value)
        ):
            raise ConfigError(f"{where}.{key}' must be a list of two whole numbers [min, max]")
        if key in _INT_LIST_KEYS and not (
            isinstance(value, list) and all(_is_int(v) for v in value)
        ):
            raise ConfigError(f"{where}.{key}' must be a list of whole numbers")
        if key in _STRING_LIST_KEYS and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise ConfigError(f"{where}.{key}' must be a list of strings")
    query = dict(query)
    # Keepa accepts numbers sent as strings ("domainId": "1"); normalise them here.
    for key in ("domainId", "dateRange", "sortType", "minRating"):
        if (
            key in query
            and isinstance(query[key], str)
            and query[key].strip().lstrip("-").isdigit()
        ):
            query[key] = int(query[key])
    domain = query.get("domainId")
    if domain is None:
        raise ConfigError(f"{where}.domainId' is required (1 = amazon.com)")
    if not _is_int(domain) or domain not in DEAL_DOMAINS:
        raise ConfigError(
            f"{where}.domainId' must be one of {sorted(DEAL_DOMAINS)}, got {domain!r}"
        )
    price_types = query.get("priceTypes")
    if (
        not isinstance(price_types, list)
        or len(price_types) != 1
        or not _is_int(price_types[0])
        or price_types[0] not in DEAL_PRICE_TYPES
    ):
        raise ConfigError(
            f"{where}.priceTypes' must be a list of exactly one of "
            f"{sorted(DEAL_PRICE_TYPES)} (2 = used), got {price_types!r}"
        )
    date_range = query.get("dateRange", 0)
    if not _is_int(date_range) or not 0 <= date_range <= 3:
        raise ConfigError(
            f"{where}.dateRange' must be 0 (day), 1 (week), 2 (month) or 3 (90 days), "
            f"got {date_range!r}"
        )
    sort_type = query.get("sortType")
    if sort_type is not None and (not _is_int(sort_type) or abs(sort_type) not in (0, 1, 2, 3, 4)):
        raise ConfigError(f"{where}.sortType' must be between -4 and 4, got {sort_type!r}")
    title = query.get("titleSearch")
    if title is not None and not isinstance(title, str):
        raise ConfigError(f"{where}.titleSearch' must be a string")
    query.pop("page", None)  # the sweep sets the page itself
    return query


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
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
