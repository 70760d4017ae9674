"""update_recent_deals: sweep Keepa's /deal results, upsert what changed, enrich via /product.

The one home of the upserter: the django-q2 task, `manage.py refresh_deals` and the
dashboard's Refresh button all call `run()`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deals.columns import COMPUTED, recompute, recompute_asins
from deals.config import ConfigError, DealsConfig, load_config
from deals.keepa import make_client, redact_error
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
from keepa_client.errors import KeepaError
from keepa_client.models import Deal as KeepaDeal
from keepa_client.models import Product

log = logging.getLogger(__name__)

LOCK_NAME = "update_recent_deals"
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
MAX_ASINS_PER_CALL = 100
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


class BudgetExhausted(Exception):
    """The next call would spend tokens below the configured reserve."""


@dataclass
class Budget:
    """Tokens a run may still spend, from the balance Keepa reported last."""

    client: Any
    reserve: int
    spent: int = 0

    @property
    def left(self) -> int:
        return self.client.tokens.tokens_left if self.client.tokens else 0

    def spare(self, headroom: int = 0) -> int:
        return self.left - self.reserve - headroom

    def check(self, cost: int) -> None:
        if self.spare() < cost:
            raise BudgetExhausted(
                f"token budget reached: {self.left} tokens left, reserve {self.reserve}, "
                f"next call needs {cost}"
            )

    def record(self) -> None:
        if self.client.tokens:
            self.spent += self.client.tokens.tokens_consumed


@dataclass
class Counts:
    pages: int = 0
    deals_seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    price_drops: int = 0
    enriched: int = 0
    newest_last_update: Any = None
    seen: set[str] = field(default_factory=set)


def run(*, trigger: str = "schedule", full: bool | None = None, client: Any = None) -> SyncRun:
    """Run one update unless another holds the lock; return the recorded SyncRun."""
    owner = JobLock.owner_token()
    if not JobLock.acquire(LOCK_NAME, owner, LOCK_TTL):
        now = timezone.now()
        return SyncRun.objects.create(
            kind=SyncRun.Kind.UPDATE,
            trigger=trigger,
            status=SyncRun.Status.SKIPPED,
            started_at=now,
            finished_at=now,
            note="already running",
        )
    try:
        return _run_locked(trigger=trigger, full=full, client=client)
    finally:
        JobLock.release(LOCK_NAME, owner)


def _run_locked(*, trigger: str, full: bool | None, client: Any) -> SyncRun:
    # Holding the lock, no other update can be running: a "running" row is a dead run's.
    SyncRun.objects.updates().filter(status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.FAILED,
        finished_at=timezone.now(),
        error="interrupted: the process running it stopped mid-run",
    )
    sync = SyncRun.objects.create(kind=SyncRun.Kind.UPDATE, trigger=trigger)
    try:
        config = load_config()
    except ConfigError as exc:
        sync.finish(SyncRun.Status.FAILED, error=str(exc))
        return sync
    client = client or make_client(config.domain_id)
    updater = Updater(sync, config, client)
    status, error = SyncRun.Status.OK, ""
    try:
        updater.start()
        updater.sweep(full)
        updater.enrich()
    except BudgetExhausted as exc:
        status, error = SyncRun.Status.PARTIAL, ""
        updater.notes.append(str(exc))
    except KeepaError as exc:
        status = SyncRun.Status.PARTIAL if updater.did_work else SyncRun.Status.FAILED
        error = redact_error(exc)
        log.warning("update run %s stopped: %s", sync.pk, error)
    except Exception as exc:
        status = SyncRun.Status.PARTIAL if updater.did_work else SyncRun.Status.FAILED
        error = redact_error(exc)
        log.exception("update run %s failed", sync.pk)
    if status == SyncRun.Status.OK and updater.left_undone:
        status = SyncRun.Status.PARTIAL
    updater.finish(status, error)
    return sync


class Updater:
    def __init__(self, sync: SyncRun, config: DealsConfig, client: Any) -> None:
        self.sync = sync
        self.config = config
        self.client = client
        self.budget = Budget(client, config.token_reserve)
        self.counts = Counts()
        self.notes: list[str] = []
        self.left_undone = False
        self.sweep_complete = False

    @property
    def did_work(self) -> bool:
        return self.counts.pages > 0 or self.counts.enriched > 0

    def start(self) -> None:
        if self.client.tokens is None:
            self.client.token_status()  # free: learn the balance before spending any

    # -- sweep ----------------------------------------------------------------------------

    def sweep(self, full: bool | None) -> None:
        now = timezone.now()
        last_sweep = (
            SyncRun.objects.updates()
            .filter(pages__gt=0, started_at__gt=now - DEAL_CACHE)
            .exclude(pk=self.sync.pk)
            .exists()
        )
        if last_sweep:
            self.notes.append("sweep skipped: Keepa caches /deal results for 120 s")
            return
        watermark = None
        if full is None:
            last_full = SyncRun.objects.last_complete_sweep(full=True)
            full = last_full is None or last_full.started_at < now - timedelta(
                minutes=self.config.full_sweep_every_minutes
            )
        if not full:
            last = SyncRun.objects.last_complete_sweep(full=False)
            if last is None or last.newest_last_update is None:
                full = True
            else:
                watermark = last.newest_last_update - WATERMARK_OVERLAP
        self.sync.full_sweep = full
        self.sync.save(update_fields=["full_sweep"])

        # Newest first, so an incremental sweep can stop at the watermark.
        selection = {**self.config.deal_query, "sortType": 1}
        page = 0
        while True:
            self.budget.check(self.client.estimate_deal_cost(1))
            result = self.client.deals(selection, page=page)
            self.budget.record()
            self.counts.pages += 1
            self.apply_deals(result.deals)
            if result.is_last or page >= 66:  # 67 pages x 150 reach Keepa's 10,000 cap
                break
            if watermark is not None and all(
                d.last_update is not None and d.last_update < watermark for d in result.deals
            ):
                break
            page += 1
        self.sweep_complete = True

    def apply_deals(self, deals: Iterable[KeepaDeal]) -> None:
        """Upsert one page of deal objects in one short transaction."""
        now = timezone.now()
        by_asin = {d.asin: d for d in deals if d.asin}
        if not by_asin:
            return
        counts = self.counts
        counts.deals_seen += len(by_asin)
        counts.seen.update(by_asin)
        existing = {
            row["asin"]: row
            for row in Deal.objects.filter(asin__in=list(by_asin)).values(
                "asin", *DEAL_SHOWN_FIELDS, "enrich_priority", "enrich_requested_at"
            )
        }
        changed_rows, quiet_rows, events = [], [], []
        for asin, item in by_asin.items():
            values = self.deal_values(item)
            if item.last_update and (
                counts.newest_last_update is None or item.last_update > counts.newest_last_update
            ):
                counts.newest_last_update = item.last_update
            old = existing.get(asin)
            if old is None:
                counts.inserted += 1
                changed_rows.append(
                    Deal(
                        asin=asin,
                        **values,
                        first_seen_utc=now,
                        last_seen_utc=now,
                        changed_at=now,
                        enrich_priority=EnrichPriority.NEW,
                        enrich_requested_at=now,
                    )
                )
                events.append(
                    DealEvent(
                        asin=asin,
                        kind=DealEvent.Kind.ENTERED,
                        field="now_price",
                        new_value=values["now_price"],
                        at=now,
                        run=self.sync,
                    )
                )
                continue
            diffs = [f for f in DEAL_SHOWN_FIELDS if old[f] != values[f]]
            row = Deal(asin=asin, **values, first_seen_utc=now, last_seen_utc=now, changed_at=now)
            if not diffs:
                counts.unchanged += 1
                quiet_rows.append(row)
                continue
            counts.updated += 1
            priority, requested = old["enrich_priority"], old["enrich_requested_at"]
            if "now_price" in diffs:
                if old["now_price"] is not None and values["now_price"] is not None:
                    counts.price_drops += values["now_price"] < old["now_price"]
                # Same seller or another: the offers look-up tells who sells at the new price.
                if priority < EnrichPriority.PRICE_CHANGED:
                    priority, requested = EnrichPriority.PRICE_CHANGED, now
            row.enrich_priority, row.enrich_requested_at = priority, requested
            changed_rows.append(row)
            events.extend(
                DealEvent(
                    asin=asin,
                    kind=DealEvent.Kind.CHANGED,
                    field=f,
                    old_value=old[f],
                    new_value=values[f],
                    at=now,
                    run=self.sync,
                )
                for f in diffs
            )
        with transaction.atomic():
            Deal.objects.upsert_by_asin(
                changed_rows,
                [*_SWEEP_FIELDS, "changed_at", "enrich_priority", "enrich_requested_at"],
            )
            Deal.objects.upsert_by_asin(quiet_rows, _SWEEP_FIELDS)
            DealEvent.objects.bulk_create(events, batch_size=500)
            # Same transaction: the dashboard never shows a new price with the old profit.
            recompute_asins([row.asin for row in changed_rows], self.config)

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
        for _ in range(MAX_ENRICH_CALLS_PER_RUN):
            queue = Deal.objects.enrichment_queue(stale_before)
            head = list(queue.values_list("asin", "enrich_priority")[:MAX_ASINS_PER_CALL])
            if not head:
                return
            if head[0][1] > EnrichPriority.STALE:
                head = [item for item in head if item[1] > EnrichPriority.STALE]
                affordable = self.budget.spare() // per_asin
            else:
                affordable = self.budget.spare(STALE_ENRICH_HEADROOM) // per_asin
            if affordable < 1:
                if head[0][1] > EnrichPriority.STALE:
                    self.left_undone = True
                    self.notes.append(
                        f"{queue.filter(enrich_priority__gt=EnrichPriority.STALE).count()} "
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
        self.learn_seller_names({o.seller_id for o in cheapest.values() if o and o.seller_id})
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
                if diffs:
                    deal.changed_at = now
                deal.product_snapshot = product_snapshot(product.raw)
            recompute(rows, COMPUTED, self.config)
            Deal.objects.bulk_update(
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
                batch_size=100,
            )
            DealEvent.objects.bulk_create(events, batch_size=500)
        self.counts.enriched += len(by_asin)

    def learn_seller_names(self, seller_ids: set[str]) -> None:
        """Fetch names of sellers not seen before (1 token each), as far as the budget allows."""
        known = set(
            Seller.objects.filter(seller_id__in=seller_ids).values_list("seller_id", flat=True)
        )
        unknown = sorted(seller_ids - known)[: max(0, self.budget.spare())][:100]
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

    # -- bookkeeping ----------------------------------------------------------------------

    def finish(self, status: str, error: str) -> None:
        c = self.counts
        tokens = self.client.tokens
        self.sync.finish(
            status,
            error=error,
            sweep_complete=self.sweep_complete,
            newest_last_update=c.newest_last_update,
            pages=c.pages,
            deals_seen=c.deals_seen,
            inserted=c.inserted,
            updated=c.updated,
            unchanged=c.unchanged,
            price_drops=c.price_drops,
            enriched=c.enriched,
            tokens_spent=self.budget.spent,
            tokens_left=tokens.tokens_left if tokens else None,
            refill_rate=tokens.refill_rate if tokens else None,
            note="; ".join(self.notes),
        )
