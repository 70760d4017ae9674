"""update_recent_deals: sweep Keepa's /deal results, upsert what changed, enrich via /product.

The one home of the upserter: the django-q2 task, `manage.py refresh_deals` and the
dashboard's Refresh button all call `run()`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deals.bulk import insert_rows
from deals.columns import COMPUTED, recompute, recompute_asins
from deals.jobs import Job, Run, run_job
from deals.keepa import Budget, redact_error
from deals.models import (
    DEAL_SHOWN_FIELDS,
    OFFER_SHOWN_FIELDS,
    Deal,
    DealEvent,
    EnrichPriority,
    JobLock,
    Seller,
    SyncRun,
)
from deals.snapshots import product_snapshot
from keepa_client.client import LAST_DEAL_PAGE, MAX_ASINS_PER_REQUEST, KeepaClient
from keepa_client.errors import KeepaError
from keepa_client.models import Deal as KeepaDeal
from keepa_client.models import Product

log = logging.getLogger(__name__)

LOCK_NAME = "update_recent_deals"
UPDATE_TASK = "deals.tasks.update_recent_deals"
# Held from a Refresh click until its run is over, so more clicks queue nothing more; it
# expires by itself if no worker ever runs the task.
REQUEST_CLAIM = "refresh_queued"
REQUEST_CLAIM_TTL = timedelta(seconds=settings.Q_CLUSTER["timeout"] + 60)
# Longer than the django-q2 task timeout, so a live run never loses its lock, and short
# enough that a crashed holder's lock frees itself.
LOCK_TTL = timedelta(seconds=settings.Q_CLUSTER["timeout"] + 60)
# Keepa caches a /deal query's results for 120 s (REFERENCE §4.1): polling sooner pays for
# the same answer.
DEAL_CACHE = timedelta(seconds=120)
# Incremental sweeps re-read a little before the watermark: Keepa's lastUpdate is in whole
# minutes and a product updated while the last sweep was paging may have been missed.
WATERMARK_OVERLAP = timedelta(minutes=15)
OFFERS_PER_LOOKUP = 20  # Keepa's minimum; one page of offers costs 6 tokens per 10 found.
# A run stops itself well inside the django-q2 task timeout, keeping what it did.
RUN_TIME_LIMIT_S = settings.Q_CLUSTER["timeout"] - 90
# Re-checking offers of deals that did not move is optional work: it only uses tokens above
# this headroom, so the next scheduled sweep always finds its pages paid for.
STALE_ENRICH_HEADROOM = 60
MAX_ENRICH_CALLS_PER_RUN = 200

# Offer conditions that can make the query's price type (REFERENCE §3.3 and §5.5).
_USED = frozenset({2, 3, 4, 5})
CONDITIONS_FOR_PRICE_TYPE: dict[int, frozenset[int] | None] = {
    0: frozenset({1}), 1: frozenset({1}), 7: frozenset({1}), 10: frozenset({1}),
    18: frozenset({1}), 8: frozenset({1}), 33: frozenset({1}),
    2: _USED, 32: _USED, 9: _USED,
    19: frozenset({2}), 20: frozenset({3}), 21: frozenset({4}), 22: frozenset({5}),
    5: frozenset({7, 8, 9, 10}), 6: frozenset({6}),
    3: None,
}  # fmt: skip

# The offer columns once the offer they described is gone.
_CLEARED = {
    "now_total": None,
    "now_seller_id": "",
    "now_seller_name": "",
    "now_condition": None,
    "now_is_fba": None,
}

# Deal columns refreshed from every /deal object.
_SWEEP_FIELDS = (
    *DEAL_SHOWN_FIELDS,
    "categories",
    "price_type",
    "price_changed_at",
    "keepa_last_update",
    "deal_created_at",
    "deal_snapshot",
    "last_seen_utc",
)


def request_run() -> tuple[str | None, str]:
    """Queue one manual update for the worker: (task id, message), or (None, why not).

    Of many simultaneous requests exactly one queues: the claim is a conditional UPDATE,
    and the task gives it back when its run is over (`release_run_request`).
    """
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    if JobLock.is_held(LOCK_NAME):
        return None, "A sync is already running — its changes will appear by themselves."
    queued = any(row.func() == UPDATE_TASK for row in OrmQ.objects.all())
    if queued or not JobLock.acquire(REQUEST_CLAIM, JobLock.owner_token(), REQUEST_CLAIM_TTL):
        return None, "A sync is already queued — its changes will appear by themselves."
    return async_task(UPDATE_TASK, "manual"), "Starting the sync…"


def release_run_request() -> None:
    JobLock.objects.filter(name=REQUEST_CLAIM).update(locked_until=timezone.now())


UPDATE_JOB = Job(SyncRun.Kind.UPDATE, LOCK_NAME, LOCK_TTL, time_limit_s=RUN_TIME_LIMIT_S)


def run(
    *, trigger: str = "schedule", full: bool | None = None, client: KeepaClient | None = None
) -> SyncRun:
    """Run one update unless another holds the lock; return the recorded SyncRun.

    `full=None` lets the schedule decide (a full sweep every `full_sweep_every_minutes`);
    True forces a fresh full sweep, False an incremental one. The lock, the run record and
    how an error ends the run are the shared job skeleton's (deals/jobs.py).
    """
    return run_job(UPDATE_JOB, trigger, lambda context: Updater(context).run(full), client=client)


class Updater:
    """One update run's work: the /deal sweep, then the offers look-ups."""

    def __init__(self, run: Run) -> None:
        self.run_context = run
        self.sync = run.sync
        self.config = run.config
        self.counts = run.counts
        self.notes = run.notes
        # Newest and oldest Keepa lastUpdate this run has read.
        self.newest_last_update: datetime | None = None
        self.oldest_last_update: datetime | None = None

    @property
    def client(self) -> KeepaClient:
        return self.run_context.keepa()

    @property
    def budget(self) -> Budget:
        return self.run_context.budget

    def run(self, full: bool | None) -> None:
        # Free, and always fresh: a client reused from an earlier run would still hold that
        # run's last balance, from before Keepa refilled the bucket.
        self.client.token_status()
        self.sweep(full)
        self.enrich()

    def keep_going(self) -> None:
        self.run_context.keep_going()

    # -- sweep ----------------------------------------------------------------------------

    def sweep(self, full: bool | None) -> None:
        """Read /deal pages: the changes since the watermark, then a full sweep when due.

        A full sweep can take several runs on a small plan: its progress is saved after every
        page and the next run resumes there, after reading what changed meanwhile.
        """
        now = timezone.now()
        recently_polled = (
            SyncRun.objects.updates()
            .filter(pages__gt=0, started_at__gt=now - DEAL_CACHE)
            .exclude(pk=self.sync.pk)
            .exists()
        )
        if recently_polled:
            self.notes.append("sweep skipped: Keepa caches /deal results for 120 s")
            return
        watermark = SyncRun.objects.watermark()
        resume = None
        if full is None:
            last_full = SyncRun.objects.last_complete_sweep(full=True)
            cycle_start = now - timedelta(minutes=self.config.full_sweep_every_minutes)
            due = (
                last_full is None
                or (last_full.sweep_started_at or last_full.started_at) < cycle_start
            )
            if due:
                resume = SyncRun.objects.unfinished_full_sweep(since=cycle_start)
        else:
            due = full
        if watermark is None:
            due = True
        # Newest first, so an incremental pass can stop at the watermark.
        selection = {**self.config.deal_query, "sortType": 1}

        next_page: int | None = 0
        if watermark is not None and full is not True:
            next_page = self.read_pages(selection, 0, watermark=watermark - WATERMARK_OVERLAP)
            # Everything updated since the last watermark has been read: it may move on.
            self.save_progress(newest_last_update=self.newest_last_update)
        if not due:
            return
        self.sync.full_sweep = True
        if next_page is None:
            # The incremental pass read to the end of the list: that is a whole sweep.
            self.sync.sweep_started_at = now
            self.save_progress(sweep_complete=True, next_page=None)
            return
        if resume is not None:
            # No page of overlap: deals leaving the list can shift a few others past the
            # boundary unseen, which costs them one "seen" bump, not a price; changed deals
            # move to the front, where the incremental pass reads them.
            start = max(resume.next_page, next_page)
            self.sync.sweep_started_at = resume.sweep_started_at
            self.notes.append(f"full sweep resumed at page {start}")
        else:
            start = next_page
            self.sync.sweep_started_at = now
        self.save_progress(next_page=start)
        # A fresh sweep from page 0 sees the newest deals first; the watermark may follow it
        # at once, because the rest of the list is covered by this sweep or its resumption.
        self.read_pages(selection, start, watermark=None, full=True, newest_from_start=start == 0)
        self.save_progress(sweep_complete=True, next_page=None)

    def read_pages(
        self,
        selection: dict[str, Any],
        page: int,
        *,
        watermark: datetime | None,
        full: bool = False,
        newest_from_start: bool = False,
    ) -> int | None:
        """Read pages from `page` on; return the next page to read, or None at the list's end."""
        previous_oldest = None
        first = page
        while True:
            self.keep_going()
            self.budget.check(self.client.estimate_deal_cost(1))
            result = self.client.deals(selection, page=page)
            self.budget.record()
            self.counts["pages"] += 1
            self.apply_deals(result.deals)
            stamps = [d.last_update for d in result.deals if d.last_update is not None]
            out_of_order = any(a < b for a, b in pairwise(stamps)) or (
                stamps and previous_oldest is not None and max(stamps) > previous_oldest
            )
            if out_of_order:
                # sortType 1 should list the most recently updated first; if Keepa's order
                # says otherwise, the watermark cannot be trusted: read on to the end.
                if watermark is not None:
                    log.warning("Keepa's deal order is not by lastUpdate; reading every page")
                    self.notes.append("deal order not by lastUpdate: read every page")
                watermark = None
            previous_oldest = min(stamps) if stamps else previous_oldest
            if full:
                progress: dict[str, Any] = {"next_page": page + 1}
                if newest_from_start and page == first:
                    progress["newest_last_update"] = self.newest_last_update
                self.save_progress(**progress)
            if result.is_last or page >= LAST_DEAL_PAGE:
                if not result.is_last:
                    self.sync.capped = True
                    self.notes.append("Keepa's 10,000-deal cap reached")
                return None
            # Newest first: once a page reaches back past the watermark, the rest is older.
            if watermark is not None and stamps and min(stamps) < watermark:
                return page + 1
            page += 1

    def save_progress(self, **fields: Any) -> None:
        """Persist sweep progress at once, so a killed run still counts what it read."""
        for name, value in fields.items():
            setattr(self.sync, name, value)
        SyncRun.objects.filter(pk=self.sync.pk).update(
            pages=self.counts["pages"],
            deals_seen=self.counts["deals_seen"],
            full_sweep=self.sync.full_sweep,
            sweep_started_at=self.sync.sweep_started_at,
            capped=self.sync.capped,
            oldest_last_update=self.oldest_last_update,
            **fields,
        )

    def apply_deals(self, deals: Iterable[KeepaDeal]) -> None:
        """Upsert one page of deal objects in one short transaction."""
        now = timezone.now()
        by_asin = {d.asin: d for d in deals if d.asin}
        if not by_asin:
            return
        self.counts["deals_seen"] += len(by_asin)
        values = {asin: self.deal_values(item) for asin, item in by_asin.items()}
        stamps = [item.last_update for item in by_asin.values() if item.last_update]
        if stamps:
            self.newest_last_update = max([*stamps, self.newest_last_update or stamps[0]])
            self.oldest_last_update = min([*stamps, self.oldest_last_update or stamps[0]])
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
                )
            }
            changed_rows, quiet_rows, events, rises = self.diff(values, existing, now)
            changed_asins = [row["asin"] for row in changed_rows]
            if rises:
                Deal.objects.filter(asin__in=rises).update(**_CLEARED)
            Deal.objects.upsert_by_asin(
                changed_rows,
                [*_SWEEP_FIELDS, "changed_at", "enrich_priority", "enrich_requested_at"],
            )
            Deal.objects.upsert_by_asin(quiet_rows, _SWEEP_FIELDS)
            insert_rows(DealEvent, events)
            # Same transaction: the dashboard never shows a new price with the old profit.
            # (New rows have no product data yet, so nothing to compute for them.)
            recompute_asins([a for a in changed_asins if a in existing], self.config)

    def diff(
        self, values: dict[str, dict[str, Any]], existing: dict[str, dict[str, Any]], now: datetime
    ) -> tuple[list[dict], list[dict], list[dict], list[str]]:
        """Split a page into new or changed rows (with their events) and unchanged rows.

        Rows and events are plain dicts (field -> value) for the bulk writer; the last list
        holds the ASINs whose price rose.
        """
        counts = self.counts
        changed_rows: list[dict] = []
        quiet_rows: list[dict] = []
        events: list[dict] = []
        rises: list[str] = []
        seen = {"first_seen_utc": now, "last_seen_utc": now, "changed_at": now}
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
                    self.event(
                        asin, DealEvent.Kind.ENTERED, "now_price", None, new["now_price"], now
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
                elif not dropped and old["now_total"] is not None:
                    # A rise means the cheapest copy went: its offer no longer stands, and
                    # nobody buys into a rise, so no tokens go on it until the row is stale.
                    rises.append(asin)
                    diffs += [f for f in OFFER_SHOWN_FIELDS if old[f] not in (None, "")]
            row["enrich_priority"], row["enrich_requested_at"] = priority, requested
            changed_rows.append(row)
            events.extend(
                self.event(
                    asin, DealEvent.Kind.CHANGED, f, old[f], new.get(f, _CLEARED.get(f)), now
                )
                for f in diffs
            )
        return changed_rows, quiet_rows, events, rises

    def event(
        self, asin: str, kind: str, field: str, old: Any, new: Any, now: datetime
    ) -> dict[str, Any]:
        return {
            "asin": asin,
            "kind": kind,
            "field": field,
            "old_value": old,
            "new_value": new,
            "reason": "",
            "at": now,
            "run_id": self.sync.pk,
        }

    def deal_values(self, item: KeepaDeal) -> dict[str, Any]:
        price_type, date_range = self.config.price_type, self.config.date_range
        since = item.current_since[price_type] if len(item.current_since) > price_type else None
        return {
            "title": item.title or "",
            "image_url": item.image_url or "",
            "root_category": item.root_cat,
            "categories": list(item.categories or ()),
            "price_type": price_type,
            "now_price": item.current_value(price_type),
            "avg_price": item.avg_value(date_range, price_type),
            "delta_percent": item.delta_percent_value(date_range, price_type),
            "sales_rank": item.current_value(3),
            "price_changed_at": since,
            "keepa_last_update": item.last_update,
            "deal_created_at": item.creation_date,
            "deal_snapshot": item.raw,
        }

    # -- enrichment -----------------------------------------------------------------------

    def enrich(self) -> None:
        """Look up offers for queued deals (new, then price-changed, then stale) within budget."""
        stale_before = timezone.now() - timedelta(hours=self.config.reenrich_after_hours)
        per_asin = self.client.estimate_product_cost(1, offers=OFFERS_PER_LOOKUP)
        waiting = EnrichPriority.PRICE_CHANGED  # new and price-changed deals: the real queue
        for _ in range(MAX_ENRICH_CALLS_PER_RUN):
            self.keep_going()
            queue = Deal.objects.enrichment_queue(stale_before)
            head = list(queue.values_list("asin", "enrich_priority")[:MAX_ASINS_PER_REQUEST])
            if not head:
                return
            if head[0][1] >= waiting:
                head = [item for item in head if item[1] >= waiting]
                affordable = self.budget.spare() // per_asin
            else:
                affordable = self.budget.spare(STALE_ENRICH_HEADROOM) // per_asin
            if affordable < 1:
                if head[0][1] >= waiting:
                    self.run_context.incomplete = True
                    self.notes.append(
                        f"{queue.filter(enrich_priority__gte=waiting).count()} "
                        "deals wait for an offers look-up (token budget)"
                    )
                return
            asins = [asin for asin, _ in head[:affordable]]
            products = self.client.products(
                asins,
                offers=OFFERS_PER_LOOKUP,
                only_live_offers=True,
                stats=90,
                history=False,
            )
            self.budget.record()
            self.apply_products(asins, products)

    def apply_products(self, asins: list[str], products: list[Product]) -> None:
        now = timezone.now()
        by_asin = {p.asin: p for p in products}
        conditions = CONDITIONS_FOR_PRICE_TYPE.get(self.config.price_type)
        cheapest = {
            asin: product.cheapest_live_offer(set(conditions) if conditions else None)
            for asin, product in by_asin.items()
        }
        try:
            self.learn_seller_names({o.seller_id for o in cheapest.values() if o and o.seller_id})
        except KeepaError as exc:
            # Names are a nicety; the offers just paid for must not be thrown away.
            self.notes.append(f"seller names not fetched: {redact_error(exc)}")
        names = dict(
            Seller.objects.filter(
                seller_id__in={o.seller_id for o in cheapest.values() if o}
            ).values_list("seller_id", "name")
        )
        # Read, compute and write in one transaction, so nothing written meanwhile is lost.
        with transaction.atomic():
            rows = list(Deal.objects.filter(asin__in=asins))
            events = []
            for deal in rows:
                product = by_asin.get(deal.asin)
                was_waiting = deal.enrich_priority >= EnrichPriority.PRICE_CHANGED
                deal.enrich_priority = EnrichPriority.NONE
                deal.enrich_requested_at = None
                deal.enriched_at = now
                if product is None:
                    continue  # Keepa knows no such product now; try again when it is stale
                offer = cheapest.get(deal.asin)
                new = {
                    "now_total": offer.total if offer else None,
                    "now_seller_id": (offer.seller_id or "") if offer else "",
                    "now_seller_name": names.get(offer.seller_id, "") if offer else "",
                    "now_condition": offer.condition if offer else None,
                    "now_is_fba": offer.is_fba if offer else None,
                }
                diffs = [f for f in OFFER_SHOWN_FIELDS if getattr(deal, f) != new[f]]
                for f in diffs:
                    events.append(
                        DealEvent(
                            asin=deal.asin,
                            kind=DealEvent.Kind.CHANGED,
                            field=f,
                            old_value=getattr(deal, f),
                            new_value=new[f],
                            at=now,
                            run=self.sync,
                        )
                    )
                    setattr(deal, f, new[f])
                if was_waiting and not diffs:
                    # Nothing shown changed, but the row stops saying "updating…": tell the
                    # dashboard's live poll (it follows events).
                    events.append(
                        DealEvent(
                            asin=deal.asin,
                            kind=DealEvent.Kind.CHANGED,
                            field="enriched",
                            at=now,
                            run=self.sync,
                        )
                    )
                if diffs or was_waiting:
                    deal.changed_at = now
                deal.product_snapshot = product_snapshot(product.raw)
            recompute(rows, COMPUTED, self.config)
            Deal.objects.update_rows(
                rows,
                [
                    *(column.name for column in COMPUTED),
                    *OFFER_SHOWN_FIELDS,
                    "enrich_priority",
                    "enrich_requested_at",
                    "enriched_at",
                    "changed_at",
                    "product_snapshot",
                ],
            )
            DealEvent.objects.bulk_create(events, batch_size=500)
        self.counts["enriched"] += len(by_asin)

    def learn_seller_names(self, seller_ids: set[str]) -> None:
        """Fetch names of sellers not seen before (1 token each), as far as the budget allows."""
        known = set(
            Seller.objects.filter(seller_id__in=seller_ids).values_list("seller_id", flat=True)
        )
        affordable = max(0, self.budget.spare()) // self.client.estimate_seller_cost(1)
        unknown = sorted(seller_ids - known)[: min(affordable, MAX_ASINS_PER_REQUEST)]
        if not unknown:
            return
        sellers = self.client.sellers(unknown)
        self.budget.record()
        now = timezone.now()
        found = [
            Seller(seller_id=sid, name=s.seller_name or "", fetched_at=now)
            for sid, s in sellers.items()
        ]
        Seller.objects.bulk_create(
            found,
            update_conflicts=True,
            unique_fields=["seller_id"],
            update_fields=["name", "fetched_at"],
        )
