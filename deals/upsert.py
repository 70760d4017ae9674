"""The sweep's write path: one page of /deal objects compared with the stored rows and upserted
in one short transaction, with its events and recomputed columns.

Public beyond the job for the benchmarks and tests: `PageWriter(Run.detached(...))` (or the
`Sweep` that extends it) `.write_page(deals)` is the whole write path of one page, and
`row_values(deal)` the columns derived from one /deal object.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.utils import timezone

from deals import landed, seller_line
from deals.columns import FROM_DEAL, recompute_asins
from deals.jobs import Run
from deals.models import (
    DEAL_SHOWN_FIELDS,
    OFFER_SHOWN_FIELDS,
    Deal,
    DealEvent,
    DealStatus,
    EnrichPriority,
    Seller,
    SellerLine,
)
from deals.verify import OFFERS_OVERDUE_REASON, status_event
from keepa_client.models import Deal as KeepaDeal
from keepa_client.wire import SALES_RANK

# The offer columns once the offer they described is gone.
_CLEARED = {
    "now_total": None,
    "now_seller_id": "",
    "now_seller_name": "",
    "now_condition": None,
    "now_is_fba": None,
}


def _queued(priority: int, requested: datetime | None, now: datetime) -> tuple[int, Any]:
    """A row whose seller line must be looked up again: at least in the queue as stale."""
    if priority >= EnrichPriority.STALE:
        return priority, requested
    return EnrichPriority.STALE, now


# Why a row seen on a page again is listed again, by the status it had.
_RETURN_REASONS = {
    DealStatus.LEFT: "back in Keepa's results: qualifies again",
    DealStatus.UNVERIFIED: "seen in Keepa's results again",
}

# Deal columns refreshed from every /deal object.
SWEEP_FIELDS = (
    *DEAL_SHOWN_FIELDS,
    "categories",
    "price_type",
    "est_source",
    "price_changed_at",
    "keepa_last_update",
    "deal_created_at",
    "deal_snapshot",
    "last_seen_utc",
    # Decision data the /deal object carries (rank drops, used offers…): refreshed by every
    # sweep, changed deal or not, without an event.
    *(column.name for column in FROM_DEAL),
    # Seen on a page: confirmed in Keepa's results (deals/verify.py).
    "verified_at",
)

# ... and, for a new or changed deal, the columns that make the dashboard show the change.
UPSERT_FIELDS = (*SWEEP_FIELDS, "changed_at", "enrich_priority", "enrich_requested_at")


class PageWriter:
    """Upsert pages of /deal objects into the run's counts (added only once a page committed)."""

    def __init__(self, run: Run) -> None:
        self.sync = run.sync
        self.config = run.config
        self.counts = run.counts
        # Oldest Keepa lastUpdate of the pages written (the prune guard's reach past Keepa's
        # cap); the newest stamps per field are the sweep's (deals/ingest.py `Sweep.newest`).
        self.oldest_last_update: datetime | None = None

    def write_page(self, deals: Iterable[KeepaDeal]) -> None:
        """Upsert one page of deal objects in one short transaction."""
        now = timezone.now()
        by_asin = {d.asin: d for d in deals if d.asin}
        if not by_asin:
            return
        self.counts["deals_seen"] += len(by_asin)
        values = {asin: self.row_values(item) for asin, item in by_asin.items()}
        tally: Counter[str] = Counter()
        # Read and write in one transaction (IMMEDIATE on SQLite): a prune or backfill cannot
        # slip in between, so what is compared is what gets overwritten.
        with transaction.atomic():
            existing = {
                row["asin"]: row
                for row in Deal.objects.filter(asin__in=list(by_asin)).values(
                    "asin",
                    *DEAL_SHOWN_FIELDS,
                    *OFFER_SHOWN_FIELDS,
                    "enrich_priority",
                    "enrich_requested_at",
                    "status",
                    "status_reason",
                )
            }
            changed_rows, quiet_rows, events, rises = self.diff(values, existing, now, tally)
            # Seen again: a deal that left, or was missing from a sweep, is listed again. A
            # row waiting too long for its seller stays unverified until the look-up is made.
            returned = [
                (asin, row["status"])
                for asin, row in existing.items()
                if row["status"] == DealStatus.LEFT
                or (
                    row["status"] == DealStatus.UNVERIFIED
                    and row["status_reason"] != OFFERS_OVERDUE_REASON
                )
            ]
            changed_asins = [row["asin"] for row in changed_rows]
            Deal.objects.upsert_by_asin(changed_rows, UPSERT_FIELDS)
            if rises:
                events += self.fall_back(rises, values, existing, now)
            Deal.objects.upsert_by_asin(quiet_rows, SWEEP_FIELDS)
            if returned:
                Deal.objects.filter(asin__in=[asin for asin, _ in returned]).update(
                    status=DealStatus.LISTED, status_reason="", status_at=now, changed_at=now
                )
                events += [
                    status_event(
                        asin, old, DealStatus.LISTED, _RETURN_REASONS[old], now, self.sync.pk
                    )
                    for asin, old in returned
                ]
            DealEvent.objects.write(events)
            # Same transaction: the dashboard never shows a new price with the old profit.
            # (New rows have no product data yet, so nothing to compute for them.)
            recompute_asins([a for a in changed_asins if a in existing], self.config)
        # Committed: only now does the page count, and may its stamps move the prune guard.
        self.counts.update(tally)
        stamps = [item.last_update for item in by_asin.values() if item.last_update]
        if stamps:
            self.oldest_last_update = min([*stamps, self.oldest_last_update or stamps[0]])

    def diff(
        self,
        values: dict[str, dict[str, Any]],
        existing: dict[str, dict[str, Any]],
        now: datetime,
        counts: Counter[str],
    ) -> tuple[list[dict], list[dict], list[dict], list[str]]:
        """Split a page into new or changed rows (with their events) and unchanged rows,
        counting them in `counts`.

        Rows and events are plain dicts (field -> value) for the bulk writer; the last list
        holds the ASINs whose price rose.
        """
        changed_rows: list[dict] = []
        quiet_rows: list[dict] = []
        events: list[dict] = []
        rises: list[str] = []
        seen = {
            "first_seen_utc": now,
            "last_seen_utc": now,
            "changed_at": now,
            "verified_at": now,
            "status_at": now,
        }
        for asin, new in values.items():
            old = existing.get(asin)
            if old is None:
                counts["inserted"] += 1
                changed_rows.append(
                    {
                        "asin": asin,
                        **new,
                        **seen,
                        "enrich_priority": EnrichPriority.NEW,
                        "enrich_requested_at": now,
                    }
                )
                events.append(
                    DealEvent.row(
                        asin,
                        DealEvent.Kind.ENTERED,
                        field="now_price",
                        new=new["now_price"],
                        at=now,
                        run_id=self.sync.pk,
                    )
                )
                continue
            diffs = [f for f in DEAL_SHOWN_FIELDS if old[f] != new[f]]
            row = {"asin": asin, **new, **seen}
            if not diffs:
                counts["unchanged"] += 1
                quiet_rows.append(row)
                continue
            counts["updated"] += 1
            priority, requested = old["enrich_priority"], old["enrich_requested_at"]
            if "now_price" in diffs:
                before, after = old["now_price"], new["now_price"]
                dropped = after is not None and (before is None or after < before)
                counts["price_drops"] += dropped and before is not None
                if dropped and priority < EnrichPriority.PRICE_CHANGED:
                    # Same seller or another: the offers look-up tells who sells at the new
                    # price. Drops are what a reseller buys, so they are worth the tokens.
                    priority, requested = EnrichPriority.PRICE_CHANGED, now
                elif not dropped and old["now_total"] is not None and self.offer_went(new, old):
                    # A rise the landed prices confirm means the cheapest copy went: its offer
                    # no longer stands. The next stored copy stands in (`fall_back`), and the
                    # row is queued like a stale one: the planner looks it up by its value.
                    rises.append(asin)
                    priority, requested = _queued(priority, requested, now)
            elif (
                "est_landed" in diffs
                and old["now_total"] is not None
                and self.offer_went(new, old, item_rose=False)
            ):
                # The item price held but the landed price of the offer's condition rose past
                # it: that copy went (the cheapest item is another seller's, dearer delivered).
                rises.append(asin)
                priority, requested = _queued(priority, requested, now)
            elif (
                "est_landed" in diffs
                and old["now_total"] is not None
                and new["est_landed"] is not None
                and new["est_landed"] < old["now_total"]
                and priority < EnrichPriority.PRICE_CHANGED
            ):
                # The item price held but a copy now costs less delivered than the offer shown
                # (cheaper shipping, or another condition): a drop of the buy price, worth the
                # tokens like any drop, and until then the estimate is the buy price.
                priority, requested = EnrichPriority.PRICE_CHANGED, now
            row["enrich_priority"], row["enrich_requested_at"] = priority, requested
            changed_rows.append(row)
            events.extend(
                DealEvent.row(
                    asin,
                    DealEvent.Kind.CHANGED,
                    field=f,
                    old=old[f],
                    new=new.get(f, _CLEARED.get(f)),
                    at=now,
                    run_id=self.sync.pk,
                )
                for f in diffs
            )
        return changed_rows, quiet_rows, events, rises

    def fall_back(
        self,
        rises: list[str],
        values: dict[str, dict[str, Any]],
        existing: dict[str, dict[str, Any]],
        now: datetime,
    ) -> list[dict]:
        """The seller line of each deal whose cheapest copy went: the next plausible copy of
        the offers stored at its last look-up, marked not re-checked, or none
        (deals/seller_line.py). Return the events of the change."""
        snapshots = dict(
            Deal.objects.filter(asin__in=rises).values_list("asin", "product_snapshot")
        )
        candidates: dict[str, dict[str, Any]] = {}
        for asin in rises:
            new, old = values[asin], existing[asin]
            floor = new["est_landed"] if new["est_landed"] is not None else new["now_price"]
            found = seller_line.stored_candidate(
                snapshots.get(asin),
                new["price_type"],
                floor=floor,
                gone_seller=old["now_seller_id"],
            )
            candidates[asin] = found or {}
        names = dict(
            Seller.objects.filter(
                seller_id__in={c["now_seller_id"] for c in candidates.values() if c}
            ).values_list("seller_id", "name")
        )
        events = []
        for asin, found in candidates.items():
            line = {**_CLEARED, **found}
            if found:
                line["now_seller_name"] = names.get(found["now_seller_id"], "")
            kind = SellerLine.STORED if found else SellerLine.NONE
            Deal.objects.filter(asin=asin).update(**line, seller_line=kind)
            old = existing[asin]
            events += [
                DealEvent.row(
                    asin,
                    DealEvent.Kind.CHANGED,
                    field=f,
                    old=old[f],
                    new=line[f],
                    at=now,
                    run_id=self.sync.pk,
                )
                for f in OFFER_SHOWN_FIELDS
                if old[f] != line[f]
            ]
        return events

    def offer_went(
        self, new: dict[str, Any], old: dict[str, Any], *, item_rose: bool = True
    ) -> bool:
        """Whether the stored cheapest offer is gone, by the landed prices of the new deal.

        `current[2]` is the item price without shipping (docs/keepa.md §3.3): its rise alone
        does not say the cheapest copy went while the landed price of that copy's condition
        still reaches it. Without landed prices in the deal, a rise of the item price is
        taken as the copy gone, as before Keepa's landed prices were read.
        """
        current = (new.get("deal_snapshot") or {}).get("current")
        there = landed.copy_still_there(
            current, new["price_type"], old["now_total"], old["now_condition"]
        )
        return there is False or (there is None and item_rose)

    def row_values(self, item: KeepaDeal) -> dict[str, Any]:
        price_type, date_range = self.config.price_type, self.config.date_range
        since = item.current_since[price_type] if len(item.current_since) > price_type else None
        estimate = landed.estimate(item.current, price_type)
        # What the columns computed from the /deal object read of a row (see FROM_DEAL).
        stored = SimpleNamespace(deal_snapshot=item.raw, price_type=price_type)
        return {
            **{column.name: column.compute(stored, self.config) for column in FROM_DEAL},
            "title": item.title or "",
            "image_url": item.image_url or "",
            "root_category": item.root_cat,
            "categories": list(item.categories or ()),
            "price_type": price_type,
            "now_price": item.current_value(price_type),
            "avg_price": item.avg_value(date_range, price_type),
            "delta_percent": item.delta_percent_value(date_range, price_type),
            "est_landed": estimate.cents,
            "est_source": estimate.source,
            "sales_rank": item.current_value(SALES_RANK),
            "price_changed_at": since,
            "keepa_last_update": item.last_update,
            "deal_created_at": item.creation_date,
            "deal_snapshot": item.raw,
        }
