"""A big, realistic deals table, made quickly.

Real rows first: the upserter fills a small simulated market end to end (sweep and enrichment, so
every row has its deal and product snapshots, offers and economics). Those rows are then cloned
with new ASINs and jittered prices, times and ranks up to the size wanted, with a history of
DealEvents, by `bulk_create`.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from bench.common import Sim, client, log, stopwatch
from deals import ingest
from deals.models import Deal, DealEvent, EnrichPriority, SyncRun

KEY = "bench-fill"
TEMPLATE_PRODUCTS = {"full": 3_000, "quick": 1_500}
BATCH = 2_000


def template_rows(quick: bool) -> list[dict[str, Any]]:
    """Rows written by the real upserter from a small simulated market."""
    sim = Sim(TEMPLATE_PRODUCTS["quick" if quick else "full"], keys=(KEY,))
    try:
        sim.key(KEY, tokens=10**9, refill_rate=0)
        keepa = client(sim, KEY)
        sync = ingest.run(trigger="bench", full=True, client=keepa)
        keepa.close()
    finally:
        sim.stop()
    if sync.status != SyncRun.Status.OK:
        raise RuntimeError(f"template run did not finish: {sync.summary()}")
    # Rows whose snapshot holds what the computed columns read (as every enriched row should).
    rows = [
        row
        for row in Deal.objects.exclude(product_snapshot=None).values()
        if row["product_snapshot"].get("fbaFees") is not None
        and row["product_snapshot"].get("referralFeePercentage") is not None
    ]
    Deal.objects.all().delete()  # bench only: the clones replace the templates
    DealEvent.objects.all().delete()
    return rows


def fill(count: int, quick: bool, *, seed: int = 7) -> dict[str, Any]:
    """Fill the empty deals table with `count` rows and their events; return what was made."""
    with stopwatch() as took_templates:
        templates = template_rows(quick)
    rng = random.Random(seed)
    now = timezone.now()
    run = SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        trigger="schedule",
        status=SyncRun.Status.OK,
        started_at=now - timedelta(minutes=3),
        finished_at=now - timedelta(minutes=2),
        full_sweep=True,
        sweep_complete=True,
        pages=67,
        deals_seen=count,
        tokens_left=900,
        refill_rate=20,
    )
    events_made = 0
    with stopwatch() as took_fill:
        for start in range(0, count, BATCH):
            deals, events = [], []
            for i in range(start, min(start + BATCH, count)):
                deal, history = clone(templates[i % len(templates)], i, rng, now, run)
                deals.append(deal)
                events.extend(history)
            with transaction.atomic():
                Deal.objects.bulk_create(deals, batch_size=500)
                DealEvent.objects.bulk_create(events, batch_size=500)
            events_made += len(events)
    if connection.vendor == "postgresql":
        # PostgreSQL plans from the statistics autovacuum's ANALYZE keeps, and reads an index
        # alone only where autovacuum's VACUUM has marked the table's pages all-visible; a
        # server with autovacuum off (or not yet round to a table filled in seconds) plans
        # 50,000 rows as if the table were empty and reads every counted row from the table.
        # A deployment's autovacuum has done both long since. (VACUUM cannot run in a
        # transaction: the bench's connection is in autocommit here.)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    log(
        f"filled {count} deals and {events_made} events in {took_fill[0]:.1f} s "
        f"(templates from the upserter: {len(templates)} rows, {took_templates[0]:.1f} s)"
    )
    return {
        "deals": count,
        "events": events_made,
        "templates": len(templates),
        "seconds": took_fill[0],
    }


def clone(
    t: dict[str, Any], i: int, rng: random.Random, now: Any, run: SyncRun
) -> tuple[Deal, list[DealEvent]]:
    asin = f"B{i:09d}"
    factor = rng.uniform(0.85, 1.15)
    now_price = max(1, int((t["now_price"] or 2500) * factor))
    avg = t["avg_price"] or 2 * now_price
    values = {k: v for k, v in t.items() if k != "id"}
    first_seen = now - timedelta(minutes=rng.randint(10, 14 * 24 * 60))
    changed = first_seen + (now - first_seen) * rng.random()
    values.update(
        asin=asin,
        now_price=now_price,
        now_total=None if t["now_total"] is None else int(t["now_total"] * factor),
        delta_percent=max(0, min(99, round((avg - now_price) * 100 / avg))) if avg else None,
        sales_rank=None if t["sales_rank"] is None else int(t["sales_rank"] * rng.uniform(0.5, 2)),
        first_seen_utc=first_seen,
        last_seen_utc=now - timedelta(minutes=rng.randint(0, 10)),
        changed_at=changed,
        price_changed_at=changed,
        enriched_at=changed,
        enrich_priority=EnrichPriority.NONE,
        enrich_requested_at=None,
    )
    deal = Deal(**values)
    history = [
        DealEvent(
            asin=asin,
            kind=DealEvent.Kind.ENTERED,
            field="now_price",
            new_value=int(now_price * 1.1),
            at=first_seen,
            run=run,
        )
    ]
    # About a third of the deals moved since they entered: one to three price changes each.
    if rng.random() < 0.35:
        moments = sorted(first_seen + (now - first_seen) * rng.random() for _ in range(3))
        old = int(now_price * 1.1)
        for at in moments[: rng.randint(1, 3)]:
            new = max(1, int(old * rng.uniform(0.85, 1.05)))
            history.append(
                DealEvent(
                    asin=asin,
                    kind=DealEvent.Kind.CHANGED,
                    field="now_price",
                    old_value=old,
                    new_value=new,
                    at=at,
                    run=run,
                )
            )
            old = new
    return deal, history
