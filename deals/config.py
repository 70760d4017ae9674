"""settings.json, read and written here only: the deal query, schedules, grace periods, costs.

The file is the user's: a save changes only the text of the value it writes, so the rest of
the file keeps its layout byte for byte, and keeps its permissions.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import asdict, dataclass, field
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
class DealSettings:
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


def load_config(path: Path | str | None = None) -> DealSettings:
    """Read and validate settings.json; raise ConfigError naming the field on any problem."""
    path = Path(path) if path is not None else Path(django_settings.DEALS_SETTINGS_FILE)
    return parse_config(_decode(_read(path), path), path=path)


def _read(path: Path) -> str:
    try:
        # newline="": JSON reads "\r\n" as whitespace, and a save must write the same bytes back.
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
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


def write_seller_costs(costs: SellerCosts, path: Path | str | None = None) -> bool:
    """Store `costs` in settings.json; return False, writing nothing, if it holds them already."""
    path = Path(path) if path is not None else Path(django_settings.DEALS_SETTINGS_FILE)
    text = _read(path)
    # Refuse to rewrite a file that is broken already: the user's error stays theirs to see.
    stored = parse_config(_decode(text, path), path=path).seller_costs
    if costs == stored:
        return False
    value = {k: _plain_number(v) for k, v in asdict(costs).items()}
    parse_seller_costs(value, path.name)
    _replace_file(path, _with_member(text, "seller_costs", value))
    return True


def _plain_number(value: Any) -> Any:
    """50.0 -> 50: whole percentages are written the way a person writes them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_WHITESPACE = json.decoder.WHITESPACE


def _with_member(text: str, key: str, value: Any) -> str:
    """The JSON object `text` with top-level `key` set to `value`; everything else unchanged.

    Only the value's own span is rewritten (found with the decoder's end positions), in the
    layout the file already uses there: indented to match, or on one line if it was.
    """
    decoder = json.JSONDecoder()
    i = _WHITESPACE.match(text, 0).end() + 1  # past the opening "{"
    span = None
    last_end = None
    key_start = None
    while True:
        i = _WHITESPACE.match(text, i).end()
        if text[i] == "}":
            break
        key_start = i
        name, i = json.decoder.scanstring(text, i + 1)
        i = _WHITESPACE.match(text, i).end() + 1  # past ":"
        start = _WHITESPACE.match(text, i).end()
        _, end = decoder.raw_decode(text, start)
        if name == key:
            span = (start, end)  # the last one wins, as it does for json.loads
        last_end = end
        i = _WHITESPACE.match(text, end).end()
        if text[i] == "}":
            break
        i += 1  # past ","
    if span is not None:
        start, end = span
        return text[:start] + _render_like(value, text, start, text[start:end]) + text[end:]
    # Not there yet: append it as a new last member, laid out like the members before it.
    assert key_start is not None and last_end is not None  # deal_query is always there
    line_start = text.rfind("\n", 0, key_start) + 1
    indent = text[line_start:key_start]
    if line_start and not indent.strip():  # one member per line
        newline = "\r\n" if "\r\n" in text else "\n"
        rendered = json.dumps(value, indent=indent or "  ").replace("\n", newline + indent)
        member = f",{newline}{indent}{json.dumps(key)}: {rendered}"
    else:
        member = f", {json.dumps(key)}: {json.dumps(value)}"
    return text[:last_end] + member + text[last_end:]


def _render_like(value: Any, text: str, start: int, old: str) -> str:
    """`value` as JSON, in the layout of `old` (the text found at `start` in `text`)."""
    if "\n" not in old:
        compact = "," in old and ", " not in old and ": " not in old
        return json.dumps(value, separators=(",", ":") if compact else None)
    line_start = text.rfind("\n", 0, start) + 1
    base = text[line_start:start]
    base = base[: len(base) - len(base.lstrip())]
    first_inner = old[old.index("\n") + 1 :]
    inner = first_inner[: len(first_inner) - len(first_inner.lstrip())]
    unit = inner[len(base) :] if inner.startswith(base) and len(inner) > len(base) else "  "
    newline = "\r\n" if "\r\n" in old else "\n"
    return json.dumps(value, indent=unit).replace("\n", newline + base)


def _replace_file(path: Path, text: str) -> None:
    """Write `text` to a sibling and rename it over `path`: a reader never sees half a file."""
    target = path.resolve()  # a symlinked settings.json stays a link to the file it names
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".settings-", suffix=".json")
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot be written ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            # mkstemp makes the file 0600; a worker running as another user must still read it.
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ConfigError(f"{path.name}: cannot be written ({exc.strerror or exc})") from None
        raise


def parse_config(data: Any, *, path: Path = Path("settings.json")) -> DealSettings:
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
    config = DealSettings(**values, path=path)
    if config.full_sweep_every_minutes < config.update_every_minutes:
        raise ConfigError(
            f"{name}: field 'full_sweep_every_minutes' ({config.full_sweep_every_minutes}) "
            f"must not be shorter than 'update_every_minutes' ({config.update_every_minutes})"
        )
    return config


# The seller's costs, declared once: settings.json is checked against these and the Costs form
# is built from them. key: (type, minimum, maximum); int is whole cents, float a percentage.
COST_LIMITS: dict[str, tuple[type, int, int]] = {
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
        if key not in COST_LIMITS:
            raise ConfigError(
                f"{where}.{key}' is unknown (known: {', '.join(sorted(COST_LIMITS))})"
            )
        kind, low, high = COST_LIMITS[key]
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
