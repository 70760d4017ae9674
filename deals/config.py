"""Load and validate settings.json: the user's deal query, schedules, grace periods, budget."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

from keepa_client.query import InvalidDealQuery, json_type, validate_deal_query


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
    return parse_config(_decode(_read(path), path), path=path)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path.name}: file not found ({path})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path.name}: not UTF-8 text (byte {exc.start} cannot be decoded)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None


def _decode(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path.name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        # Python refuses integers of more than 4,300 digits (its int-string limit).
        reason = str(exc).split(";")[0]
        raise ConfigError(f"{path.name}: invalid JSON: a number is too long ({reason})") from None
    except RecursionError:
        raise ConfigError(
            f"{path.name}: invalid JSON: lists or objects nested too deeply"
        ) from None


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
                f"{name}: field {key!r} must be a whole number, got {json_type(value)}"
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
                raise ConfigError(f"{where}.{key}' must be true or false, got {json_type(value)}")
        elif kind is int:
            if not _is_int(value):
                raise ConfigError(
                    f"{where}.{key}' must be a whole number of cents, got {json_type(value)}"
                )
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}.{key}' must be a number, got {json_type(value)}")
        if kind is not bool and not low <= value <= high:
            raise ConfigError(f"{where}.{key}' must be between {low} and {high}, got {value}")
        values[key] = float(value) if kind is float else value
    return SellerCosts(**values)


def _validate_deal_query(query: Any, name: str) -> dict[str, Any]:
    try:
        query = validate_deal_query(query)
    except InvalidDealQuery as exc:
        where = f"deal_query.{exc.field}" if exc.field else "deal_query"
        raise ConfigError(f"{name}: field '{where}' {exc.problem}") from None
    query.pop("page", None)  # the sweep sets the page itself
    return query


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
