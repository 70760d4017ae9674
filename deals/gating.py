"""Whether the user may sell a deal (`gated`), from their own restricted list.

Amazon's restriction check needs the seller's own SP-API credentials, which the app does not
have. So the answer comes from rules the user keeps (deals.models.Restriction): ASINs,
brands or publishers, and categories they may not sell, plus ASINs they marked either way.
An ASIN mark wins over everything; then a brand or a category on the list says "yes". When
no rule speaks the answer stays "unknown" — never "no", which only the user's own mark
gives.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from deals.models import MARKED_GATED, MARKED_SELLABLE, Deal, DealEvent, Gated, Restriction

APPLY_CHUNK = 2000
MAX_IMPORT_ROWS = 20000


@dataclass(frozen=True)
class Rules:
    asins: dict[str, bool] = field(default_factory=dict)
    brands: frozenset[str] = frozenset()
    category_ids: frozenset[int] = frozenset()
    category_names: frozenset[str] = frozenset()

    @classmethod
    def load(cls) -> Rules:
        asins: dict[str, bool] = {}
        brands, ids, names = set(), set(), set()
        for kind, value, gated in Restriction.objects.values_list("kind", "value", "gated"):
            if kind == Restriction.Kind.ASIN:
                asins[value] = gated
            elif not gated:
                continue  # only an ASIN can be marked "not gated"
            elif kind == Restriction.Kind.BRAND:
                brands.add(value)
            elif value.isdigit():
                ids.add(int(value))
            else:
                names.add(value)
        return cls(asins, frozenset(brands), frozenset(ids), frozenset(names))


# The rules are read once per job run: the compute functions get the run's settings object,
# so it keys the cache (a rule saved in the app re-applies itself at once, see `apply`).
_loaded: tuple[Any, Rules] | None = None


def rules_for(config: Any) -> Rules:
    global _loaded
    if _loaded is None or _loaded[0] is not config:
        _loaded = (config, Rules.load())
    return _loaded[1]


def status(deal: Any, rules: Rules) -> tuple[str, str]:
    """(gated, reason) for a stored deal under `rules`."""
    mark = rules.asins.get(deal.asin)
    if mark is not None:
        return (Gated.YES, MARKED_GATED) if mark else (Gated.NO, MARKED_SELLABLE)
    snapshot = deal.product_snapshot or {}
    for key in ("brand", "manufacturer"):
        name = str(snapshot.get(key) or "").strip().lower()
        if name and name in rules.brands:
            what = "publisher" if key == "manufacturer" else "brand"
            return Gated.YES, f"{what} {name!r} is on your restricted list"
    ids = {deal.root_category, *(deal.categories or ()), *(snapshot.get("categories") or ())}
    tree = snapshot.get("categoryTree") or ()
    ids |= {c.get("catId") for c in tree if isinstance(c, dict)}
    hit = sorted(i for i in ids if isinstance(i, int) and i in rules.category_ids)
    if hit:
        return Gated.YES, f"category {hit[0]} is on your restricted list"
    for c in tree:
        name = str(c.get("name") or "").strip().lower() if isinstance(c, dict) else ""
        if name and name in rules.category_names:
            return Gated.YES, f"category {name!r} is on your restricted list"
    return Gated.UNKNOWN, ""


def normalize(kind: str, value: str) -> str:
    value = " ".join(value.split())
    return value.upper() if kind == Restriction.Kind.ASIN else value.lower()


def mark(asin: str, gated: str) -> Deal | None:
    """One-click mark on a row: "yes", "no", or "unknown" (forget the mark). Returns the
    re-evaluated deal, or None when there is no such deal."""
    value = normalize(Restriction.Kind.ASIN, asin)
    if gated == Gated.UNKNOWN:
        Restriction.objects.filter(kind=Restriction.Kind.ASIN, value=value).delete()
    else:
        Restriction.objects.update_or_create(
            kind=Restriction.Kind.ASIN,
            value=value,
            defaults={"gated": gated == Gated.YES, "note": "marked on the dashboard"},
        )
    apply(asins=[asin])
    return Deal.objects.filter(asin=asin).first()


def apply(asins: Sequence[str] | None = None) -> int:
    """Re-evaluate `gated` for these deals (all when None) under the current rules.

    A changed row gets a DealEvent and moves `changed_at`, so open dashboards update it.
    Returns the number of rows changed.
    """
    rules = Rules.load()
    fields = ("asin", "root_category", "categories", "product_snapshot", "gated", "gated_reason")
    base = Deal.objects.order_by("asin").only(*fields)
    if asins is not None:
        base = base.filter(asin__in=list(asins))
    changed, last = 0, ""
    while True:
        with transaction.atomic():
            rows = list(base.filter(asin__gt=last).select_for_update()[:APPLY_CHUNK])
            if not rows:
                return changed
            now = timezone.now()
            dirty, events = [], []
            for deal in rows:
                gated, reason = status(deal, rules)
                if (deal.gated, deal.gated_reason) == (gated, reason):
                    continue
                if deal.gated != gated:
                    events.append(
                        DealEvent.row(
                            deal.asin,
                            DealEvent.Kind.CHANGED,
                            field="gated",
                            old=deal.gated,
                            new=str(gated),
                            at=now,
                            run_id=None,
                        )
                    )
                deal.gated, deal.gated_reason, deal.changed_at = gated, reason, now
                dirty.append(deal)
            Deal.objects.update_rows(dirty, ["gated", "gated_reason", "changed_at"])
            DealEvent.objects.write(events)
            changed += len(dirty)
            last = rows[-1].asin


class RestrictedListError(ValueError):
    """A restricted-list CSV that cannot be read; the message names the line."""


def parse_csv(text: str, default_kind: str = "") -> list[tuple[str, str, bool, str]]:
    """(kind, value, gated, note) rows from a CSV: a header with `kind` and `value` (and
    optionally `gated` yes/no and `note`), or one value a line with `default_kind`."""
    kinds = {k.value for k in Restriction.Kind}
    reader = csv.reader(io.StringIO(text))
    rows = [r for r in reader if any(cell.strip() for cell in r)]
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    if "value" in header:
        index = {
            name: header.index(name)
            for name in ("kind", "value", "gated", "note")
            if name in header
        }
        body = rows[1:]
        start = 2
    else:
        if default_kind not in kinds:
            raise RestrictedListError(
                "without a header naming 'kind' and 'value', choose what the lines are"
            )
        index = {"value": 0}
        body, start = rows, 1
    if len(body) > MAX_IMPORT_ROWS:
        raise RestrictedListError(f"at most {MAX_IMPORT_ROWS} lines at a time")
    result = []
    for number, row in enumerate(body, start=start):

        def cell(name: str, row: list[str] = row) -> str:
            i = index.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        kind = cell("kind").lower() or default_kind
        if kind in ("publisher", "manufacturer"):
            kind = Restriction.Kind.BRAND
        if kind not in kinds:
            raise RestrictedListError(
                f"line {number}: kind must be asin, brand or category, not {kind!r}"
            )
        value = normalize(kind, cell("value"))
        if not value or len(value) > 200:
            raise RestrictedListError(f"line {number}: a value of 1 to 200 characters is needed")
        gated_text = cell("gated").lower() or "yes"
        if gated_text not in ("yes", "no", "true", "false", "1", "0"):
            raise RestrictedListError(f"line {number}: gated must be yes or no, not {gated_text!r}")
        gated = gated_text in ("yes", "true", "1")
        if not gated and kind != Restriction.Kind.ASIN:
            raise RestrictedListError(f"line {number}: only an ASIN can be marked not gated")
        result.append((kind, value, gated, cell("note")[:200]))
    return result


def save_rules(rows: Iterable[tuple[str, str, bool, str]]) -> int:
    """Add or replace rules (kind, value, gated, note); returns how many were written."""
    objects = [
        Restriction(kind=k, value=v, gated=g, note=n, created_at=timezone.now())
        for k, v, g, n in rows
    ]
    Restriction.objects.bulk_create(
        objects,
        update_conflicts=True,
        unique_fields=["kind", "value"],
        update_fields=["gated", "note"],
    )
    return len(objects)
