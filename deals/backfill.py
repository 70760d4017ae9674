"""backfill_all_deals: fill computed columns for existing rows, without a destructive rescan.

Walks every deal in ASIN order, in chunks. A column is recomputed from the row and its stored
snapshots (zero Keepa calls); only rows whose snapshot lacks what a column needs are fetched
from /product, within the token budget. A checkpoint after each chunk lets a stopped or killed
backfill continue where it left off. Each chunk is read, computed and written in one short
transaction, so a value the upserter wrote meanwhile is never overwritten with a stale one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from deals import history
from deals.columns import BY_NAME, COMPUTED, SOURCE_FIELDS, Column, attach_sellers, recompute
from deals.config import DealSettings, load_config
from deals.jobs import Job, Run, run_job
from deals.keepa import BudgetExhausted
from deals.models import BackfillCheckpoint, Deal, DealEvent, Seller, SyncRun
from deals.snapshots import product_snapshot
from keepa_client.client import KeepaClient
from keepa_client.wire import datetime_to_keepa_minute

LOCK_NAME = "backfill_all_deals"
LOCK_TTL = timedelta(hours=6)
RECOMPUTE_CHUNK = 1000
# Product data (fees, dimensions, binding, categories, brand, the year's averages, history) is
# fetched without offers: 1 token a product; `stats` and the history arrays cost nothing more
# (docs/keepa.md §5.2).
PRODUCT_KEYS_FETCHED = (
    "fbaFees",
    "referralFeePercentage",
    "packageWeight",
    "binding",
    "format",
    "brand",
    "manufacturer",
    "categories",
    "categoryTree",
)
# ... and from its stats, merged into the stored stats (whose buy-box fields came with offers).
STATS_KEYS_FETCHED = ("avg365", "avg90", "avg30", "salesRankDrops30", "salesRankDrops90")


@dataclass
class Progress:
    total: int
    rows_done: int = 0
    rows_changed: int = 0
    rows_lacking: int = 0
    tokens_spent: int = 0
    tokens_needed: int = 0
    # Rows needing a /product fetch and sellers needing a /seller fetch (1 token each).
    products_needed: int = 0
    sellers_needed: int = 0
    started: float = 0.0

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.rows_done / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        return (self.total - self.rows_done) / self.rate if self.rate else None


def resolve_columns(names: Sequence[str] | None) -> list[Column]:
    """The computed columns to fill; every column when none are named."""
    if not names:
        return list(COMPUTED)
    unknown = [n for n in names if n not in BY_NAME or BY_NAME[n].compute is None]
    if unknown:
        known = ", ".join(c.name for c in COMPUTED)
        raise ValueError(f"not a computed column: {', '.join(unknown)} (computed: {known})")
    return [BY_NAME[n] for n in names]


def _missing(stored: Any, path: str) -> bool:
    """Whether the dotted `path` ("stats.avg365") is absent or null in a stored snapshot."""
    if not stored:
        return True
    for key in path.split(".") if path else ():
        if not isinstance(stored, Mapping) or stored.get(key) is None:
            return True
        stored = stored[key]
    return False


def lacks_data(deal: Deal, columns: Sequence[Column], looked_up_since: int = 0) -> bool:
    """True when a column needs snapshot data this row lacks and Keepa was not asked lately."""
    if (deal.product_snapshot or {}).get("lookedUp", 0) >= looked_up_since > 0:
        return False  # asked recently; Keepa had nothing more to give
    for column in columns:
        for need in column.needs:
            field_name, _, path = need.partition(".")
            if field_name != "seller" and _missing(getattr(deal, field_name), path):
                return True
    return False


def seller_lacking(deal: Deal, columns: Sequence[Column]) -> str:
    """The Now seller's id when a column needs its rating and it was never fetched, else ""
    (call after `attach_sellers`)."""
    if not deal.now_seller_id or not any(
        need.startswith("seller.") for column in columns for need in column.needs
    ):
        return ""
    seller = getattr(deal, "now_seller", None)
    return deal.now_seller_id if seller is None or seller.rating_fetched_at is None else ""


BACKFILL_JOB = Job(SyncRun.Kind.BACKFILL, LOCK_NAME, LOCK_TTL)


def run(
    columns: Sequence[str] | None = None,
    *,
    only_missing: bool = False,
    dry_run: bool = False,
    limit: int | None = None,
    batch_size: int = 500,
    client: KeepaClient | None = None,
    progress: Callable[[Progress], None] | None = None,
    trigger: str = "command",
) -> SyncRun:
    """Fill `columns` (every computed column when none are named) for every deal.

    The lock, the run record and how an error ends the run are the shared job skeleton's
    (deals/jobs.py); a dry run takes no lock and writes nothing, not even its run.
    """
    chosen = resolve_columns(columns)
    backfill = Backfill(chosen, only_missing, dry_run, limit, batch_size)
    return run_job(
        BACKFILL_JOB,
        trigger,
        lambda context: backfill.run(context, progress),
        dry_run=dry_run,
        client=client,
    )


def recompute_all(columns: Sequence[str]) -> int:
    """Recompute `columns` for every deal from the stored rows: no Keepa call, no lock.

    Settings are re-read for every chunk, so when costs are saved twice in a row the last
    save wins whichever recompute finishes first. Returns the number of rows changed.
    """
    chosen = resolve_columns(columns)
    names = [c.name for c in chosen]
    changed, last = 0, ""
    while True:
        config = load_config()
        with transaction.atomic():
            rows = list(
                Deal.objects.select_for_update()
                .filter(asin__gt=last)
                .order_by("asin")
                .only(*SOURCE_FIELDS, *names)[:RECOMPUTE_CHUNK]
            )
            if not rows:
                return changed
            dirty = recompute(rows, chosen, config)
            Deal.objects.update_rows(dirty, names)
            announce_recomputed(dirty, names)
        changed += len(dirty)
        last = rows[-1].asin


def announce_recomputed(rows: Sequence[Deal], names: Sequence[str]) -> None:
    """Tell open dashboards that these rows' computed values moved (inside the chunk's write
    transaction, so the event and the values commit together). A recompute changes no
    deal in Keepa: it writes no per-row event and leaves `changed_at` alone, so a Costs save
    over 50,000 deals costs one event per chunk, and "changed" keeps meaning Keepa's data."""
    if rows:
        DealEvent.objects.write([DealEvent.recomputed_row(rows, names, at=timezone.now())])


