"""What the JSON API and the CSV carry beyond the declared columns: what the dashboard shows
around them (who sells the cheapest copy, in what condition, FBA; the status; which buy price
the economics stand on), declared once for both.

Each extra reads plain field values (a `values()` row or a loaded Deal's attributes), so the
CSV can stream them without loading model instances.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from types import SimpleNamespace
from typing import Any

from deals import economics, triage
from deals.columns import COLUMNS, category_name
from deals.formatting import condition_name
from deals.models import Deal, DealStatus

# The stored fields the extras read (besides the columns).
SOURCE_FIELDS = (
    "asin",
    "price_type",
    "now_price",
    "now_total",
    "est_landed",
    "enriched_at",
    "enrich_priority",
    "now_seller_id",
    "now_seller_name",
    "now_condition",
    "now_is_fba",
    "root_category",
    "status",
    "status_reason",
    "status_at",
    "seller_line",
)

CHECKED = "checked"
ESTIMATE = "estimate"


@dataclass(frozen=True)
class Extra:
    name: str  # the API's key
    label: str  # the CSV's heading
    kind: str  # as Column.kind: how the CSV writes it
    value: Callable[[Mapping[str, Any]], Any]


def _checked(row: Mapping[str, Any]) -> bool:
    return Deal.checked(
        row["now_total"], row["enriched_at"], row["enrich_priority"], row["seller_line"]
    )


def _priced(row: Mapping[str, Any]) -> SimpleNamespace:
    """The fields `economics.buy_total` reads, as attributes."""
    return SimpleNamespace(
        now_total=row["now_total"],
        now_price=row["now_price"],
        est_landed=row["est_landed"],
        buy_price_checked=_checked(row),
    )


def _buy_price(row: Mapping[str, Any]) -> int | None:
    return economics.buy_total(_priced(row))


def _mark(row: Mapping[str, Any], name: str) -> Any:
    """A field of the row's triage (deals.models.Triage), None when the reader has none."""
    marks = row.get("triage")
    return getattr(marks, name) if marks is not None else None


def _buy_source(row: Mapping[str, Any]) -> str:
    if _buy_price(row) is None:
        return ""
    return CHECKED if _checked(row) else ESTIMATE


EXTRAS: list[Extra] = [
    Extra("buy_price", "Buy price", "money", _buy_price),
    # "checked": the cheapest offer an offers look-up found; "estimate": the landed estimate
    # (`est_landed`) until then. The economics stand on the same price.
    Extra("buy_price_source", "Buy price is", "text", _buy_source),
    Extra("buy_price_checked", "Buy price checked", "bool", _checked),
    # "checked" (a look-up named the seller), "stored" (the next stored copy after a price
    # rise, not re-checked) or "" (no seller line).
    Extra("seller_line", "Seller line", "text", lambda row: row["seller_line"]),
    Extra("now_seller_name", "Seller", "text", lambda row: row["now_seller_name"]),
    Extra("now_seller_id", "Seller id", "text", lambda row: row["now_seller_id"]),
    Extra("now_condition", "Condition code", "int", lambda row: row["now_condition"]),
    Extra(
        "now_condition_name",
        # Not "Condition": the registry's column of that name heads the CSV already.
        "Condition name",
        "text",
        lambda row: condition_name(row["now_condition"]),
    ),
    Extra("now_is_fba", "FBA", "bool", lambda row: row["now_is_fba"]),
    Extra(
        "category_name", "Category name", "text", lambda row: category_name(row["root_category"])
    ),
    Extra("status", "Status", "text", lambda row: row["status"]),
    # Why a deal left the deals ("sold out", "no longer matches the query"); "" otherwise.
    Extra(
        "left_reason",
        "Left because",
        "text",
        lambda row: row["status_reason"] if row["status"] == DealStatus.LEFT else "",
    ),
    Extra("status_reason", "Status reason", "text", lambda row: row["status_reason"]),
    # When the status last changed (since when a deal is unverified, or when it left).
    Extra("status_at", "Status since", "datetime", lambda row: row["status_at"]),
    # The reader's triage (deals/triage.py), kept by ASIN across prunes. `hidden` is whether
    # it is hidden now: the days may have run out, or the buy price dropped below the sum.
    Extra(
        "hidden",
        "Hidden",
        "bool",
        lambda row: triage.is_hidden(row.get("triage"), _priced(row)),
    ),
    Extra("hidden_until", "Hidden until", "datetime", lambda row: _mark(row, "hidden_until")),
    Extra(
        "hidden_until_below",
        "Hidden until buy price below",
        "money",
        lambda row: _mark(row, "hidden_below_cents"),
    ),
    Extra("note", "Note", "text", lambda row: _mark(row, "note") or ""),
    Extra("watched", "On buy list", "bool", lambda row: bool(_mark(row, "watched"))),
]

# Fields a row needs for the columns and the extras, each once.
ROW_FIELDS = list(dict.fromkeys([*(c.field for c in COLUMNS), *SOURCE_FIELDS]))


def record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One deal as the API returns it: raw column values (cents, ids), then the extras."""
    return {
        **{c.name: row[c.field] for c in COLUMNS},
        **{extra.name: extra.value(row) for extra in EXTRAS},
    }


# Rows whose triage is read in one query (the CSV streams in chunks of this size).
TRIAGE_CHUNK = 2000


def records(rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """`record` of each row, with the reader's triage read once per chunk of rows."""
    rows = iter(rows)
    while chunk := list(islice(rows, TRIAGE_CHUNK)):
        marks = triage.for_asins(row["asin"] for row in chunk)
        for row in chunk:
            yield record({**row, "triage": marks.get(row["asin"])})


def deal_row(deal: Deal) -> dict[str, Any]:
    """A loaded deal as the mapping the extras read."""
    return {name: getattr(deal, name) for name in ROW_FIELDS}