def checkpoint_key(names: Sequence[str], only_missing: bool) -> str:
    """The checkpoint's key for these columns: their names while they fit the key column
    (PostgreSQL refuses a longer value, where SQLite would store it), else their start and a
    digest of them all."""
    suffix = f"|only_missing={only_missing}"
    joined = ",".join(sorted(names))
    limit = BackfillCheckpoint._meta.get_field("key").max_length
    if len(joined) + len(suffix) <= limit:
        return joined + suffix
    digest = hashlib.sha1(joined.encode()).hexdigest()[:16]
    return f"{joined[: limit - len(suffix) - 17]}~{digest}{suffix}"


class Backfill:
    def __init__(
        self,
        columns: list[Column],
        only_missing: bool,
        dry_run: bool,
        limit: int | None,
        batch_size: int,
    ) -> None:
        self.columns = columns
        self.names = [c.name for c in columns]
        self.needs_sellers = any(n.startswith("seller.") for c in columns for n in c.needs)
        self.only_missing = only_missing
        self.dry_run = dry_run
        self.limit = limit
        self.batch_size = max(1, batch_size)

    def queryset(self) -> QuerySet[Deal]:
        qs = Deal.objects.order_by("asin")
        if self.only_missing:
            missing = Q()
            for name in self.names:
                missing |= Q(**{f"{name}__isnull": True})
            qs = qs.filter(missing)
        return qs

    def run(self, run: Run, progress: Callable[[Progress], None] | None) -> None:
        config = run.config
        checkpoint = self.checkpoint()
        start_after = checkpoint.last_asin if checkpoint else ""
        if start_after:
            run.notes.append(f"resumed after {start_after}")
        remaining = self.queryset().filter(asin__gt=start_after).count()
        state = Progress(
            total=min(remaining, self.limit) if self.limit else remaining,
            started=time.monotonic(),
        )
        looked_up_since = datetime_to_keepa_minute(
            timezone.now() - timedelta(hours=config.reenrich_after_hours)
        )
        last = start_after
        sellers_asked: set[str] = set()
        try:
            while state.rows_done < state.total:
                size = min(self.batch_size, state.total - state.rows_done)
                rows = list(
                    self.queryset().filter(asin__gt=last).only(*SOURCE_FIELDS, *self.names)[:size]
                )
                if not rows:
                    break
                lacking = [d.asin for d in rows if lacks_data(d, self.columns, looked_up_since)]
                if lacking:
                    per_asin = KeepaClient.estimate_product_cost(1)
                    state.products_needed += len(lacking)
                    state.tokens_needed += len(lacking) * per_asin
                    if not self.dry_run:
                        self.fetch(lacking, run, state)
                sellers = []
                if self.needs_sellers:
                    attach_sellers(rows)
                    lacking_sellers = {s for d in rows if (s := seller_lacking(d, self.columns))}
                    sellers = sorted(lacking_sellers - sellers_asked)
                if sellers:
                    sellers_asked.update(sellers)
                    state.sellers_needed += len(sellers)
                    state.tokens_needed += len(sellers) * KeepaClient.estimate_seller_cost(1)
                    if not self.dry_run:
                        self.fetch_sellers(sellers, run, state)
                last = rows[-1].asin
                state.rows_done += len(rows)
                state.rows_changed += self.write_chunk(rows, config, checkpoint, state)
                run.counts["deals_seen"], run.counts["updated"] = (
                    state.rows_done,
                    state.rows_changed,
                )
                if progress:
                    progress(state)
            if checkpoint and state.rows_done >= state.total and not self.limit:
                checkpoint.finished_at = timezone.now()
                checkpoint.save(update_fields=["finished_at"])
        finally:
            if state.rows_lacking:
                run.incomplete = True
                run.notes.append(
                    f"{state.rows_lacking} rows still lack Keepa data (token budget); "
                    "run the backfill again later"
                )
            verb = "would change" if self.dry_run else "changed"
            run.notes.insert(
                0,
                f"{state.rows_done} rows checked, {state.rows_changed} {verb} "
                f"({', '.join(self.names)}); Keepa data needed for "
                f"{state.tokens_needed} tokens: {state.products_needed} rows need a "
                f"/product fetch (1 token each), {state.sellers_needed} sellers a /seller "
                "fetch (1 token each)",
            )

    def checkpoint(self) -> BackfillCheckpoint | None:
        if self.dry_run:
            return None
        key = checkpoint_key(self.names, self.only_missing)
        checkpoint, created = BackfillCheckpoint.objects.get_or_create(
            key=key, defaults={"columns": self.names, "only_missing": self.only_missing}
        )
        if not created and checkpoint.finished_at is not None:
            # The last backfill of these columns finished: this is a new one.
            checkpoint.last_asin, checkpoint.rows_done, checkpoint.rows_changed = "", 0, 0
            checkpoint.tokens_spent, checkpoint.finished_at = 0, None
            checkpoint.started_at = timezone.now()
            checkpoint.save()
        return checkpoint

    def fetch(self, asins: list[str], run: Run, state: Progress) -> None:
        """Fetch product data for rows that lack it, merging it into their snapshots."""
        client, budget = run.keepa(), run.budget
        # Free, and fresh: the worker may be spending the same key while this runs.
        client.token_status()
        affordable = max(0, budget.spare()) // client.estimate_product_cost(1)
        todo, skipped = asins[:affordable], asins[affordable:]
        state.rows_lacking += len(skipped)
        for start in range(0, len(todo), 100):
            chunk = todo[start : start + 100]
            if start:
                client.token_status()
            try:
                budget.check(client.estimate_product_cost(len(chunk)))
            except BudgetExhausted:
                state.rows_lacking += len(todo) - start
                return
            products = {
                p.asin: p
                for p in client.products(
                    chunk, stats=90, history=True, days=history.HISTORY_FETCH_DAYS
                )
            }
            budget.record()
            state.tokens_spent += client.tokens.tokens_consumed if client.tokens else 0
            looked_up = datetime_to_keepa_minute(timezone.now())
            with transaction.atomic():
                rows = list(Deal.objects.filter(asin__in=chunk).only("asin", "product_snapshot"))
                for deal in rows:
                    snapshot = dict(deal.product_snapshot or {})
                    product = products.get(deal.asin)
                    if product is not None:
                        snapshot.update(
                            {k: product.raw[k] for k in PRODUCT_KEYS_FETCHED if k in product.raw}
                        )
                        fresh = product_snapshot(product.raw, run.config.price_type)
                        if "history" in fresh:
                            snapshot["history"] = fresh["history"]
                        stats = product.raw.get("stats") or {}
                        snapshot["stats"] = {
                            **(snapshot.get("stats") or {}),
                            **{k: stats[k] for k in STATS_KEYS_FETCHED if k in stats},
                        }
                    snapshot["lookedUp"] = looked_up
                    deal.product_snapshot = snapshot
                Deal.objects.update_rows(rows, ["product_snapshot"])

    def fetch_sellers(self, seller_ids: list[str], run: Run, state: Progress) -> None:
        """Fetch the name and rating of sellers never rated (1 token each), within budget."""
        client, budget = run.keepa(), run.budget
        client.token_status()
        affordable = max(0, budget.spare()) // client.estimate_seller_cost(1)
        todo = seller_ids[:affordable]
        state.rows_lacking += len(seller_ids) - len(todo)
        for start in range(0, len(todo), 100):
            chunk = todo[start : start + 100]
            sellers = client.sellers(chunk)
            budget.record()
            state.tokens_spent += client.tokens.tokens_consumed if client.tokens else 0
            Seller.objects.store(sellers.values(), timezone.now())

    def write_chunk(
        self,
        rows: list[Deal],
        config: DealSettings,
        checkpoint: BackfillCheckpoint | None,
        state: Progress,
    ) -> int:
        if self.dry_run:
            return len(recompute(rows, self.columns, config))
        with transaction.atomic():
            # Re-read inside the write transaction: the upserter may have moved a price since.
            fresh = list(
                Deal.objects.select_for_update()
                .filter(asin__in=[d.asin for d in rows])
                .only(*SOURCE_FIELDS, *self.names)
            )
            changed = recompute(fresh, self.columns, config)
            Deal.objects.update_rows(changed, self.names)
            announce_recomputed(changed, self.names)
            if checkpoint:
                # Same transaction as the rows: a killed backfill never redoes a chunk it wrote.
                checkpoint.last_asin = rows[-1].asin
                checkpoint.rows_done += len(rows)
                checkpoint.rows_changed = state.rows_changed + len(changed)
                checkpoint.tokens_spent = state.tokens_spent
                checkpoint.updated_at = timezone.now()
                checkpoint.save()
        return len(changed)
